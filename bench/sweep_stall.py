"""How long one huge sweep spec blocks the spooler: a 993 KB spec whose sweep lists 138,000 seeds, dropped together
with a valid one-run spec.

python bench/sweep_stall.py [--limit 400]

Runs the real daemon (trainer stand-in bench.hold) and samples its heartbeat every 50 ms. Prints the longest time the
heartbeat went without an update (the daemon's loop was blocked), seconds from the drop until the valid job started,
and until the big spec was rejected. --limit caps the wait (seconds).

Measured 2026-12-06 on the shared 2-core helper machine (CPU only), before and after the fix (commit ab73f5e):
  before: heartbeat not updated for the whole 420 s limit (longest gap 421 s), the valid job never started, the big
          spec not yet rejected; the old expand() validated 1,000 seeds in 8.1 s here, so all 138,000 take ~1,100 s
          (207 s on the machine in the issue report).
  after:  longest heartbeat gap 1.18 s (its normal 2 s cadence), valid job started 0.16 s after the drop, big spec
          rejected after 0.21 s ("the grid has 138000 runs, more than the limit of 64").
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

from common import REPO, cleanup, fresh_workspace

from jobs.atomic import read_json
from jobs.rundir import RunDir

VALID = {"name": "small", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
         "params": {"max_steps": 1}}
HUGE = {**VALID, "name": "seeds", "sweep": {"seed": list(range(138_000))}}


def drop(ws, name: str, obj: dict) -> None:
    tmp = ws.spool_tmp / name
    tmp.write_text(json.dumps(obj))
    os.rename(tmp, ws.incoming / name)


def measure(limit: float) -> dict:
    ws = fresh_workspace()
    p = subprocess.Popen([sys.executable, "-m", "spooler", "--home", str(ws.home), "--stop-jobs", "--grace", "0.5",
                          "--trainer-cmd", f"{sys.executable} -m bench.hold"], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        while not ws.spooler_heartbeat.exists():
            time.sleep(0.05)
        time.sleep(1)
        drop(ws, "huge.json", HUGE)
        t0 = time.time()
        drop(ws, "small.json", VALID)
        worst, started, rejected = 0.0, None, None
        while time.time() - t0 < limit and (started is None or rejected is None):
            hb = read_json(ws.spooler_heartbeat) or {}
            worst = max(worst, time.time() - float(hb.get("updated_at") or time.time()))
            if started is None:
                for d in ws.runs.iterdir():
                    st = read_json(RunDir(d).state) or {}
                    if st.get("started_at"):
                        started = time.time() - t0
            if rejected is None and (ws.rejected / "huge.json.error.txt").exists():
                rejected = time.time() - t0
            time.sleep(0.05)
        return {"longest_heartbeat_gap_s": round(worst, 2),
                "valid_job_started_after_s": None if started is None else round(started, 2),
                "huge_spec_rejected_after_s": None if rejected is None else round(rejected, 2),
                "reason": (ws.rejected / "huge.json.error.txt").read_text()[:300] if rejected else None}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        cleanup(ws)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=float, default=400)
    print(json.dumps(measure(ap.parse_args().limit), indent=2))


if __name__ == "__main__":
    main()
