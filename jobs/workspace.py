"""The workspace: one folder that holds the spool, runs, models, datasets and custom methods."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jobs.job_ids import existing_run, run_path
from jobs.rundir import RunDir

ENV_HOME = "TUNEDECK_HOME"


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """--home wins, then $TUNEDECK_HOME, then ./workspace."""
    if home:
        return Path(home).expanduser().resolve()
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]).expanduser().resolve()
    return Path("workspace").resolve()


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def at(cls, home: str | os.PathLike | None = None) -> Workspace:
        return cls(resolve_home(home))

    @property
    def spool(self) -> Path:
        return self.home / "spool"

    @property
    def spool_tmp(self) -> Path:
        return self.spool / "tmp"

    @property
    def incoming(self) -> Path:
        return self.spool / "incoming"

    @property
    def rejected(self) -> Path:
        return self.spool / "rejected"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def datasets(self) -> Path:
        return self.home / "datasets"

    @property
    def methods(self) -> Path:
        return self.home / "methods"

    @property
    def spooler_heartbeat(self) -> Path:
        return self.home / "spooler.json"

    def run_dir(self, job_id: str) -> Path:
        """runs/<job_id>; a value that is not a job id raises jobs.job_ids.BadJobId (a ValueError)."""
        return run_path(self.runs, job_id)

    def existing_run(self, job_id: str) -> Path:
        """The folder of an existing job; BadJobId for a non-id, KeyError when there is no such job."""
        return existing_run(self.runs, job_id)

    def run(self, job_id: str) -> RunDir:
        """The run folder of `job_id`, with its files named (jobs.rundir.RunDir)."""
        return RunDir(run_path(self.runs, job_id))

    @classmethod
    def of_run(cls, run_dir: str | os.PathLike) -> Workspace:
        """The workspace that holds runs/<job_id>/ (the trainer is given only the run folder)."""
        return cls(Path(run_dir).resolve().parent.parent)

    def ensure(self) -> Workspace:
        for d in (self.spool_tmp, self.incoming, self.rejected, self.runs,
                  self.models, self.datasets, self.methods):
            d.mkdir(parents=True, exist_ok=True)
        return self
