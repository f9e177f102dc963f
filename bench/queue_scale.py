"""Queue scale: acceptance of many dropped specs, and the job start rate with a long vs a short queue.

python bench/queue_scale.py [--queued 10000] [--small 50] [--starts 40] [--slots 2] [--owners 1]

1. Drops --queued specs into spool/incoming/ and times the real daemon accepting all of them (a trainer stand-in
   holds the one slot, so they stay queued).
2. Restarts the daemon on that workspace with the fast fake trainer and times --starts job starts.
3. Does the same with a queue of --small jobs, side by side, and prints the ratio of the two start rates.
With --owners N > 1 the specs belong to N owners in turn (the bench's OS user is made a service account, which may
name an owner), so every start goes through the fair-share order across owners.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, cleanup

from jobs.atomic import atomic_write_json
from jobs.init import DEMO_DATASETS, _jsonl
from jobs.rundir import RunDir
from jobs.team import auth
from jobs.workspace import Workspace

FAKE = f"{sys.executable} -m tests.fake_trainer"  # trainers start in the package folder
HOLD = f"{sys.executable} -m bench.hold"
SPEC = {"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "notes": "sleep=0.05",
        "params": {"max_steps": 1}}


def light_workspace(owners: int = 1) -> Workspace:
    """The demo datasets and tiny-demo registered by a link: the fake trainer never loads a model."""
    ws = Workspace(Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))).ensure()
    if owners > 1:
        atomic_write_json(ws.home / "config.json", {"auth": {"mode": "header", "header": "X-Remote-User",
                                                             "service_accounts": [auth.os_user()]}})
    atomic_write_json(ws.models / "tiny-demo.json", {"path": str(ws.home / "not-loaded")})
    for name, make in DEMO_DATASETS.items():
        (ws.datasets / f"{name}.jsonl").write_text(_jsonl(make()), encoding="utf-8")
    return ws


def daemon(ws, trainer: str, slots: int, log_path) -> subprocess.Popen:
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-m", "spooler", "--home", str(ws.home), "--slots", str(slots),
                             "--grace", "0.5", "--trainer-cmd", trainer], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})


def stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGTERM)
    p.wait(60)


def drop_specs(ws, n: int, owners: int = 1) -> None:
    for i in range(n):
        tmp = ws.spool_tmp / f"q-{i:05d}.json"
        tmp.write_text(json.dumps({**SPEC, "name": f"q-{i}", **({"owner": f"user{i % owners}"} if owners > 1 else {})}))
        os.rename(tmp, ws.incoming / tmp.name)


def count_runs(ws) -> int:
    return sum(1 for e in os.scandir(ws.runs) if not e.name.startswith("."))


def accept(ws, n: int, owners: int = 1) -> float:
    """Seconds from daemon start until all n specs are queued runs and incoming/ is empty."""
    drop_specs(ws, n, owners)
    t0 = time.perf_counter()
    p = daemon(ws, HOLD, 1, ws.home / "accept.log")
    try:
        while count_runs(ws) < n or any(os.scandir(ws.incoming)):
            time.sleep(0.2)
        return time.perf_counter() - t0
    finally:
        stop(p)
        for d in ws.runs.iterdir():  # release the held slot
            RunDir(d).stop_request.touch() if RunDir(d).trainer_info.exists() else None


def start_rate(ws, starts: int, slots: int) -> dict:
    """Jobs started per second, from the first start to the `starts`-th, read from the daemon's log."""
    log_path = ws.home / "rate.log"
    p = daemon(ws, FAKE, slots, log_path)
    times = []
    try:
        deadline = time.time() + 900
        while len(times) < starts and time.time() < deadline:
            n = len(re.findall(r" started \d", log_path.read_text()))
            now = time.perf_counter()
            times.extend([now] * (n - len(times)))
            time.sleep(0.02)
    finally:
        stop(p)
    span = times[-1] - times[0]
    return {"starts": len(times), "seconds": round(span, 2), "starts_per_s": round((len(times) - 1) / span, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queued", type=int, default=10000)
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--starts", type=int, default=40)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--owners", type=int, default=1, help="specs belong to this many owners in turn (fair share)")
    a = ap.parse_args()
    big, small = light_workspace(a.owners), light_workspace(a.owners)
    try:
        accept_s = accept(big, a.queued, a.owners)
        accept(small, a.small, a.owners)
        big_rate = start_rate(big, a.starts, a.slots)
        small_rate = start_rate(small, a.starts, a.slots)
        print(json.dumps({
            "owners": a.owners,
            f"accept {a.queued} dropped specs (s)": round(accept_s, 1),
            "accepted per second": round(a.queued / accept_s, 1),
            f"start rate, {a.queued} queued": big_rate,
            f"start rate, {a.small} queued": small_rate,
            "ratio (long / short queue)": round(big_rate["starts_per_s"] / small_rate["starts_per_s"], 2),
        }, indent=2))
    finally:
        cleanup(big)
        cleanup(small)


if __name__ == "__main__":
    main()
