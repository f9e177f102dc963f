"""`python -m spooler status|submit|cancel|retry`: the daemon's command-line companions."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from jobs import contract
from jobs.contract import Unreadable
from jobs.metrics import S
from jobs.queue.delete import delete_job
from jobs.queue.spool import submit_any
from jobs.queue.steer import hold, is_held, move_to_top, release, set_priority
from jobs.rundir import RunDir
from jobs.state import cancel_job, effective_priority, list_run_dirs, queue_order, read_spec, read_state, retry_job, spooler_alive
from jobs.status import JobStatus
from jobs.team.auth import os_user
from jobs.team.guard import authorize
from jobs.use import requests as rq
from jobs.workspace import Workspace


def status_data(ws: Workspace) -> dict:
    running, failures, unreadable = [], [], []
    for d in list_run_dirs(ws):
        try:
            st, sp = read_state(d) or {}, read_spec(d) or {}
            pr = contract.read(RunDir(d).progress) or {} if st.get("status") == JobStatus.RUNNING else {}
        except Unreadable as e:  # listed with its reason; every other run is still reported
            unreadable.append({"job_id": d.name, "error": str(e)})
            continue
        item = {"job_id": d.name, "name": sp.get("name"), "method": sp.get("method"), "status": st.get("status"),
                "owner": sp.get("owner")}
        if st.get("status") == JobStatus.RUNNING:
            item.update(step=pr.get("step"), total_steps=pr.get(S.total_steps), percent=pr.get("percent"),
                        eta_seconds=pr.get("eta_seconds"), phase=pr.get("phase"), phase_done=pr.get("done"),
                        phase_total=pr.get("total"), pid=st.get("pid"), gpu=st.get("gpu"), host=st.get("host"))
            running.append(item)
        elif st.get("status") == JobStatus.FAILED and len(failures) < 5:
            failures.append({**item, "error": st.get("error"), "finished_at": st.get("finished_at")})
    queue = []
    for pos, job in enumerate(queue_order(ws), 1):
        rd = ws.run(job)  # queue_order has read both already: a broken one is not in the queue
        sp, st = contract.read_or_none(rd.spec) or {}, contract.read_or_none(rd.state) or {}
        queue.append({"position": pos, "job_id": job, "name": sp.get("name"), "priority": effective_priority(sp, st),
                      "held": is_held(st), "owner": sp.get("owner")})
    try:
        hb = contract.read(ws.spooler_heartbeat) or {}
    except Unreadable as e:
        hb = {}
        unreadable.append({"job_id": None, "error": str(e)})
    return {"spooler_running": spooler_alive(ws), "slots": hb.get("slots") or [], JobStatus.RUNNING: running,
            "queue": queue, "recent_failures": failures, "try_workers": rq.list_workers(ws), "unreadable": unreadable}


def print_status(data: dict) -> None:
    print(f"spooler: {'running' if data['spooler_running'] else 'NOT running'}")  # prose, not a name
    for s in data["slots"]:
        print(f"  slot {s['slot']} ({'gpu ' + str(s['gpu']) if s.get('gpu') is not None else 'cpu'}): {s.get('job') or 'idle'}")
    for w in data.get("try_workers", []):  # warm try-it workers hold a slot too (jobs/requests.py)
        where = f"pid {w.get('pid')}" if w.get("pid") else f"Slurm job {w.get('slurm_job_id')}"
        print(f"  slot {w['slot']}: try worker for {w['base_model']} ({w['state']}, {where}, "
              f"{(w.get('memory_bytes') or 0) / 2**20:,.0f} MiB, {w.get('served', 0)} answered)")
    print(f"running ({len(data[JobStatus.RUNNING])}):")
    for r in data[JobStatus.RUNNING]:
        eta = _eta_text(r.get("eta_seconds"))
        phase = _phase_text(r)
        print(f"  {r['job_id']}  {r['name']}  [{r['method']}]{_owner_text(r)}"
              f"  step {r.get('step') or 0}/{r.get(S.total_steps) or '?'} ({_percent_text(r.get('percent'))}%{eta})"
              + (f"  {phase}" if phase else ""))
    print(f"queue ({len(data['queue'])}):")
    for q in data["queue"]:
        print(f"  {q['position']:>3}. {q['job_id']}  {q['name']}{_owner_text(q)}  priority {q['priority']}"
              + ("  HELD" if q.get("held") else ""))
    print(f"recent failures ({len(data['recent_failures'])}):")
    for f in data["recent_failures"]:
        print(f"  {f['job_id']}  {f['name']}{_owner_text(f)}: {f['error']}")
    if data["unreadable"]:
        print(f"unreadable ({len(data['unreadable'])}):")
        for u in data["unreadable"]:
            print(f"  {u['job_id'] or 'spooler'}: {u['error']}")


def _owner_text(item: dict) -> str:
    return f"  ({item['owner']})" if item.get("owner") else ""


MAX_ETA = 100 * 86400  # a longer ETA (a run's progress.json can say anything) prints as "> 100 d"


def _eta_text(eta) -> str:
    """", ETA 1h 02m 03s": bounded, whatever number progress.json holds (a 300-digit one prints as "> 100 d")."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 0:
        return ""
    if eta > MAX_ETA:
        return f", ETA > {MAX_ETA // 86400} d"
    m, s = divmod(int(eta), 60)
    h, m = divmod(m, 60)
    return f", ETA {h}h {m:02d}m {s:02d}s" if h else f", ETA {m}m {s:02d}s" if m else f", ETA {s}s"


