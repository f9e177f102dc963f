"""The queue as the daemon last read it from the run folders, and how far this round of starts has got through it.

Shared by the training scheduler (daemon.py), which walks it, and the try/export scheduler (try_jobs.py), which only
asks whether a training waits. Re-reading the queue costs one stat per run (scan_jobs' cache), so it is re-read when
new jobs arrived or every rescan interval, never per start.
"""
from __future__ import annotations

import heapq
import time
from itertools import groupby

from jobs import contract
from jobs.queue.steer import runnable
from jobs.state import queue_order, read_state, scan_jobs, write_queue_snapshot
from jobs.status import JobStatus
from jobs.team import quotas
from jobs.workspace import Workspace


class QueueCursor:
    def __init__(self, ws: Workspace, rescan: float):
        self.ws, self.rescan = ws, rescan
        self.cache: dict = {}             # scan_jobs' per-run cache, shared with the daemon's recovery pass
        self.order: list[str] = []        # queued job ids, in the order they run
        self.queued: list[tuple] = []     # (-priority, acceptance time, job id) of the queued jobs, as last read
        self.head = 0                     # the next one to try this round
        self.kept: list[str] = []         # tried this round but still queued (held): still in queue.json
        self.dirty = True                 # new jobs arrived: re-read before the next round
        self.read_at = 0.0
        self.scan_cost = 0.0              # seconds the last full read took
        self._snapshot: list[str] | None = None
        self._snapshot_at = 0.0
        self.owners: dict[str, tuple[str | None, int]] = {}  # job id -> (owner, slots): spec.json, read once
        self.quotas: dict = {}            # config.json "quotas", re-read with the queue
        self.fair = False                 # more than one owner queued, or a max_slots quota: holdings matter
        self.read_with: frozenset = frozenset()  # the running jobs the order was computed for

    def owner(self, job_id: str) -> tuple[str | None, int]:
        """(owner, slots it takes) of a job; an owner never changes, so the spec is read once."""
        if job_id not in self.owners:
            spec = contract.read_or_none(self.ws.run(job_id).spec) or {}
            params = spec.get("params") if isinstance(spec.get("params"), dict) else {}
            try:
                k = max(1, int(params.get("num_gpus") or 1))
            except (TypeError, ValueError):
                k = 1
            self.owners[job_id] = (spec.get("owner"), k)
        return self.owners[job_id]

    def max_slots(self, owner: str | None) -> int | None:
        return quotas.limit(self.quotas, owner, "max_slots")

    def mark_dirty(self) -> None:
        self.dirty = True

    def reread_if_due(self, held: dict[str, list[int]] | None = None) -> None:
        """A new round from the run folders when jobs arrived or the interval passed (at most a tenth of the time
        goes to re-reading, however many runs there are). `held`: running job id -> its slots, for fair shares.

        Fair shares: among queued jobs of equal priority, the next free slot goes to the owner who holds the fewest
        slots now, then by acceptance time; the order is interleaved so at each place the owner with the fewest
        slots (counting the jobs placed before it) comes next. With one owner and no max_slots quota the order is
        exactly priority, then acceptance time. A change in the running jobs re-reads the queue when it matters."""
        now = time.monotonic()
        held = held or {}
        due = self.dirty or now - self.read_at >= max(self.rescan, 10 * self.scan_cost)
        if not due and self.fair and frozenset(held) != self.read_with:
            # A slot freed or was taken: who holds the fewest has changed. The queue itself has not (no new jobs),
            # so the order is recomputed from the last read less the jobs that left it, with no rescan of the runs.
            left = set(self.order[:self.head]) - set(self.kept)
            self.queued = [q for q in self.queued if q[2] not in left]
            self.order = self._fair_order(self.queued, held)
            self.read_with, self.head, self.kept = frozenset(held), 0, []
            return
        if due:
            jobs = scan_jobs(self.ws, self.cache)
            self.queued = queued = sorted((-p, acc, job) for job, (status, p, acc) in jobs.items()
                                          if status == JobStatus.QUEUED)
            self.quotas = quotas.load(self.ws)[0]
            owners = {self.owner(job)[0] for *_, job in queued}
            self.fair = len(owners) > 1 or any("max_slots" in v for v in self.quotas.values())
            self.order = self._fair_order(queued, held) if self.fair else [job for *_, job in queued]
            for gone in set(self.owners) - set(jobs):
                del self.owners[gone]
            self.read_with = frozenset(held)
            self.scan_cost = time.monotonic() - now
            self.read_at, self.dirty, self.head, self.kept = time.monotonic(), False, 0, []

    def _fair_order(self, queued: list[tuple], held: dict[str, list[int]]) -> list[str]:
        holds: dict[str | None, int] = {}
        for job_id in held:
            who, k = self.owner(job_id)
            holds[who] = holds.get(who, 0) + k
        order: list[str] = []
        for _, band in groupby(queued, key=lambda q: q[0]):  # one priority at a time: priority still comes first
            per: dict[str | None, list[tuple]] = {}
            for q in band:
                per.setdefault(self.owner(q[2])[0], []).append(q)
            heap = [(holds.get(who, 0), qs[0][1], qs[0][2], who, 0) for who, qs in per.items()]
            heapq.heapify(heap)
            while heap:
                n, _, job, who, i = heapq.heappop(heap)
                order.append(job)
                holds[who] = n + self.owner(job)[1]
                if i + 1 < len(per[who]):
                    nxt = per[who][i + 1]
                    heapq.heappush(heap, (holds[who], nxt[1], nxt[2], who, i + 1))
        return order

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
