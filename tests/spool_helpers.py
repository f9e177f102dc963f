import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jobs.state import read_state
from tests.conftest import REPO

FAKE = f"{sys.executable} -m tests.fake_trainer"  # the spooler starts trainers in the checkout


def spec(name="j", notes="", priority=0, **params):
    return {"name": name, "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
            "priority": priority, "notes": notes, "params": {"max_steps": 2, **params}}


def drop(ws, name, obj) -> Path:
    """The shell protocol: write in spool/tmp/, then rename into incoming/."""
    tmp = ws.spool_tmp / name
    tmp.write_text(json.dumps(obj) if not isinstance(obj, (str, bytes)) else obj)
    target = ws.incoming / name
    os.rename(tmp, target)
    return target


class Spooler:
    def __init__(self, ws, *extra, trainer=FAKE):
        self.ws = ws
        args = [sys.executable, "-m", "spooler", "--home", str(ws.home), "--settle", "0.3", "--rescan", "0.5",
                "--grace", "1", *extra]
        if trainer:
            args += ["--trainer-cmd", trainer]
        self.log = open(ws.home / f"spooler-{time.time_ns()}.log", "w")
        self.p = subprocess.Popen(args, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
        wait_for(lambda: ws.spooler_heartbeat.exists() and not json.loads(ws.spooler_heartbeat.read_text()).get(
            "stopped") and json.loads(ws.spooler_heartbeat.read_text())["daemon_pid"] == self.p.pid, 30)

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(30)
        self.log.close()

    def text(self) -> str:
        return Path(self.log.name).read_text()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)
        self.log.close()


def wait_for(cond, timeout=30.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(step)
    raise AssertionError("condition not met in time")


def statuses(ws) -> dict:
    return {d.name: (read_state(d) or {}).get("status") for d in ws.runs.iterdir() if not d.name.startswith(".")}


def starts(run_dir) -> list[str]:
    f = run_dir / "runs.log"
    return f.read_text().splitlines() if f.exists() else []


def all_final(ws, n):
    s = statuses(ws)
    return len(s) == n and all(v in ("succeeded", "failed", "cancelled") for v in s.values())


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts as gone)."""
    from spooler.runners.procs import alive
    return not alive(pid, None)


def heartbeat(ws) -> dict:
    return json.loads(ws.spooler_heartbeat.read_text())


def wait_for_passes(ws, n: int = 3, timeout: float = 30.0) -> None:
    """Wait until the daemon has made n more full scheduling passes (counted in its heartbeat): "nothing happened"
    is then a fact about the daemon's passes, not about how long the test slept."""
    first = heartbeat(ws)
    pid, start = first.get("daemon_pid"), first.get("passes", 0)

    def done() -> bool:  # with two daemons the heartbeat is either one's: count the same daemon's passes
        hb = heartbeat(ws)
        return hb.get("daemon_pid") == pid and hb.get("passes", 0) >= start + n
    wait_for(done, timeout)
