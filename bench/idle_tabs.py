"""Server CPU with idle browser tabs: Streamlit serving N tabs of the Trainings page on a 500-job workspace.

python bench/idle_tabs.py [--tabs 10] [--jobs 500] [--seconds 30] [--baseline-rev edf7e03]

Nothing changes in the workspace while it measures, so this is the cost of merely having tabs open. Run side by
side with the same workspace, tabs and browser: this tree's dashboard and, unless --baseline-rev '' is given, the
dashboard as of that commit (before the workspace change stamp: every tab re-rendered its list every 2 s).
Chromium runs with background-tab throttling off, so every tab refreshes as if it were in front.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent

from jobs.atomic import atomic_write_json  # noqa: E402
from jobs.state import create_run, new_job_id, update_state  # noqa: E402
from jobs.status import JobStatus  # noqa: E402
from jobs.workspace import Workspace  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]
STATUSES = ["succeeded", "failed", "cancelled", "succeeded", "queued"]  # nothing running: an idle workspace


def make_workspace(n: int) -> Workspace:
    ws = Workspace(Path(tempfile.mkdtemp(prefix="tunedeck-idle-"))).ensure()
    atomic_write_json(ws.models / "tiny-demo.json", {"path": str(ws.home / "no-model")})
    for i in range(n):
        job = new_job_id()
        spec = {"name": f"job-{i}", "method": ["sft", "dpo", "grpo"][i % 3], "base_model": "tiny-demo",
                "dataset": "demo-instruct", "priority": 0, "parent_job": None, "notes": "",
                "params": {"learning_rate": 1e-4 * (1 + i % 7), "max_steps": 10}}
        create_run(ws, job, spec)
        run_dir = ws.run(job)
        status = STATUSES[i % len(STATUSES)]
        update_state(run_dir, status=status, started_at="2026-11-28T05:00:00+00:00",
                     finished_at=None if status == JobStatus.QUEUED else "2026-11-28T05:01:00+00:00")
        atomic_write_json(run_dir.progress, {"step": 10, "total_steps": 10, "percent": 100})
        atomic_write_json(run_dir.summary, {"final_loss": 1.0 / (i + 1), "total_steps": 10})
    return ws


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(code_dir: Path, ws: Workspace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TUNEDECK_HOME": str(ws.home), "PYTHONPATH": str(code_dir)}
    p = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.address", "127.0.0.1",
                          "--server.port", str(port), "--server.headless", "true",
                          "--browser.gatherUsageStats", "false", "--runner.magicEnabled", "false"],
                         cwd=code_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(base + "/_stcore/health", timeout=1).status == 200:
                return p, base
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the dashboard in {code_dir} did not start")


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def measure(code_dir: Path, ws: Workspace, tabs: int, seconds: float, browser) -> float:
    """Percent of one core the dashboard server used while `tabs` tabs sat idle on the Trainings page."""
    server, base = serve(code_dir, ws)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        ctx.set_default_timeout(600_000)  # a busy machine: first loads can take minutes
        pages = []
        for _ in range(tabs):
            page = ctx.new_page()
            page.goto(base)
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=600_000)  # a cold first render on a busy machine
            pages.append(page)
        time.sleep(10)  # first renders and caches settle
        proc = psutil.Process(server.pid)
        c0, t0 = cpu_seconds(proc), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(proc), time.monotonic()
        ctx.close()
        return 100 * (c1 - c0) / (t1 - t0)
    finally:
        server.terminate()
        server.wait(20)


def checkout(rev: str) -> Path:
    """The dashboard and jobs packages as of `rev`, in a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="tunedeck-rev-"))
    archive = subprocess.run(["git", "archive", rev, "dashboard", "jobs", ".streamlit"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tabs", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--baseline-rev", default="edf7e03")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    ws = make_workspace(a.jobs)
    print(f"{a.jobs} jobs, {a.tabs} idle tabs on the Trainings page, {a.seconds:.0f} s each")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        now = measure(REPO, ws, a.tabs, a.seconds, browser)
        print(f"this tree:          {now:5.1f} % of one core")
        if a.baseline_rev:
            before = measure(checkout(a.baseline_rev), ws, a.tabs, a.seconds, browser)
            print(f"as of {a.baseline_rev:<12} {before:5.1f} % of one core  (ratio {now / before:.3f})")
        browser.close()


if __name__ == "__main__":
    main()
