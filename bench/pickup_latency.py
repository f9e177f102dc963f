"""Spool pickup latency: rename into spool/incoming/ → state.json = queued, over 200 specs.

python bench/pickup_latency.py [--n 200] [--gap 0.02]
Runs the real daemon twice, with inotify and with --poll, and prints p50/p95 in milliseconds.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime

from common import REPO, cleanup, fresh_workspace

from jobs.atomic import read_json
from jobs.rundir import RunDir

SPEC = {"name": "lat", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "params": {"max_steps": 1}}


def measure(poll: bool, n: int, gap: float) -> dict:
    ws = fresh_workspace()
    cmd = [sys.executable, "-m", "spooler", "--home", str(ws.home), "--stop-jobs", "--grace", "0.5",
           "--trainer-cmd", f"{sys.executable} -m bench.hold"] + (["--poll"] if poll else [])
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        while not ws.spooler_heartbeat.exists():
            time.sleep(0.05)
        sent = {}
        for i in range(n):
            name = f"lat-{i:04d}.json"
            tmp = ws.spool_tmp / name
            tmp.write_text(json.dumps({**SPEC, "name": f"lat-{i}"}))
            sent[f"lat-{i}"] = time.time()
            os.rename(tmp, ws.incoming / name)
            time.sleep(gap)
        deadline = time.time() + 60
        lat = {}
        while len(lat) < n and time.time() < deadline:
            for d in ws.runs.iterdir():
                if d.name.startswith(".") or d.name in lat:
                    continue
                spec, state = read_json(RunDir(d).spec), read_json(RunDir(d).state)
                if spec and state and state.get("created_at"):
                    lat[d.name] = datetime.fromisoformat(state["created_at"]).timestamp() - sent[spec["name"]]
            time.sleep(0.1)
        ms = sorted(v * 1000 for v in lat.values())
        return {"picked_up": len(ms), "p50_ms": round(statistics.median(ms), 1),
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "max_ms": round(ms[-1], 1)}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        cleanup(ws)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.02)
    a = ap.parse_args()
    print(json.dumps({"inotify": measure(False, a.n, a.gap), "poll (rescan 2 s)": measure(True, a.n, a.gap)}, indent=2))


if __name__ == "__main__":
    main()
