"""Job ids, run folders and state.json. State changes happen under a per-job file lock."""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from jobs import contract
from jobs.atomic import SHARED_MODE, atomic_write_json, read_json
from jobs.changes import bump, bump_run
from jobs.contract import Unreadable
from jobs.job_ids import JOB_ID_RE, is_job_id  # noqa: F401 - re-exported: older callers import them from here
from jobs.rundir import STATE_FILE, as_run_dir
from jobs.status import ACTIVE, CANCELLABLE, FINAL, RETRYABLE, JobStatus, ordered  # noqa: F401 - re-exported
from jobs.workspace import Workspace

HEARTBEAT_MAX_AGE = 10.0  # seconds; an older spooler heartbeat means the daemon is down
STATUSES = tuple(JobStatus)  # kept for older imports; JobStatus is the declaration

QUEUE_FILE = "queue.json"  # in the workspace home, beside spooler.json

# Trainer exit codes the spooler maps to a status.
EXIT_OK = 0
EXIT_STOPPED = 20     # stopped cleanly on request -> cancelled
EXIT_BUSY = 21        # another process already runs this job


def spooler_alive(ws: Workspace, max_age: float = HEARTBEAT_MAX_AGE) -> bool:
    hb = contract.read_or_none(ws.spooler_heartbeat) or {}
    return bool(hb) and not hb.get("stopped") and time.time() - hb["updated_at"] < max_age


def effective_priority(spec: dict | None, state: dict | None) -> int:
    """The priority the queue uses: a steered one in state.json, else the spec's."""
    st = state or {}
    if isinstance(st.get("priority"), int):
        return st["priority"]
    try:
        return int((spec or {}).get("priority") or 0)
    except (TypeError, ValueError):
        return 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job_id(ts: float | None = None, salt: bytes | None = None) -> str:
    """Sortable by submission time, unique across hosts, safe as a folder name."""
    ts = time.time() if ts is None else ts
    dt = datetime.fromtimestamp(ts, UTC)
    tail = hashlib.sha256(salt).hexdigest()[:6] if salt is not None else secrets.token_hex(3)
    return f"{dt:%Y%m%d-%H%M%S}-{dt.microsecond:06d}-{tail}"


def _lock(run_dir: Path) -> FileLock:
    return FileLock(str(as_run_dir(run_dir).state_lock), timeout=30, mode=SHARED_MODE)


log = logging.getLogger("tunedeck.jobs")


def read_state(run_dir: Path) -> dict | None:
    """state.json, typed (jobs.contract); None when there is none. A wrongly typed one raises Unreadable."""
    return contract.read(as_run_dir(run_dir).state)


def read_spec(run_dir: Path) -> dict | None:
    """spec.json, typed (jobs.contract); None when there is none. A wrongly typed one raises Unreadable."""
    return contract.read(as_run_dir(run_dir).spec)


def update_state(run_dir: Path, expect: tuple | frozenset | None = None, guard=None, **changes: Any) -> dict | None:
    """Apply `changes` to state.json under the job's lock.

    With `expect`, the change happens only when the current status is one of those;
    otherwise nothing is written and None is returned. That is how two processes
    that race on one job (two daemons, a daemon and a cancel) never both win.
    `guard(state)`, when given, must also hold (e.g. a held job is not claimed).
    """
    rd = as_run_dir(run_dir)
    with _lock(rd):
        state = read_state(rd) or {}
        if expect is not None and state.get("status") not in expect:
            return None
        if guard is not None and not guard(state):
            return None
        state.update(changes)
        state["updated_at"] = now_iso()
        atomic_write_json(rd.state, state)
        bump_run(rd.path)
        return state


def create_run(ws: Workspace, job_id: str, spec: dict, **state: Any) -> bool:
    """Create runs/<job_id>/ with spec.json and state.json, all or nothing.

    Built in a hidden folder and renamed into place, so a crash leaves either no
    run or a complete one. Returns False when the run already exists.
    """
    final = ws.run_dir(job_id)
    if final.exists():
        return False
    tmp = as_run_dir(ws.runs / f".new-{job_id}-{secrets.token_hex(3)}")
    tmp.path.mkdir(parents=True)
    try:
        atomic_write_json(tmp.spec, spec)
        atomic_write_json(tmp.state, {"status": JobStatus.QUEUED, "error": None, "created_at": now_iso(),
                                               "attempt": 1, "resume": False, **state})
        try:
            os.rename(tmp.path, final)
        except OSError:  # another daemon made it first
            return False
        bump(ws.home)
    finally:
        if tmp.path.exists():
            shutil.rmtree(tmp.path, ignore_errors=True)
    return True


