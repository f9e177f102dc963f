"""Try it: a cold prompt (the spooler starts a worker, which loads the base model and the adapter) against a warm one
(the same worker answers at once), measured in pairs side by side through the real spooler.

python bench/try_warm.py [--pairs 3] [--model tiny-demo] [--max-new-tokens 16]
Each pair: wait until no worker is alive, send a prompt (cold), then the same prompt again (warm); submit → answer.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from common import REPO, cleanup, fresh_workspace

from jobs.spec import validate
from jobs.state import create_run, new_job_id
from jobs.use import requests as rq


def wait(cond, timeout=600.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise SystemExit("timed out")


def ask(ws, job, tokens) -> tuple[float, dict]:
    t0 = time.perf_counter()
    rid = rq.submit_try(ws, [job], "Write one sentence about the sea.", include_base=True,
                        settings={"greedy": True, "max_new_tokens": tokens}, owner=job)
    wait(lambda: rq.read_try(ws, job, rid)["status"] in rq.FINAL_TRY)
    r = rq.read_try(ws, job, rid)
    if r["status"] != "done":
        raise SystemExit(f"request failed: {r.get('error')}")
    return time.perf_counter() - t0, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--model", default="tiny-demo")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()
    ws = fresh_workspace()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        v = validate({"method": "sft", "base_model": args.model, "dataset": "demo-instruct",
                      "params": {"max_steps": 2, "eval_ratio": 0, "num_sample_prompts": 0}}, ws)
        assert v.ok, v.errors
        job = new_job_id()
        create_run(ws, job, v.spec)
        subprocess.run([sys.executable, "-m", "trainer", str(ws.run_dir(job))], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sp = subprocess.Popen([sys.executable, "-m", "spooler", "--home", str(ws.home), "--try-idle", "1"], cwd=REPO,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cold, warm, loads = [], [], []
            for _ in range(args.pairs):
                wait(lambda: not rq.list_workers(ws))  # the last worker has gone idle and exited
                c, rc = ask(ws, job, args.max_new_tokens)
                w, rw = ask(ws, job, args.max_new_tokens)
                assert rc["loaded_model"] and not rw["loaded_model"] and rc["worker"]["pid"] == rw["worker"]["pid"]
                cold.append(c)
                warm.append(w)
                loads.append(rc["load_seconds"])
        finally:
            sp.terminate()
            sp.wait(30)
        mc, mw = statistics.median(cold), statistics.median(warm)
        print(f"model {args.model}, {args.pairs} pairs, base + 1 run, {args.max_new_tokens} greedy tokens each")
        print(f"cold (worker start + load + answer): median {mc:.2f} s  {[round(x, 2) for x in cold]}")
        print(f"warm (same worker, nothing loaded):  median {mw:.2f} s  {[round(x, 2) for x in warm]}")
        print(f"model load inside the worker: median {statistics.median(loads):.2f} s")
        print(f"warm is {mc / mw:.1f}x faster; {mc - mw:.2f} s saved per prompt")
    finally:
        cleanup(ws)


if __name__ == "__main__":
    main()
