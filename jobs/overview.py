"""Read-only views of the workspace shared by the dashboard and `spooler status`."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from .atomic import read_json
from .evaluation import headline, read_evaluation
from .state import read_spec, read_state
from .steer import effective_priority, is_held
from .sweep import group_of
from .workspace import Workspace

HEARTBEAT_MAX_AGE = 10.0


def spooler_alive(ws: Workspace, max_age: float = HEARTBEAT_MAX_AGE) -> bool:
    hb = read_json(ws.spooler_heartbeat) or {}
    return isinstance(hb, dict) and not hb.get("stopped") and time.time() - float(hb.get("updated_at") or 0) < max_age


def _ts(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except (TypeError, ValueError):
        return None


def job_summary(run_dir: Path) -> dict:
    """One row for the trainings list. Tolerates missing or half-written files."""
    spec = read_spec(run_dir) or {}
    st = read_state(run_dir) or {}
    progress = read_json(run_dir / "progress.json") or {}
    summary = read_json(run_dir / "summary.json") or {}
    status = st.get("status") or ("unknown" if not st else "queued")
    start, end = _ts(st.get("started_at")), _ts(st.get("finished_at"))
    duration = (end or time.time()) - start if start and status in ("running", "succeeded", "failed", "cancelled") else None
    total = progress.get("total_steps") or summary.get("total_steps")
    step = progress.get("step") or 0
    head = headline(spec.get("method", ""), read_evaluation(run_dir)) if summary else None
    return {
        "job_id": run_dir.name, "name": spec.get("name", run_dir.name), "method": spec.get("method", "?"),
        "base_model": spec.get("base_model", "?"), "dataset": spec.get("dataset", "?"), "status": status,
        "step": step, "total_steps": total, "progress": (step / total) if total else (1.0 if status == "succeeded" else 0.0),
        "eta_seconds": progress.get("eta_seconds") if status == "running" else None,
        "queue_position": st.get("queue_position") if status == "queued" else None,
        "created_at": st.get("created_at"), "started_at": st.get("started_at"), "finished_at": st.get("finished_at"),
        "duration_seconds": duration, "final_loss": summary.get("final_loss"), "final_reward": summary.get("final_reward"),
        "error": st.get("error"), "parent_job": spec.get("parent_job"), "priority": effective_priority(spec, st),
        "held": is_held(st) and status == "queued", "group": group_of(spec),
        "attempt": st.get("attempt"), "has_state": bool(st),
        "phase": progress.get("phase") if status == "running" else None,
        "phase_done": progress.get("done"), "phase_total": progress.get("total"),
        "eval_metric": head[0] if head else None, "eval_base": head[1].get("base") if head else None,
        "eval_tuned": head[1].get("tuned") if head else None, "eval_better": head[1].get("better") if head else None,
        "runner": st.get("runner") or "local", "host": st.get("host"), "slurm_job_id": st.get("slurm_job_id"),
        "slurm_nodes": st.get("slurm_nodes"), "slurm_reason": st.get("slurm_reason") if status == "running" else None,
    }
