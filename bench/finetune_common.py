"""Helpers for the full-fine-tuning, sharding, packing and checkpointing benches: a workspace with SmolLM2-135M-Instruct
and alpaca_en_demo, a run made from params, and the real trainer run in a subprocess (under torchrun for several
processes, as the spooler starts it)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, fresh_workspace
from jobs.atomic import atomic_write_json
from jobs.models import smollm2
from jobs.rundir import RunDir
from jobs.spec import validate
from jobs.state import create_run, new_job_id

CACHE = Path(os.environ.get("TUNEDECK_TEST_CACHE", Path.home() / ".cache" / "tunedeck-tests"))
ALPACA = Path(os.environ.get("TUNEDECK_SHARED", REPO.parent / "shared")) / "datasets" / "alpaca_en_demo.jsonl"


def smol_workspace():
    """A fresh workspace with SmolLM2 (the test cache's copy, built once) and alpaca_en_demo registered."""
    ws = fresh_workspace()
    folder = CACHE / smollm2.NAME
    if not (folder / "config.json").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        smollm2.build(folder)
    atomic_write_json(ws.models / f"{smollm2.NAME}.json", {"path": str(folder)})
    if ALPACA.is_file():
        shutil.copy(ALPACA, ws.datasets / ALPACA.name)
    return ws


def make_run(ws, dataset="alpaca_en_demo", method="sft", base_model: str = smollm2.NAME, **params) -> Path:
    base = {"eval_ratio": 0, "eval_max_rows": 0, "num_sample_prompts": 0, "logging_steps": 1,
            "checkpoint_steps": 10**6}
    raw = {"name": "bench", "method": method, "base_model": base_model, "dataset": dataset,
           "params": {**base, **params}}
    v = validate(raw, ws)
    if not v.ok:
        raise SystemExit("; ".join(map(str, v.errors)))
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    return ws.run_dir(job)


def train(run_dir: Path, nproc: int = 1, timeout: int = 3000) -> tuple[dict, float]:
    """Run the trainer (torchrun with `nproc` gloo ranks when > 1); (summary.json, wall seconds)."""
    cmd = [sys.executable, "-m", "trainer", str(run_dir)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "trainer", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    with open(RunDir(run_dir).log, "ab") as log:
        r = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"trainer failed ({r.returncode}): " + (RunDir(run_dir).log).read_text()[-3000:])
    return json.loads(RunDir(run_dir).summary.read_text()), wall


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"
