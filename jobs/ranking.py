"""One rule for "the best run", shared by the Trainings list, a sweep's group row and the sweep notification.

A run's headline is the held-out evaluation's headline metric when it has one, else its final reward, else its
final loss. Rows are those of jobs.queue.overview.job_summary.
"""
from __future__ import annotations

from jobs.metrics import LOWER
from jobs.status import JobStatus


def headline(row: dict) -> tuple[str, float, bool] | None:
    """(metric, value, higher is better) of a run, or None when it has no figure yet."""
    if row.get("eval_metric") and isinstance(row.get("eval_tuned"), (int, float)):
        return row["eval_metric"], float(row["eval_tuned"]), row.get("eval_better") != LOWER
    if row.get("final_reward") is not None:
        return "reward", float(row["final_reward"]), True
    if row.get("final_loss") is not None:
        return "loss", float(row["final_loss"]), False
    return None


def headline_text(row: dict) -> str:
    """"reward 0.8125", "rougeL 0.41", or "" when the run has no figure."""
    h = headline(row)
    return f"{h[0]} {h[1]:.4g}" if h else ""


def best_run(rows: list[dict]) -> dict | None:
    """The succeeded run with the best headline; runs are only ranked against runs with the same headline metric
    (the first such metric among them), so a loss never beats a reward."""
    scored = [(headline(r), r) for r in rows if r.get("status") == JobStatus.SUCCEEDED and headline(r)]
    if not scored:
        return None
    metric, _, higher = scored[0][0]
    same = [(h, r) for h, r in scored if h[0] == metric]
    return (max if higher else min)(same, key=lambda x: x[0][1])[1]
