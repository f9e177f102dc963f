"""The benchmark phase on SmolLM2-135M-Instruct: (1) its cost against the training it follows, (2) Tunedeck's phase
against calling lm_eval.simple_evaluate directly on the same model, adapter and task, side by side in one run.

    python bench/benchmark_phase.py [--steps 20] [--limit 32] [--repeats 3]

(1) trains a real SFT job (LoRA, demo-instruct) with benchmarks=[capitals], then reads train.log's phase times.
(2) scores base and tuned on the same suite, alternating, `repeats` times each, the median reported:
    tunedeck: load the base, put the run's adapter on it, BenchmarkRun.run (suite load + config hash + base with the
              adapter disabled + tuned; the base cache is off so the base is scored every time)
    direct:   lm_eval.simple_evaluate(model="hf", model_args={pretrained, peft=adapter}) for tuned and
              simple_evaluate(model="hf", model_args={pretrained}) for base, the same task manager and batch size.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from jobs import benchmarks  # noqa: E402
from jobs.atomic import atomic_write_json, read_json  # noqa: E402
from jobs.init import init_workspace  # noqa: E402
from jobs.models import smollm2  # noqa: E402
from jobs.rundir import RunDir  # noqa: E402
from jobs.spec import validate  # noqa: E402
from jobs.state import create_run, new_job_id  # noqa: E402
from jobs.workspace import Workspace  # noqa: E402
from tests.benchmark_data import capitals  # noqa: E402

CACHE = Path(os.environ.get("TUNEDECK_TEST_CACHE", Path.home() / ".cache" / "tunedeck-tests"))


class _NoPhases:
    def enter(self, *a, **k):
        pass

    def advance(self, *a, **k):
        pass


def workspace(limit: int) -> Workspace:
    ws = init_workspace(Workspace(Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))), log=lambda *_: None)
    folder = CACHE / smollm2.NAME
    if (folder / "config.json").exists():
        atomic_write_json(ws.models / f"{smollm2.NAME}.json", {"path": str(folder)})
    else:
        smollm2.install(ws)
    src = ws.home / "capitals.jsonl"
    src.write_text("".join(__import__("json").dumps(r) + "\n" for r in capitals(limit)))
    benchmarks.add(ws, "capitals", src, "multiple_choice")
    return ws


def phase_seconds(log: str) -> dict:
    """Seconds between consecutive 'phase: X' lines of train.log."""
    marks = [(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"), m.group(2))
             for m in re.finditer(r"^(\S+ \S+) INFO tunedeck: phase: (.+)$", log, re.M)]
    return {name: (marks[i + 1][0] - t).total_seconds() for i, (t, name) in enumerate(marks[:-1])}


def train_job(ws: Workspace, steps: int, limit: int) -> Path:
    from trainer import run as trainer_run
    raw = {"name": "bench", "method": "sft", "base_model": smollm2.NAME, "dataset": "demo-instruct",
           "params": {"max_steps": steps, "batch_size": 2, "max_seq_length": 256, "max_input_length": 128,
                      "max_content_length": 64, "eval_max_rows": 0,
                      "num_sample_prompts": 0, "benchmarks": ["capitals"], "benchmark_limit": limit}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    rd = ws.run_dir(job)
    t0 = time.perf_counter()
    code = trainer_run.main([str(rd)])
    assert code == 0, RunDir(rd).log.read_text()[-2000:]
    print(f"job wall {time.perf_counter() - t0:.1f}s")
    return rd


def tunedeck_once(ws: Workspace, rd: Path, limit: int) -> float:
    from peft import PeftModel

    from trainer import benchmarks as tb
    from trainer.model import load_base, load_tokenizer
    model_path = Path(read_json(ws.models / f"{smollm2.NAME}.json")["path"])
    t0 = time.perf_counter()
    tok = load_tokenizer(model_path)
    model = PeftModel.from_pretrained(load_base(model_path, smollm2.NAME, False), str(RunDir(rd).adapter))
    params = {"benchmarks": ["capitals"], "benchmark_limit": limit, "seed": 42, "load_in_4bit": False}
    out_dir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    home = Workspace(ws.home)
    run = tb.BenchmarkRun(out_dir, home, model_path, params, tok, _NoPhases(), lambda: False)
    run._base = lambda key: None  # score the base every time, as the direct call does
    run.run(model)
    return time.perf_counter() - t0


def direct_once(ws: Workspace, rd: Path, limit: int) -> float:
    import lm_eval
    from lm_eval.tasks import TaskManager

    from trainer.benchmarks import BATCH_SIZE, BOOTSTRAP_ITERS
    model_path = Path(read_json(ws.models / f"{smollm2.NAME}.json")["path"])
    t0 = time.perf_counter()
    tm = TaskManager(include_path=str(benchmarks.folder(ws, "capitals")), include_defaults=False)
    for extra in ({}, {"peft": str(RunDir(rd).adapter)}):
        lm_eval.simple_evaluate(model="hf", model_args={"pretrained": str(model_path), "device": "cpu",
                                                        "dtype": "float32", **extra},
                                tasks=["capitals"], task_manager=tm, limit=limit, batch_size=BATCH_SIZE,
                                bootstrap_iters=BOOTSTRAP_ITERS, log_samples=False)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--limit", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import logging
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    ws = workspace(args.limit)
    rd = train_job(ws, args.steps, args.limit)
    phases = phase_seconds(RunDir(rd).log.read_text())
    train_s = phases.get("train steps", 0.0)
    bench_s = phases.get("run benchmarks", 0.0)
    print(f"(1) SmolLM2, {args.steps} SFT steps then base+tuned on capitals ({args.limit} rows, 4 choices):")
    print(f"    training phase {train_s:.0f}s, benchmark phase {bench_s:.0f}s "
          f"= {bench_s / max(train_s, 1e-9):.2f}x the training")
    print(f"    per model: {read_json(rd / 'evaluation.json')['benchmarks_meta'].get('seconds')}")
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(tunedeck_once(ws, rd, args.limit))
        theirs.append(direct_once(ws, rd, args.limit))
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"(2) base+tuned on capitals, {args.limit} rows, median of {args.repeats}, alternating:")
    print(f"    tunedeck {mo:.1f}s {[round(x, 1) for x in ours]}")
    print(f"    direct   {mt:.1f}s {[round(x, 1) for x in theirs]}  (lm_eval.simple_evaluate, hf + peft)")
    print(f"    ratio tunedeck/direct = {mo / mt:.2f}x (target <= 1.1x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
