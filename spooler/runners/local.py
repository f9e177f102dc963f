"""The local runner: each trainer is a process in its own session on this machine, with its slots' GPUs."""
from __future__ import annotations

import signal
from pathlib import Path

from filelock import Timeout

from jobs import contract
from jobs.rundir import RunDir

from . import procs
from .base import STARTING, Handle, Runner


class LocalRunner(Runner):
    name = "local"

    def __init__(self, opts):
        self.opts = opts

    def submit(self, job_id, run_dir, resume, gpus, spec):
        gpu = ",".join(g for g in gpus if g is not None) if any(g is not None for g in gpus) else None
        p = procs.launch(self.opts.trainer_cmd, run_dir, resume, gpu, nproc=len(gpus))  # torchrun when > 1
        started = procs.create_time(p.pid)
        h = Handle(job_id, run_dir, pid=p.pid, started=started, proc=p)
        return h, {"runner": self.name, "pid": p.pid, "pid_create_time": started}

    def poll(self, h):
        if h.proc is not None:
            code = h.proc.poll()
            return code is not None, code
        return not procs.alive(h.pid, h.started), None

    def cancel(self, h, waited, grace):
        done = self.request_stop(h)  # cooperative first: the trainer saves and exits
        if not h.pid:
            return done
        if "term" not in h.steps_done and waited >= grace:
            h.steps_done.add("term")
            procs.signal_group(h.pid, signal.SIGTERM)
            done.append(f"SIGTERM after {grace:.0f}s grace")
        elif "term" in h.steps_done and "kill" not in h.steps_done and waited >= 2 * grace:
            h.steps_done.add("kill")
            procs.signal_group(h.pid, signal.SIGKILL)
            done.append("SIGKILL")
        return done

    def owns(self, state, host):
        return super().owns(state, host) and state.get("host") == host

    def adopt(self, job_id, run_dir, state):
        pid, started = state.get("pid"), state.get("pid_create_time")
        if not pid:  # crashed between claim and launch: trust trainer.json, then the run lock
            t = contract.read_or_none(RunDir(run_dir).trainer_info) or {}
            pid, started = t.get("pid"), t.get("pid_create_time")
        if procs.alive(pid, started):
            return Handle(job_id, run_dir, pid=pid, started=started)
        return STARTING if _lock_held(run_dir) else None

    def spawn(self, name, argv, log_path, gpus):
        gpu = ",".join(g for g in gpus if g is not None) if any(g is not None for g in gpus) else None
        p = procs.spawn(argv, log_path, gpu)
        return Handle(name, log_path.parent, pid=p.pid, started=procs.create_time(p.pid), proc=p)

    def find_helper(self, name, record):
        pid, started = record.get("pid"), record.get("pid_create_time")
        return Handle(name, Path(), pid=pid, started=started) if procs.alive(pid, started) else None

    def stop_now(self, h, hard):
        if h.pid:
            procs.signal_group(h.pid, signal.SIGKILL if hard else signal.SIGTERM)


def _lock_held(run_dir: Path) -> bool:
    lock = RunDir(run_dir).run_lock()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
