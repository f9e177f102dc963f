"""Runners: what "run this job" means. `local` starts trainers on this machine; `slurm` hands them to sbatch."""
from __future__ import annotations

from .base import STARTING, Handle, Runner

RUNNERS = ("local", "slurm")


def make_runner(name: str, opts) -> Runner:
    if name == "local":
        from .local import LocalRunner
        return LocalRunner(opts)
    if name == "slurm":
        from .slurm import SlurmRunner
        return SlurmRunner(opts)
    raise ValueError(f"runner: {name!r} is not known; choose one of {', '.join(RUNNERS)}")


__all__ = ["Handle", "Runner", "STARTING", "RUNNERS", "make_runner"]
