"""The queue as the daemon last read it from the run folders, and how far this round of starts has got through it.

Shared by the training scheduler (daemon.py), which walks it, and the try/export scheduler (try_jobs.py), which only
asks whether a training waits. Re-reading the queue costs one stat per run (scan_jobs' cache), so it is re-read when
new jobs arrived or every rescan interval, never per start.
"""
from __future__ import annotations

import time

from jobs.queue.steer import runnable
from jobs.state import queue_order, read_state, scan_jobs, write_queue_snapshot
from jobs.workspace import Workspace


class QueueCursor:
    def __init__(self, ws: Workspace, rescan: float):
        self.ws, self.rescan = ws, rescan
        self.cache: dict = {}             # scan_jobs' per-run cache, shared with the daemon's recovery pass
        self.order: list[str] = []        # queued job ids, in the order they run
        self.head = 0                     # the next one to try this round
        self.kept: list[str] = []         # tried this round but still queued (held): still in queue.json
        self.dirty = True                 # new jobs arrived: re-read before the next round
        self.read_at = 0.0
        self.scan_cost = 0.0              # seconds the last full read took
        self._snapshot: list[str] | None = None
        self._snapshot_at = 0.0

    def mark_dirty(self) -> None:
        self.dirty = True

    def reread_if_due(self) -> None:
        """A new round from the run folders when jobs arrived or the interval passed (at most a tenth of the time
        goes to re-reading, however many runs there are)."""
        now = time.monotonic()
        if self.dirty or now - self.read_at >= max(self.rescan, 10 * self.scan_cost):
            self.order = queue_order(self.ws, self.cache)
            self.scan_cost = time.monotonic() - now
            self.read_at, self.dirty, self.head, self.kept = time.monotonic(), False, 0, []

    def current(self) -> str | None:
        return self.order[self.head] if self.head < len(self.order) else None

    def advance(self, kept: bool = False) -> None:
        """Past the current job; `kept` when it is still queued (held) and so keeps its place in queue.json."""
        if kept:
            self.kept.append(self.order[self.head])
        self.head += 1

    def waiting(self) -> list[str]:
        return self.kept + self.order[self.head:]

    def write_snapshot(self, every: float = 0.5) -> None:
        """queue.json for readers (positions), written when the queue changed, at most every `every` seconds."""
        waiting = self.waiting()
        if waiting == self._snapshot or time.monotonic() - self._snapshot_at < every:
            return
        write_queue_snapshot(self.ws, waiting)
        self._snapshot, self._snapshot_at = waiting, time.monotonic()

    def scan(self) -> dict[str, tuple]:
        """job id -> (status, priority, acceptance time), through the shared cache."""
        return scan_jobs(self.ws, self.cache)

    def trainings_waiting(self, limit: int = 1) -> int:
        """How many queued trainings could start now if they had slots (queued and not held), counted up to
        `limit` (the queue can be long; the question is asked every pass)."""
        n = 0
        for j in queue_order(self.ws, self.cache):
            if n >= limit:
                break
            try:
                n += runnable(read_state(self.ws.run_dir(j)) or {})
            except Exception:  # noqa: BLE001 - an unreadable run waits for nobody (schedule() logs it)
                continue
        return n

    def training_waits(self) -> bool:
        return self.trainings_waiting(1) > 0
