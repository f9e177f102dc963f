"""The workspace change stamp: one file whose mtime moves whenever something a viewer shows has changed.

Writers bump it (every state change goes through jobs.state, the trainer bumps it with each progress
write), so a reader such as the dashboard stats one file, plus the folders that specs and runs appear
in, before it reads any state file, and reads nothing at all while the stamp holds still.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

STAMP_NAME = ".changes"


def _stamp_path(home: Path) -> Path:
    return Path(home) / STAMP_NAME


def bump(home: str | os.PathLike) -> None:
    """Move the stamp forward (never to a time it already had, so two bumps in one clock tick still differ)."""
    path = _stamp_path(Path(home))
    now = time.time_ns()
    try:
        old = path.stat().st_mtime_ns
    except FileNotFoundError:
        old = 0
        try:
            path.touch()
        except OSError:
            return
    except OSError:
        return
    new = max(now, old + 1)
    try:
        os.utime(path, ns=(new, new))
    except OSError:  # a read-only or full workspace: viewers fall back on the folder mtimes below
        pass


def bump_run(run_dir: str | os.PathLike) -> None:
    """Bump the stamp of the workspace that holds runs/<job_id>/."""
    bump(Path(run_dir).resolve().parent.parent)


def stamp(ws) -> tuple:
    """What changed-or-not is decided on: the stamp, and the folders where runs and specs come and go."""
    out = []
    for p in (_stamp_path(ws.home), ws.runs, ws.incoming, ws.rejected):
        try:
            out.append(os.stat(p).st_mtime_ns)
        except OSError:
            out.append(0)
    return tuple(out)
