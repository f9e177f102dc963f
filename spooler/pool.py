"""The daemon's slots and who holds them, shared by the training scheduler (daemon.py) and the try/export
scheduler (try_jobs.py) without either reaching into the other.

A slot is one GPU (or one CPU slot when there is none). Each user registers a holder: a function that names the
slots it holds now (trainings in flight, warm try workers and exports). A slot is free when no holder names it, so
the pool never keeps a second copy of who runs where that could drift from the truth.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable


class SlotPool:
    def __init__(self, gpus: list[str | None]):
        self.gpus: list[str | None] = list(gpus)   # empty under a runner that queues jobs itself (Slurm)
        self._holders: list[Callable[[], Iterable[int]]] = []

    def __len__(self) -> int:
        return len(self.gpus)

    def add_holder(self, holds: Callable[[], Iterable[int]]) -> None:
        self._holders.append(holds)

    def busy(self) -> set[int]:
        return {s for holds in self._holders for s in holds()}

    def free(self) -> list[int]:
        busy = self.busy()
        return [i for i in range(len(self.gpus)) if i not in busy]

    def gpu(self, slot: int) -> str | None:
        """The slot's GPU; None for a CPU slot or a slot number beyond the pool (a cluster helper's file name)."""
        return self.gpus[slot] if 0 <= slot < len(self.gpus) else None
