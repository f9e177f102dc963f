"""The Slurm runner's overhead against the local runner, and DDP scaling of 2 CPU ranks against 1.

python bench/cluster_overhead.py [--rounds 3] [--steps 4] [--ddp-steps 30] [--tiny-demo DIR]

1. The same tiny job (tiny-demo SFT, --steps steps) dropped into the spool of a local spooler and of a
   `--runner slurm` spooler on a single-node Slurm started here (tests/slurm_cluster.py), alternately, --rounds
   times each: seconds from the spool drop to the trainer's start (trainer.json) and to `succeeded`.
2. The trainer run directly as one process and under torchrun with 2 gloo ranks, alternately, --rounds times each,
   on the same spec: median steps/s and tokens/s from summary.json (tokens counted over all ranks).
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import REPO, cleanup, fresh_workspace

from jobs.atomic import atomic_write_json, read_json
from jobs.init import init_workspace
from jobs.queue.spool import submit
from jobs.rundir import RunDir
from jobs.spec import validate
from jobs.state import create_run, new_job_id, read_state
from jobs.status import FINAL, JobStatus
from jobs.workspace import Workspace
from tests.slurm_cluster import SlurmCluster, unavailable  # noqa: E402

SPEC = {"name": "bench", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
        "params": {"batch_size": 2, "eval_ratio": 0, "num_sample_prompts": 0}}


def _ts(iso):
    return datetime.fromisoformat(iso).timestamp()


def spooler(ws: Workspace, *extra: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "spooler", "--home", str(ws.home), *extra], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    while not (read_json(ws.spooler_heartbeat) or {}).get("daemon_pid") == p.pid:
        time.sleep(0.05)
    return p


def one_job(ws: Workspace, steps: int) -> dict:
    t0 = time.time()
    job, v = submit(ws, {**SPEC, "params": {**SPEC["params"], "max_steps": steps}})
    assert job, v.errors
    run_dir, started = ws.run_dir(job), None
    while True:
        if started is None and RunDir(run_dir).trainer_info.exists():
            started = time.time()
        st = read_state(run_dir) or {}
        if st.get("status") in FINAL:
            assert st["status"] == JobStatus.SUCCEEDED, st
            return {"to_trainer_start_s": started - t0, "to_succeeded_s": _ts(st["finished_at"]) - t0}
        time.sleep(0.02)


def runner_overhead(base: Workspace, rounds: int, steps: int) -> dict:
    why = unavailable()
    if why:
        return {"skipped": why}
    cluster = SlurmCluster(Path(tempfile.mkdtemp(prefix="tunedeck-bench-slurm-"))).start()
    os.environ["SLURM_CONF"] = str(cluster.conf)
    ws = {"local": sibling(base), "slurm": sibling(base)}
    procs = {"local": spooler(ws["local"]), "slurm": spooler(ws["slurm"], "--runner", "slurm")}
    out = {"local": [], "slurm": []}
    try:
        for i in range(rounds):
            for name in (("local", "slurm") if i % 2 == 0 else ("slurm", "local")):  # alternate: fair to both
                out[name].append(one_job(ws[name], steps))
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
        for w in ws.values():
            cleanup(w)
    med = {name: {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]} for name, rows in out.items()}
    return {**med, "slurm_minus_local_s": {k: round(med["slurm"][k] - med["local"][k], 2) for k in med["local"]},
            "rounds": rounds, "steps": steps}


def sibling(ws: Workspace) -> Workspace:
    """Another workspace that registers the first one's tiny-demo and datasets (built once)."""
    other = Workspace(Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))).ensure()
    atomic_write_json(other.models / "tiny-demo.json", {"path": str(ws.models / "tiny-demo")})
    for f in ws.datasets.glob("*.jsonl"):
        shutil.copy(f, other.datasets / f.name)
    return other


def ddp_scaling(ws: Workspace, steps: int, rounds: int) -> dict:
    runs = {1: [], 2: []}
    try:
        for ranks in [r for i in range(rounds) for r in ((1, 2) if i % 2 == 0 else (2, 1))]:  # alternate
            job = new_job_id()
            v = validate({**SPEC, "params": {**SPEC["params"], "max_steps": steps, "num_gpus": ranks}}, ws)
            assert v.ok and create_run(ws, job, v.spec), v.errors
            cmd = [sys.executable, "-m", "trainer", str(ws.run_dir(job))]
            if ranks > 1:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
                       "-m", "trainer", str(ws.run_dir(job))]
            # one thread per process, as torchrun gives each rank: measured here, a lone process with 2 OpenMP threads
            # on the 2 shared cores ran 10-16x slower than with 1, which would be no DDP effect
            threads = "1"
            subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "",
                                "OMP_NUM_THREADS": threads})
            s = read_json(ws.run(job).summary)
            assert s["world_size"] == ranks
            runs[ranks].append({"steps_per_s": s["total_steps"] / s["train_runtime_this_attempt"],
                                "tokens_per_s": s["tokens_per_second"]})
    finally:
        cleanup(ws)
    res = {f"{n}_rank": {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]} for n, rows in runs.items()}
    one, two = res["1_rank"], res["2_rank"]
    return {**res, "steps_ratio_2_vs_1": round(two["steps_per_s"] / one["steps_per_s"], 2),
            "tokens_ratio_2_vs_1": round(two["tokens_per_s"] / one["tokens_per_s"], 2), "steps": steps,
            "rounds": rounds, "cpu_cores": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--ddp-steps", type=int, default=30)
    ap.add_argument("--skip-slurm", action="store_true", help="only the DDP scaling")
    ap.add_argument("--tiny-demo", help="an already built tiny-demo folder to copy instead of building one")
    a = ap.parse_args()
    if a.tiny_demo:
        base = Workspace(Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))).ensure()
        shutil.copytree(a.tiny_demo, base.models / "tiny-demo")
        init_workspace(base, log=lambda *_: None)
    else:
        base = fresh_workspace()
    try:
        print(json.dumps({"slurm_vs_local": None if a.skip_slurm else runner_overhead(base, a.rounds, a.steps),
                          "ddp_2_vs_1": ddp_scaling(sibling(base), a.ddp_steps, a.rounds)}, indent=2))
    finally:
        cleanup(base)


if __name__ == "__main__":
    main()
