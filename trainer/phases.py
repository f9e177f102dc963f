"""The run's visible phases in progress.json: `phase`, and `done`/`total` for the phases that work through rows.

The training steps (step, total_steps, percent, ETA) stay as the metrics callback writes them; a phase change
keeps them and adds its own fields, so the list and the details page show why a run at 100 % is not finished.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from jobs.atomic import atomic_write_text, read_json
from jobs.evaluation import PHASES
from jobs.rundir import RunDir

MIN_INTERVAL = 0.2  # seconds between progress writes inside a phase


class Phases:
    def __init__(self, run_dir: Path, main: bool = True):
        self.path = RunDir(run_dir).progress
        self.main = main  # under torchrun only rank 0 writes progress.json
        self.current: str | None = None
        self._at = 0.0

    def enter(self, name: str, total: int | None = None) -> None:
        assert name in PHASES, name
        self.current = name
        self._write({"phase": name, "done": 0 if total is not None else None, "total": total}, force=True)

    def advance(self, done: int, total: int) -> None:
        self._write({"phase": self.current, "done": done, "total": total}, force=done >= total)

    def _write(self, fields: dict, force: bool) -> None:
        now = time.time()
        if not self.main or (not force and now - self._at < MIN_INTERVAL):
            return
        self._at = now
        progress = read_json(self.path) or {}
        if not isinstance(progress, dict):
            progress = {}
        progress.setdefault("step", 0)  # the contract's progress always has a step; before training it is 0
        progress.update(fields, updated_at=now)
        atomic_write_text(self.path, json.dumps(progress) + "\n", durable=False)
