"""Steering the queue: change a queued job's priority, move it to the top, hold and release it.

Each is a state change under the job's lock that only applies while the job is still queued, like cancel, so two
daemons (or a daemon claiming the job at that very moment) never see half of it. The spec keeps the priority it was
submitted with; state.json's `priority` overrides it, and `held` keeps a queued job from starting while it keeps its
place in the queue.
"""
from __future__ import annotations

from jobs.atomic import atomic_write_json, read_json
from jobs.rundir import RunDir
from jobs.state import effective_priority, now_iso, queue_order, read_spec, read_state, update_state
from jobs.status import JobStatus
from jobs.workspace import Workspace

STEER_REQUEST = RunDir.STEER_REQUEST  # for a job already waiting in a backend queue (Slurm): the daemon applies it there

PRIORITY_MIN, PRIORITY_MAX = -1000, 1000  # the spec's range for "priority"


def is_held(state: dict | None) -> bool:
    return bool((state or {}).get("held"))


def runnable(state: dict) -> bool:
    """The daemon claims a queued job only when this holds, checked under the job's lock."""
    return not is_held(state)


def in_backend_queue(state: dict | None) -> bool:
    """Handed to a runner that queues itself (Slurm) and not started there yet."""
    st = state or {}
    return st.get("status") == JobStatus.RUNNING and (st.get("runner") or "local") != "local" and not st.get("started_at")


def _request(ws: Workspace, job_id: str, **change) -> dict:
    """Ask the daemon to steer a job inside its backend's queue (scontrol there); merged with a pending request."""
    path = ws.run_dir(job_id) / STEER_REQUEST
    req = read_json(path) or {}
    req.update(change, requested_at=now_iso())
    atomic_write_json(path, req)
    return {**(read_state(ws.run_dir(job_id)) or {}), **change}


def _queued(ws: Workspace, job_id: str) -> dict:
    st = read_state(ws.run_dir(job_id))
    if st is None:
        raise KeyError(f"no job {job_id!r}")
    if in_backend_queue(st):
        return st
    if st.get("status") != JobStatus.QUEUED:
        raise ValueError(f"job {job_id} is {st.get('status')}; only queued jobs can be reordered or held")
    return st


def set_priority(ws: Workspace, job_id: str, priority) -> dict:
    if isinstance(priority, bool) or not isinstance(priority, int) or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ValueError(f"priority: must be an integer from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs sooner)"
                         f" (got {priority!r})")
    if in_backend_queue(_queued(ws, job_id)):
        return _request(ws, job_id, priority=priority)
    new = update_state(ws.run_dir(job_id), expect=(JobStatus.QUEUED,), priority=priority, steered_at=now_iso())
    if new is None:
        raise ValueError(f"job {job_id} is no longer queued")
    return new


def move_to_top(ws: Workspace, job_id: str) -> dict:
    """Above every other queued job: one more than the highest priority in the queue (within the allowed range)."""
    _queued(ws, job_id)
    return set_priority(ws, job_id, top_priority(ws, job_id))


def top_priority(ws: Workspace, job_id: str) -> int:
    """The priority that puts `job_id` above every other queued job (what move_to_top sets)."""
    others = [effective_priority(read_spec(ws.run_dir(j)), read_state(ws.run_dir(j)))
              for j in queue_order(ws) if j != job_id]
    return min(max(max(others, default=0) + 1, 0), PRIORITY_MAX)


def hold(ws: Workspace, job_id: str) -> dict:
    if in_backend_queue(_queued(ws, job_id)):
        return _request(ws, job_id, held=True)
    new = update_state(ws.run_dir(job_id), expect=(JobStatus.QUEUED,), held=True, held_at=now_iso())
    if new is None:
        raise ValueError(f"job {job_id} is no longer queued")
    return new


def release(ws: Workspace, job_id: str) -> dict:
    st = _queued(ws, job_id)
    if in_backend_queue(st):
        return _request(ws, job_id, held=False)
    if not is_held(st):
        raise ValueError(f"job {job_id} is not held")
    new = update_state(ws.run_dir(job_id), expect=(JobStatus.QUEUED,), held=False, held_at=None)
    if new is None:
        raise ValueError(f"job {job_id} is no longer queued")
    return new
