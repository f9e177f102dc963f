"""Helpers that several test files use: plain functions and constants (fixtures live in tests/conftest.py).

A test file imports from here, tests/spool_helpers.py (the spooler in a subprocess), tests/trainer_helpers.py (the real
trainer in-process) or tests/conftest.py, never from another test_*.py file (tests/test_boundaries.py checks it).
"""
from __future__ import annotations

import ast
import csv
import html
import json
import os
import pwd
import socket
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jobs.atomic import atomic_write_json
from jobs.spec import validate
from jobs.state import create_run, new_job_id, update_state
from tests.conftest import REPO
from tests.spool_helpers import heartbeat, wait_for

# --- the spooler ---

def wait_for_passes_of_each(ws, pids, n: int = 3, timeout: float = 60.0) -> None:
    """Wait until each of these daemons has made n more scheduling passes. Daemons sharing a workspace take turns
    writing the one heartbeat file, so each daemon's count is read whenever its own beat is the one on disk."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def done() -> bool:
        hb = heartbeat(ws)
        pid, passes = hb.get("daemon_pid"), hb.get("passes", 0)
        if pid in pids:
            first.setdefault(pid, passes)
            last[pid] = passes
        return all(pid in first and last[pid] >= first[pid] + n for pid in pids)
    wait_for(done, timeout, step=0.02)


# --- the dashboard through streamlit's AppTest ---

APP = str(REPO / "dashboard" / "app.py")


def open_page(page: str, timeout: float = 60, **query):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, (page, query, [e.value for e in at.exception], [e.stack_trace[-4:] for e in at.exception])
    return at


def text_of(at) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.caption] + [e.value for e in at.error] + \
            [w.value for w in at.warning] + [i.value for i in at.info] + [t.value for t in at.title] + \
            [s.value for s in at.subheader] + [h.value for h in at.header] + [s.value for s in at.success] + \
            [x.value for x in at.text]
    return html.unescape("\n".join(map(str, parts)))  # user text arrives as character references: read it back


# --- run folders as the trainer and the spooler leave them ---

def fake_run(ws, name, method="sft", status="succeeded", lr=1e-3, steps=20, metrics=True, dataset=None, **params):
    dataset = dataset or {"sft": "demo-instruct", "grpo": "demo-math", "dpo": "demo-prefs"}[method]
    raw = {"name": name, "method": method, "base_model": "tiny-demo", "dataset": dataset,
           "params": {"learning_rate": lr, "max_steps": steps, **params}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    update_state(run_dir, status=status, started_at="2026-11-28T05:00:00+00:00",
                 finished_at="2026-11-28T05:01:00+00:00" if status != "running" else None,
                 error="boom: something broke" if status == "failed" else None)
    if metrics:
        cols = ["step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "elapsed_seconds"]
        extra = {"grpo": ["reward", "kl"], "dpo": ["reward_margin", "reward_accuracy"]}.get(method, [])
        with open(run_dir / "metrics.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols + extra)
            for s in range(1, steps + 1):
                w.writerow([s, s / steps, 3.0 / s + lr, lr, 1.0, 1000, s * 0.1] + [0.1 * s] * len(extra))
        atomic_write_json(run_dir / "summary.json", {"final_loss": 3.0 / steps + lr, "best_loss": 3.0 / steps + lr,
                                                     "total_steps": steps, "runtime_seconds": 6.0,
                                                     "tokens_per_second": 1000.0, "peak_memory_bytes": 10 ** 8,
                                                     "final_reward": 0.5 if method == "grpo" else None})
        prompts = ["What color is snow?", "Spell cat backwards."] if method != "dpo" else ["Other prompt"]
        (run_dir / "samples.jsonl").write_text("".join(json.dumps(
            {"prompt": p, "reference": "ref", "base": "base answer", "tuned": f"tuned {name} answer"}) + "\n"
            for p in prompts))
        atomic_write_json(run_dir / "progress.json", {"step": steps, "total_steps": steps, "percent": 100})
    (run_dir / "train.log").write_text("2026-11-28 05:00:00 INFO tunedeck: started\n"
                                       "2026-11-28 05:00:01 WARNING tunedeck: careful\n"
                                       "2026-11-28 05:00:02 ERROR tunedeck: broke\n")
    return job


SWEEP = {"learning_rate": [2e-4, 1e-3], "lora_rank": [8, 16]}


def make_group(ws, name="lr-rank", sweep=SWEEP, finished=True):
    """A sweep's runs as the spooler makes them; finished ones get metrics whose loss depends on lr and rank."""
    from jobs.queue.sweep import expand
    raw = {"name": name, "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
           "params": {"max_steps": 10}, "sweep": sweep}
    x = expand(raw, ws)
    assert x.ok, x.errors
    for s in x.specs:
        job = s["group"]["job_id"]
        create_run(ws, job, s)
        if not finished:
            continue
        run_dir = ws.run_dir(job)
        lr, r = s["params"]["learning_rate"], s["params"]["lora_rank"]
        final = 1.0 / (lr * 1e3) + r / 100  # best: lr 1e-3, rank 8
        update_state(run_dir, status="succeeded", started_at="2026-11-28T05:00:00+00:00",
                     finished_at="2026-11-28T05:01:00+00:00")
        with open(run_dir / "metrics.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "epoch", "loss", "learning_rate"])
            for step in range(1, 11):
                w.writerow([step, step / 10, final + (10 - step) / 10, lr])
        atomic_write_json(run_dir / "summary.json", {"final_loss": final, "total_steps": 10})
        (run_dir / "samples.jsonl").write_text(json.dumps(
            {"prompt": "What color is snow?", "reference": "white", "base": "b", "tuned": f"answer of {s['name']}"})
            + "\n")
    return x


# --- datasets ---

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Tokyo", "Quito", "Rome", "Delhi"]


def tool_rows():
    """Multi-turn OpenAI-messages rows: a greeting exchange, then a tool call, its result and the answer."""
    out = []
    for i, city in enumerate(CITIES):
        call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": city}}}
        msgs = [{"role": "user", "content": f"Hello, I am traveller {i}."},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": f"What is the weather in {city}?"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": json.dumps({"city": city, "sky": "clear", "c": 10 + i})},
                {"role": "assistant", "content": f"It is clear in {city}, {10 + i} degrees."}]
        out.append({"messages": msgs, "tools": [WEATHER]} if i % 4 else {"messages": msgs[:2]})
    return out


