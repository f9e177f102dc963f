"""Steering requests for jobs already in a backend's queue (jobs/steer.py writes them, the daemon applies them here).

Jobs still in our own queue are steered in state.json and never reach this module.
"""
from __future__ import annotations

import logging
import os

from jobs.atomic import read_json
from jobs.rundir import RunDir
from jobs.state import now_iso, update_state
from jobs.status import JobStatus

log = logging.getLogger("tunedeck.spooler")


def scontrol_commands(slurm_job_id: str, request: dict) -> list[list[str]]:
    """Slurm's own commands for a request. Priority maps to the job's nice value, as at submission (higher Tunedeck
    priority = lower nice; a negative nice needs a Slurm operator); hold and release are scontrol's."""
    cmds = []
    if "priority" in request:
        cmds.append(["scontrol", "update", f"JobId={slurm_job_id}", f"Nice={-int(request['priority'])}"])
    if "held" in request:
        cmds.append(["scontrol", "hold" if request["held"] else "release", str(slurm_job_id)])
    return cmds


def apply_requests(running: dict, runner) -> None:
    """Hand each pending request to the runner once; record what was asked in state.json for the lists to show."""
    for h in list(running.values()):
        path = RunDir(h.run_dir).steer_request
        if not path.exists():
            continue
        req = read_json(path) or {}
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue  # another daemon took it
        for line in runner.steer(h, req):
            log.info("%s: %s", h.job_id, line)
        shown = {k: req[k] for k in ("priority", "held") if k in req}
        if shown:
            update_state(h.run_dir, expect=(JobStatus.RUNNING,), steered_at=now_iso(), **shown)
