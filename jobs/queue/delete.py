"""Deleting a job: refused while it runs, or while a registered base model still points into its files."""
from __future__ import annotations

from pathlib import Path

from jobs import state
from jobs.use.requests import models_inside
from jobs.workspace import Workspace


def delete_job(ws: Workspace, job_id: str) -> None:
    """Delete a run, unless it is running or a base model is registered from its files (ValueError says which)."""
    def refuse(run_dir: Path) -> None:
        users = models_inside(ws, run_dir)
        if users:
            raise ValueError(f"job {job_id} cannot be deleted: base model {', '.join(users)} is registered from its "
                             "files; unregister it on the Base models page first (registering the export again keeps "
                             "a copy under models/)")
    state.delete_job(ws, job_id, refuse=refuse)
