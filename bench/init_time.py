"""`python -m jobs init` cost: the tiny-demo build with one torch thread (what init does) beside torch's default.

Run: .venv/bin/python bench/init_time.py [--pairs N] [--steps N]. Prints JSON with wall and CPU seconds per build and the ratio,
measured in alternating pairs in one run, so the machine's load hits both sides alike.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import sys, time, pathlib, torch
from jobs.models.demo_model import build_model
threads = None if sys.argv[1] == "default" else int(sys.argv[1])
t, c = time.time(), time.process_time()
build_model(pathlib.Path(sys.argv[2]), steps=int(sys.argv[3]), threads=threads)
print(time.time() - t, time.process_time() - c, torch.get_num_threads())
"""


def build(threads: str, steps: int) -> tuple[float, float]:
    out = tempfile.mkdtemp(prefix="tiny-demo-")
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, threads, out, str(steps)], capture_output=True, text=True, check=True,
                           env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        wall, cpu, _ = r.stdout.split()
        return float(wall), float(cpu)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def init_wall() -> float:
    home = tempfile.mkdtemp(prefix="tunedeck-init-")
    try:
        t = time.time()
        subprocess.run([sys.executable, "-m", "jobs", "init", "--home", home], check=True, capture_output=True)
        return time.time() - t
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="pre-training steps per build (jobs init does 400)")
    args = ap.parse_args()
    one, default = [], []
    for _ in range(args.pairs):
        one.append(build("1", args.steps))
        default.append(build("default", args.steps))
        print(f"# pair: one thread {one[-1][0]:.1f} s, default {default[-1][0]:.1f} s", file=sys.stderr, flush=True)
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    print(json.dumps({
        "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 1), "pairs": args.pairs, "steps": args.steps,
        "one_thread_wall_s": round(med(one, 0), 1), "default_threads_wall_s": round(med(default, 0), 1),
        "one_thread_cpu_s": round(med(one, 1), 1), "default_threads_cpu_s": round(med(default, 1), 1),
        "wall_ratio_default_over_one": round(med(default, 0) / med(one, 0), 2),
        "jobs_init_wall_s": round(init_wall(), 1),
    }))


if __name__ == "__main__":
    main()
