"""Read-only views of the workspace shared by the dashboard and `spooler status`."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from jobs import contract
from jobs.contract import Unreadable
from jobs.evaluation import headline, read_evaluation
from jobs.queue.steer import is_held
from jobs.queue.sweep import group_of
from jobs.rundir import as_run_dir
from jobs.state import effective_priority, read_spec, read_state
from jobs.status import STARTED, JobStatus

UNKNOWN = "unknown"        # shown for a run folder without a state.json; never written to one
UNREADABLE = "unreadable"  # shown for a run whose contract file has the wrong shape (jobs.contract)


def _ts(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except (TypeError, ValueError):
        return None


def job_summary(run_dir: Path) -> dict:
    """One row for the trainings list. Missing files leave blanks; a wrongly typed one makes the row "unreadable"."""
    rd = as_run_dir(run_dir)
    try:
        spec = read_spec(rd) or {}
        st = read_state(rd) or {}
        progress = contract.read(rd.progress) or {}
        summary = contract.read(rd.summary) or {}
    except Unreadable as e:
        return unreadable_row(rd, e)
    status = st.get("status") or (UNKNOWN if not st else JobStatus.QUEUED)
    start, end = _ts(st.get("started_at")), _ts(st.get("finished_at"))
    duration = (end or time.time()) - start if start and status in STARTED else None
    total = progress.get("total_steps") or summary.get("total_steps")
    step = progress.get("step") or 0
    evaluation = read_evaluation(run_dir) if summary else None
    head = headline(spec.get("method", ""), evaluation) if summary else None
    return {
        "job_id": rd.job_id, "name": spec.get("name", rd.job_id), "method": spec.get("method", "?"),
        "owner": spec.get("owner"), "base_model": spec.get("base_model", "?"), "dataset": spec.get("dataset", "?"),
        "status": status,
        "step": step, "total_steps": total,
        "progress": (step / total) if total else (1.0 if status == JobStatus.SUCCEEDED else 0.0),
        "eta_seconds": progress.get("eta_seconds") if status == JobStatus.RUNNING else None,
        "queue_position": None,  # from queue.json (jobs.state.queue_positions), filled in by the list's reader
        "created_at": st.get("created_at"), "started_at": st.get("started_at"), "finished_at": st.get("finished_at"),
        "duration_seconds": duration, "final_loss": summary.get("final_loss"), "final_reward": summary.get("final_reward"),
        "error": st.get("error"), "parent_job": spec.get("parent_job"), "priority": effective_priority(spec, st),
        "held": is_held(st) and status == JobStatus.QUEUED, "group": group_of(spec),
        "attempt": st.get("attempt"), "has_state": bool(st),
        "phase": progress.get("phase") if status == JobStatus.RUNNING else None,
        "phase_done": progress.get("done"), "phase_total": progress.get("total"),
        "eval_metric": head[0] if head else None, "eval_base": head[1].get("base") if head else None,
        "eval_tuned": head[1].get("tuned") if head else None, "eval_better": head[1].get("better") if head else None,
        "regressed": forgotten(rd, evaluation),  # the forgetting alarm: benchmark scores that dropped
        "runner": st.get("runner") or "local", "host": st.get("host"), "slurm_job_id": st.get("slurm_job_id"),
        "slurm_nodes": st.get("slurm_nodes"), "slurm_reason": st.get("slurm_reason") if status == JobStatus.RUNNING else None,
    }


def forgotten(rd, evaluation: dict | None) -> list[dict]:
    """The benchmark metrics whose tuned score dropped below the base's (jobs.benchmarks.regressions), largest first."""
    if not evaluation or not evaluation.get("benchmarks"):
        return []
    from jobs.benchmarks import alarm_threshold, regressions
    from jobs.workspace import Workspace
    return regressions(evaluation, alarm_threshold(Workspace.of_run(rd.path)))


def unreadable_row(rd, e: Unreadable) -> dict:
    """A trainings-list row for a run whose files cannot be read: its id, and why, in the error column."""
    return {"job_id": rd.job_id, "name": rd.job_id, "method": "?", "base_model": "?", "dataset": "?",
            "status": UNREADABLE, "step": 0, "total_steps": None, "progress": 0.0, "eta_seconds": None,
            "queue_position": None, "created_at": None, "started_at": None, "finished_at": None,
            "duration_seconds": None, "final_loss": None, "final_reward": None, "error": str(e), "parent_job": None,
            "priority": 0, "held": False, "group": None, "attempt": None, "has_state": False, "owner": None}