def _percent_text(pct) -> str:
    if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct <= 100:
        return "0" if not pct else "?"
    return f"{pct:g}"


def _phase_text(r: dict) -> str:
    """"base evaluation 12/50": the phase a running job is in (jobs.evaluation.PHASES), with its own progress."""
    phase = r.get("phase")
    if not isinstance(phase, str):
        return ""
    done, total = r.get("phase_done"), r.get("phase_total")
    counted = f" {done}/{total}" if isinstance(done, int) and isinstance(total, int) and total > 0 else ""
    return phase.replace("_", " ") + counted


def cmd_status(ws: Workspace, as_json: bool) -> int:
    data = status_data(ws)
    try:
        print(json.dumps(data, indent=2, ensure_ascii=False)) if as_json else print_status(data)
        sys.stdout.flush()
    except BrokenPipeError:  # `status | head` closed the pipe early: stop quietly, as other CLI tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's own flush is quiet too
    return 0


def cmd_submit(ws: Workspace, path: str) -> int:
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        print(f"error: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        spec = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        print(f"{path}: not valid JSON: {e}", file=sys.stderr)
        return 1
    job_ids, v = submit_any(ws, spec)
    for w in v.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not job_ids:
        print(f"{path}: {len(v.errors)} problem(s):", file=sys.stderr)
        for e in v.errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    if v.group:
        print(f"sweep {v.group['id']}: {len(job_ids)} run(s)", file=sys.stderr)
    print("\n".join(job_ids))
    return 0


def _answer(request) -> int:
    """Print what a request did, or its refusal (KeyError/ValueError) as "error: <reason>" with exit status 1."""
    try:
        print(request())
        return 0
    except (KeyError, ValueError) as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 1


def _as_caller(ws: Workspace, action: str, job_id: str, priority: int | None = None) -> None:
    """The caller's OS user must be the job's owner or an admin (with auth on); raises the refusal, audited."""
    authorize(ws, os_user(), "cli", action, job_id, priority=priority)


def cmd_cancel(ws: Workspace, job_id: str) -> int:
    def cancel() -> str:
        _as_caller(ws, "cancel", job_id)
        return f"{job_id}: {cancel_job(ws, job_id)}"
    return _answer(cancel)


def cmd_delete(ws: Workspace, job_id: str) -> int:
    """The dashboard's Delete from a shell: refused, with the reason, for a running job or one a model needs."""
    def delete() -> str:
        _as_caller(ws, "delete", job_id)
        delete_job(ws, job_id)
        return f"{job_id}: deleted"
    return _answer(delete)


def cmd_retry(ws: Workspace, job_id: str) -> int:
    def retry() -> str:
        _as_caller(ws, "retry", job_id)
        st = retry_job(ws, job_id)
        return f"{job_id}: queued again (attempt {st['attempt']}{', resumes from its checkpoint' if st['resume'] else ''})"
    return _answer(retry)


def cmd_steer(ws: Workspace, cmd: str, job_id: str, value: str | None = None) -> int:
    """priority JOB_ID N|top, hold JOB_ID, release JOB_ID: state changes under the job's lock, queued jobs only."""
    def steer() -> str:
        if cmd == "priority":
            if value == "top":
                _as_caller(ws, "priority", job_id)
                st = move_to_top(ws, job_id)
            else:
                try:
                    n = int(value)
                except (TypeError, ValueError):
                    raise ValueError(f"priority: must be an integer from -1000 to 1000 or 'top' (got {value!r})") from None
                _as_caller(ws, "priority", job_id, priority=n)
                st = set_priority(ws, job_id, n)
            return f"{job_id}: priority {st['priority']}, queue position {_position(ws, job_id)}"
        _as_caller(ws, cmd, job_id)  # hold or release
        if cmd == "hold":
            hold(ws, job_id)
            return f"{job_id}: held at queue position {_position(ws, job_id)}; it starts only after release"
        release(ws, job_id)
        return f"{job_id}: released, queue position {_position(ws, job_id)}"
    return _answer(steer)


def _position(ws: Workspace, job_id: str) -> int | None:
    order = queue_order(ws)
    return order.index(job_id) + 1 if job_id in order else None
