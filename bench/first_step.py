"""Time to the first training step, and the trainer's peak memory, on a 1M-row dataset.

python bench/first_step.py [--rows 1000000] [--small 10000]
Writes two column datasets (question/answer, GSM8K-like) of --rows and --small rows, submits the same SFT job of
tiny-demo on each, runs the real trainer (`python -m trainer RUN_DIR`) and records the seconds until step 1 is in
metrics.csv and the trainer's peak RSS; then stops it. Target: ≤ 3 minutes for 1M rows, with memory bounded.
"""
import argparse
import json
import subprocess
import sys
import time

import psutil
from common import REPO, cleanup, fresh_workspace

from jobs.rundir import RunDir
from jobs.spec import validate
from jobs.state import create_run, new_job_id


def write_rows(path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            a, b = i % 97, i % 89
            fh.write(json.dumps({"question": f"Tom has {a} apples and buys {b} more. How many apples now?",
                                 "answer": f"He has {a} + {b} = {a + b} apples.\n#### {a + b}"}) + "\n")


def first_step(ws, dataset: str) -> tuple[float, int]:
    raw = {"method": "sft", "base_model": "tiny-demo", "dataset": dataset,
           "params": {"prompt_input_column": "question", "prompt_output_column": "answer", "batch_size": 8,
                      "num_sample_prompts": 2, "max_content_length": 32, "checkpoint_steps": 100000}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job_id = new_job_id()
    create_run(ws, job_id, v.spec)
    run_dir = ws.run_dir(job_id)
    rd = RunDir(run_dir)
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "trainer", str(run_dir)], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    proc, peak = psutil.Process(p.pid), 0
    try:
        while p.poll() is None:
            peak = max(peak, proc.memory_info().rss)
            if rd.metrics.exists() and len(rd.metrics.read_text().splitlines()) >= 2:
                return time.perf_counter() - t0, peak
            time.sleep(0.2)
        raise SystemExit(f"the trainer exited before step 1: {rd.log.read_text()[-1500:]}")
    finally:
        rd.stop_request.touch()
        p.terminate()
        p.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=10_000)
    args = ap.parse_args()
    ws = fresh_workspace()
    try:
        for n in (args.small, args.rows):
            path = ws.datasets / f"rows-{n}.jsonl"
            write_rows(path, n)
            secs, peak = first_step(ws, f"rows-{n}")
            print(f"{n:>9,} rows ({path.stat().st_size / 1e6:.0f} MB): step 1 after {secs:.1f} s, "
                  f"trainer peak RSS {peak / 1e6:.0f} MB")
    finally:
        cleanup(ws)


if __name__ == "__main__":
    main()