def _job_entries(ws: Workspace) -> list[os.DirEntry]:
    """Job folders only: no symlinks, no hidden or foreign names."""
    try:
        with os.scandir(ws.runs) as it:
            return [e for e in it if is_job_id(e.name) and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def list_run_dirs(ws: Workspace) -> list[Path]:
    """Every run folder, newest id first."""
    return [ws.runs / name for name in sorted((e.name for e in _job_entries(ws)), reverse=True)]


def scan_jobs(ws: Workspace, cache: dict | None = None) -> dict[str, tuple]:
    """job id -> (status, priority, acceptance time) for every run folder.

    With `cache` (a dict kept by the caller) a state.json is re-read only when its mtime or size changed, so a pass
    over 10,000 runs costs one stat each; the daemon's queue and its recovery pass share one cache.
    """
    cache = {} if cache is None else cache
    out = {}
    for e in _job_entries(ws):
        try:
            s = os.stat(os.path.join(e.path, STATE_FILE))
        except OSError:
            continue
        sig = (s.st_mtime_ns, s.st_size)
        hit = cache.get(e.name)
        if hit is None or hit[0] != sig:
            d = Path(e.path)
            try:
                st = read_state(d) or {}
                status = st.get("status")
                priority, accepted = 0, ""
                if status == JobStatus.QUEUED:
                    priority = effective_priority(read_spec(d), st)
                    accepted = st.get("created_at") or ""
            except Unreadable as err:  # this run alone is skipped, once per change of its state.json
                log.warning("%s skipped: %s", e.name, err)
                status, priority, accepted = None, 0, ""
            hit = cache[e.name] = (sig, status, priority, accepted)
        out[e.name] = hit[1:]
    for gone in set(cache) - set(out):
        del cache[gone]
    return out


def queue_order(ws: Workspace, cache: dict | None = None) -> list[str]:
    """Queued job ids in the order they will run: priority first, then acceptance time (created_at), then id.

    Acceptance time, not the id: an id comes from a file name or another host's clock, so it cannot jump the queue.
    """
    queued = [(-priority, accepted, job) for job, (status, priority, accepted) in scan_jobs(ws, cache).items()
              if status == JobStatus.QUEUED]
    return [job for *_, job in sorted(queued)]


def write_queue_snapshot(ws: Workspace, order: list[str]) -> None:
    """queue.json: the queue as the daemon sees it, so readers get positions without a write per job."""
    atomic_write_json(ws.home / QUEUE_FILE, {"updated_at": now_iso(), "order": order})


def queue_positions(ws: Workspace) -> dict[str, int]:
    """Job id -> 1-based place in the queue, from queue.json (computed from the run folders when it is missing)."""
    snap = read_json(ws.home / QUEUE_FILE)
    order = snap.get("order") if isinstance(snap, dict) else None
    if not isinstance(order, list):
        order = queue_order(ws)
    return {job: i for i, job in enumerate((j for j in order if isinstance(j, str)), 1)}


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint. transformers writes trainer_state.json last, so a kill -9 while a checkpoint
    is saved leaves it missing, empty or cut short: such a checkpoint is passed over for the one before."""
    ck = as_run_dir(run_dir).checkpoints
    if not ck.is_dir():
        return None
    steps = [(int(p.name.split("-")[-1]), p) for p in ck.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    for _, p in sorted(steps, reverse=True):
        st = read_json(p / "trainer_state.json")
        if isinstance(st, dict) and isinstance(st.get("global_step"), int):
            return p
    return None


def cancel_job(ws: Workspace, job_id: str) -> str:
    """Cancel a queued job at once; ask the spooler to stop a running one. Returns what happened."""
    run_dir = ws.existing_run(job_id)
    st = read_state(run_dir)
    if st is None:
        raise KeyError(f"no job {job_id!r}")
    if update_state(run_dir, expect=(JobStatus.QUEUED,), status=JobStatus.CANCELLED, finished_at=now_iso(),
                    error="cancelled before it started"):
        return "cancelled"
    if (read_state(run_dir) or {}).get("status") == JobStatus.RUNNING:
        atomic_write_json(as_run_dir(run_dir).cancel_request, {"requested_at": now_iso(), "host": socket.gethostname()})
        return "stop requested"
    raise ValueError(f"job {job_id} is {st.get('status')}; only {' or '.join(ordered(CANCELLABLE))} jobs can be "
                     "cancelled")


def retry_job(ws: Workspace, job_id: str) -> dict:
    """Requeue a failed or cancelled job; it resumes from its newest checkpoint when there is one."""
    run_dir = ws.existing_run(job_id)
    st = read_state(run_dir)
    if st is None:
        raise KeyError(f"no job {job_id!r}")
    resume = latest_checkpoint(run_dir) is not None
    rd = as_run_dir(run_dir)
    rd.clear(rd.retry_leftovers)
    new = update_state(run_dir, expect=RETRYABLE, status=JobStatus.QUEUED, error=None,
                       attempt=int(st.get("attempt") or 1) + 1, resume=resume, pid=None,
                       pid_create_time=None, finished_at=None, requeued_at=now_iso(), held=False)
    if new is None:
        raise ValueError(f"job {job_id} is {st.get('status')}; only {' or '.join(ordered(RETRYABLE))} jobs can be "
                         "retried")
    return new


def delete_job(ws: Workspace, job_id: str, refuse=None) -> None:
    """Remove a run folder. `refuse(run_dir)` may raise ValueError to keep it (see jobs.queue.delete)."""
    run_dir = ws.existing_run(job_id)
    try:
        st = read_state(run_dir)
    except Unreadable:
        st = None  # a broken run can still be deleted
    if st and st.get("status") == JobStatus.RUNNING:
        raise ValueError(f"job {job_id} is running; cancel it first, then delete it")
    if refuse is not None:
        refuse(run_dir)
    with _lock(run_dir):
        # Mark it so a daemon that read it as queued does not start it mid-delete.
        if st and st.get("status") == JobStatus.QUEUED:
            st["status"] = JobStatus.CANCELLED
            atomic_write_json(as_run_dir(run_dir).state, st)
    trash = ws.runs / f".trash-{job_id}-{secrets.token_hex(3)}"
    os.rename(run_dir, trash)
    bump(ws.home)
    shutil.rmtree(trash, ignore_errors=True)