# --- models ---

def real_adapter(ws, run_dir):
    """A real, untrained LoRA adapter of tiny-demo, as PEFT writes it (what a stopped run leaves)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jobs.models.registry import list_models
    base = list_models(ws)["tiny-demo"]
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules="all-linear"))
    model.save_pretrained(run_dir / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(run_dir / "adapter")


def greedy(model, tok, prompt):
    import torch
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        return model.generate(**enc, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)[0].tolist()


# --- a real browser against a real dashboard server ---

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="chromium is not installed (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(home: Path, log_path: Path, *extra: str, timeout: float = 90, port: int | None = None):
    """`streamlit run dashboard/app.py` from the checkout (so .streamlit/config.toml applies) for the workspace at
    `home`, on `port` (a free local one by default: a proxy in front needs to know it first); yields its base URL
    once it answers its health check, and stops it after. Every browser test starts the dashboard this way."""
    port = port or free_port()
    env = {**os.environ, "TUNEDECK_HOME": str(home), "PYTHONPATH": str(REPO)}
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        p = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.address",
                              "127.0.0.1", "--server.port", str(port), "--server.headless", "true", *extra],
                             cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: urllib.request.urlopen(base + "/_stcore/health", timeout=1).status == 200, timeout)
            yield base
        finally:
            p.terminate()
            p.wait(10)


@contextmanager
def chromium_browser():
    """Debian's chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            if browser.is_connected():
                browser.close()


def screenshots(ws) -> Path:
    """Where a browser test saves its screenshots: $TUNEDECK_SCREENSHOTS, else the workspace's shots/."""
    home = ws if isinstance(ws, Path) else ws.home
    out = Path(os.environ.get("TUNEDECK_SCREENSHOTS") or home / "shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


# --- a webhook receiver ---

class Hook:
    """Records every POST; answers 500 to the first `fail_first` requests of each path, or to all while `down`."""

    def __init__(self, fail_first=0):
        self.posts: list[tuple[str, dict]] = []
        self.fail_first = fail_first
        self.down = False
        self.seen: dict[str, int] = {}
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = hook.seen[self.path] = hook.seen.get(self.path, 0) + 1
                if hook.down or n <= hook.fail_first:
                    self.send_response(500)
                else:
                    hook.posts.append((self.path, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path):
        return [b for p, b in self.posts if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- real OS users ---

def os_user_named(name: str) -> pwd.struct_passwd:
    """The OS user `name`, created (no home, no shell) when it does not exist yet."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        return pwd.getpwnam(name)


def as_user(user: pwd.struct_passwd, fn) -> int:
    """Run fn() in a forked child that has become `user` (real uid and gid): the real OS identity, no stand-in."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            code = fn()
        except BaseException:  # noqa: BLE001 - shown in the test's output, then the child's status says 99
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


# --- the code's own shape ---

def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, absolute, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from jobs import registry` imports a module
    return found


def python_files(top: str) -> list[Path]:
    return sorted((REPO / top).rglob("*.py"))
