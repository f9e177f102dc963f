"""A fast stand-in for `python -m trainer` in spooler tests: same locks, files and exit codes, no torch.

The spec's "notes" steer it: "sleep=SECONDS", "exit=CODE", "ignore_stop". Under torchrun, rank 0 alone holds the
lock and writes the files, as the real trainer does; every rank logs its start in runs.log.
"""
import os
import signal
import sys
import time
from pathlib import Path

import psutil
from filelock import Timeout

from jobs.atomic import atomic_write_json, read_json
from jobs.rundir import RunDir
from jobs.state import EXIT_BUSY, EXIT_STOPPED, now_iso, update_state
from jobs.status import JobStatus


def main() -> int:
    run_dir = Path(sys.argv[1])
    rd = RunDir(run_dir)
    resume = "--resume" in sys.argv
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    lock = rd.run_lock()
    try:
        if rank == 0:
            lock.acquire(timeout=0)
    except Timeout:
        return EXIT_BUSY
    me = psutil.Process()
    leader = me.parent() if world > 1 else me  # torchrun is the job's process
    if rank == 0:
        atomic_write_json(rd.trainer_info, {"pid": leader.pid, "pid_create_time": leader.create_time()})
    notes = dict(kv.split("=", 1) if "=" in kv else (kv, "1")
                 for kv in (read_json(rd.spec, {}).get("notes") or "").split(";") if kv)
    with open(run_dir / "runs.log", "a") as fh:  # one line per start, so tests can count executions
        fh.write(f"{os.getpid()} gpu={os.environ.get('CUDA_VISIBLE_DEVICES')} {'resume' if resume else 'fresh'}"
                 + (f" rank={rank}/{world}" if world > 1 else "") + "\n")
    print(f"fake trainer {run_dir.name} resume={resume}", flush=True)
    if notes.get("ignore_stop"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    deadline = time.time() + float(notes.get("sleep", 0.2))
    while time.time() < deadline:
        if not notes.get("ignore_stop") and (rd.stop_request.exists() or rd.cancel_request.exists()):
            if rank:
                return 0
            (rd.checkpoints / "checkpoint-1").mkdir(parents=True, exist_ok=True)
            # a complete checkpoint, as transformers leaves it: trainer_state.json, written last, names its step
            (rd.checkpoints / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1}')
            atomic_write_json(rd.outcome, {"exit_code": EXIT_STOPPED, "status": JobStatus.CANCELLED,
                                           "error": "stopped on request"})
            update_state(run_dir, status=JobStatus.CANCELLED, error="stopped on request", finished_at=now_iso())
            return 0 if world > 1 else EXIT_STOPPED  # torchrun reads any other code as a crash
        time.sleep(0.05)
    code = int(notes.get("exit", 0))
    if rank:
        return 0
    status = JobStatus.SUCCEEDED if code == 0 else JobStatus.FAILED
    err = None if code == 0 else f"fake failure {code}"
    atomic_write_json(rd.outcome, {"exit_code": code, "status": status, "error": err})
    update_state(run_dir, status=status, error=err, finished_at=now_iso())
    return code


if __name__ == "__main__":
    sys.exit(main())
