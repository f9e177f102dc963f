"""What the running spooler can give a job (its runner and slot count, from spooler.json), checked at validation."""
from __future__ import annotations

from jobs.atomic import read_json
from jobs.state import spooler_alive
from jobs.workspace import Workspace


def spooler_limits(ws: Workspace) -> tuple[str, int | None] | None:
    """(runner, slots) of the live spooler; slots is None for a runner that queues jobs itself. None: no spooler."""
    if not spooler_alive(ws):
        return None
    hb = read_json(ws.spooler_heartbeat) or {}
    runner = hb.get("runner") or "local"
    return runner, (len(hb.get("slots") or []) or None) if runner == "local" else None


def capacity_problems(params: dict, ws: Workspace) -> list[tuple[str, object, str]]:
    """(field, value, reason) for a job the live spooler can never run."""
    limits = spooler_limits(ws)
    if limits is None:
        return []  # no spooler now: the limit is not known; the spooler rechecks when it schedules the job
    runner, slots = limits
    out = []
    nodes, gpus = params.get("num_nodes") or 1, params.get("num_gpus") or 1
    if nodes > 1 and runner != "slurm":
        out.append(("params.num_nodes", nodes, "must be 1: several nodes need the spooler's Slurm runner "
                                               "(python -m spooler --runner slurm); this spooler runs jobs locally"))
    if slots is not None and gpus > slots:
        out.append(("params.num_gpus", gpus, f"must be ≤ {slots}: the spooler has {slots} slot(s) "
                                             "(start it with more --slots, or on a machine with more GPUs)"))
    return out
