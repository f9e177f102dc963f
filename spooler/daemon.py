"""The daemon loop: pickup, schedule queued jobs onto slots, watch running ones, handle cancel."""
from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from jobs import contract, memory
from jobs.atomic import atomic_write_json
from jobs.contract import Unreadable
from jobs.disk import EXIT_NO_SPACE, NO_SPACE, free_bytes, is_no_space, rewrite_in_place
from jobs.queue.steer import runnable
from jobs.rundir import RunDir
from jobs.state import EXIT_BUSY, EXIT_OK, EXIT_STOPPED, now_iso, read_spec, read_state, update_state
from jobs.status import JobStatus
from jobs.workspace import Workspace

from .leftovers import sweep_leftovers
from .notify import Notifier
from .options import Options
from .pickup import Pickup
from .pool import SlotPool
from .queue_cursor import QueueCursor
from .runners import STARTING, Handle, make_runner, procs, steering
from .try_jobs import UseModel

log = logging.getLogger("tunedeck.spooler")


Running = Handle  # a job in flight, as the runner reports it




NO_SPACE_REASON = f"{NO_SPACE}: the trainer could not write; free some space, then retry"


def died_of_full_disk(run_dir: Path, below: int = 1 << 20) -> bool:
    """Whether a trainer that died without writing its outcome most likely died of a full disk: the disk is still
    (nearly) full, or the end of its train.log says so."""
    try:
        if free_bytes(run_dir) < below:
            return True
        with open(RunDir(run_dir).log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 8192))
            tail = fh.read().decode("utf-8", "replace")
        return "No space left on device" in tail or NO_SPACE in tail
    except OSError:
        return False


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event):
        self.event = event

    def on_any_event(self, event):
        if event.event_type in ("created", "moved", "closed", "modified"):
            self.event.set()


class Daemon:
    def __init__(self, ws: Workspace, opts: Options):
        self.ws = ws.ensure()
        self.opts = opts
        self.host = socket.gethostname()
        me = psutil.Process()
        self.ident = {"daemon_pid": me.pid, "daemon_create_time": me.create_time(), "daemon_host": self.host}
        gpus = opts.gpus if opts.gpus is not None else procs.detect_gpus()
        self.runner = make_runner(opts.runner, opts)
        # the cluster's scheduler owns the GPUs of a runner that queues jobs itself: no slots of ours
        self.pool = SlotPool([] if self.runner.queues_itself else list(gpus) if gpus else [None] * max(1, opts.slots))
        self.running: dict[str, Handle] = {}
        self.pool.add_holder(lambda: (s for r in self.running.values() for s in r.slots))
        self.slot_memory = memory.slot_memory(list(self.pool.gpus))  # each slot's GPU memory (CPU: the machine's)
        self._needs: dict[str, int] = {}
        # Ended, status not written yet (a full disk): job id -> [handle, exit code, whether a write hit ENOSPC]
        self._unfinished: dict[str, list] = {}
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.pickup = Pickup(ws, settle=opts.settle, wake=self.wake)  # wake: a sweep checked in its worker
        self.queue = QueueCursor(self.ws, opts.rescan)
        self.started_at = now_iso()
        self.passes = 0  # scheduling passes made; in the heartbeat, so a test can wait for passes, not for time
        self._hb: tuple = (0.0, None)
        self._broken: dict[str, str] = {}  # job id -> the reason last logged, so a broken run is logged once
        self.notifier = Notifier(ws, self.ident)  # its own thread: a slow webhook never delays scheduling
        # try-it workers and exports: slots ahead of queued trainings (see try_jobs.py for when trainings win)
        self.usemodel = UseModel(self.ws, self.runner, self.pool, self.queue, self.running, self.host,
                                 idle=opts.try_idle)

    # ------------------------------------------------------------ lifecycle
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        observer, how = self.watch()
        log.info("spooler on %s (%s runner): %d slot(s) %s, %s, home %s", self.host, self.runner.name,
                 len(self.pool),
                 ["gpu " + g if g is not None else "cpu" for g in self.pool.gpus], how, self.ws.home)
        self._safely(self.recover)
        self.notifier.start()
        last_scan = last_pass = last_recover = last_sweep = 0.0
        try:
            while not self.stopping.is_set():
                woke = self.wake.wait(self.opts.tick)
                self.wake.clear()
                now = time.monotonic()
                new = []
                if woke or now - last_scan >= self.opts.rescan or self.pickup.pending:
                    new = self.pickup.scan()
                    if new:
                        self.queue.mark_dirty()
                    if now - last_scan >= self.opts.rescan:
                        last_scan = now
                # A full pass reads every state.json: do it on news, else about once a second.
                if woke or new or now - last_pass >= 1.0 or any(
                        r.proc is not None and r.proc.poll() is not None for r in self.running.values()):
                    self.step()
                    last_pass = now
                else:
                    self.step(light=True)
                if now - last_recover >= max(10.0, 20 * self.queue.scan_cost):  # another daemon may have died holding jobs
                    last_recover = now
                    self._safely(self.recover)
                if now - last_sweep >= self.opts.sweep_every:  # the first pass runs at start
                    last_sweep = now
                    self._safely(self.sweep_leftovers)
        finally:
            if observer is not None:
                observer.stop()
            self.notifier.stop()
            self.shutdown()

    def watch(self):
        """inotify (or polling with --poll); if neither can start, the periodic rescan still finds every file."""
        kinds = [PollingObserver] if self.opts.poll else [Observer, PollingObserver]
        for kind in kinds:
            try:
                observer = kind(timeout=1.0) if kind is PollingObserver else kind()
                observer.schedule(_Wake(self.wake), str(self.ws.incoming), recursive=False)
                observer.schedule(_Wake(self.wake), str(self.ws.runs), recursive=False)
                observer.schedule(_Wake(self.wake), str(self.usemodel.inbox), recursive=False)
                observer.start()
                return observer, "polling" if kind is PollingObserver else "inotify"
            except Exception as e:  # noqa: BLE001 - e.g. the inotify watch limit is reached
                log.warning("%s could not start (%s); trying the next way to watch", kind.__name__, e)
        return None, f"rescan every {self.opts.rescan:g} s only"

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def shutdown(self) -> None:
        if self.opts.stop_jobs:
            for r in list(self.running.values()):
                RunDir(r.run_dir).stop_request.touch()
                self.runner.stop_now(r, hard=False)
            deadline = time.monotonic() + self.opts.grace
            while self.running and time.monotonic() < deadline:
                self.reap()
                time.sleep(0.2)
            for r in list(self.running.values()):
                self.runner.stop_now(r, hard=True)
            time.sleep(0.2)
            self.reap()
        elif self.running:
            log.info("leaving %d running job(s) alone; the next start re-adopts them", len(self.running))
        self.usemodel.shutdown(stop_exports=self.opts.stop_jobs)
        self.heartbeat(stopped=True)
        log.info("spooler stopped")

    # ------------------------------------------------------------ one pass
    def step(self, light: bool = False) -> None:
        fns = (self.reap, self.handle_cancels, self.refresh, self.heartbeat, self.snapshot_queue) if light else \
            (self.reap, self.handle_cancels, self.apply_steering, self.usemodel.step, self.schedule, self.refresh,
             self.heartbeat)
        for fn in fns:
            self._safely(fn)
        self.passes += not light

    def apply_steering(self) -> None:
        steering.apply_requests(self.running, self.runner)  # priority/hold of jobs already in Slurm's queue

    @staticmethod
    def _safely(fn) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - keep the daemon alive; the next pass retries
            log.exception("%s failed", fn.__name__)

    def _per_run(self, job_id: str, what: str, fn, *args):
        """Run one job's part of a pass; a broken run is logged (once per reason) and skipped, the rest go on."""
        try:
            return fn(*args)
        except Unreadable as e:
            if self._broken.get(job_id) != str(e):
                self._broken[job_id] = str(e)
                log.warning("%s skipped (%s): %s", job_id, what, e)
        except Exception:  # noqa: BLE001 - one run's surprise must not stop the others
            log.exception("%s: %s failed", job_id, what)
        return None

    def sweep_leftovers(self, min_age: float | None = None) -> None:
        """Leftovers of a kill -9, removed once they are older than `min_age` (never touched by a live writer
        that long): half-built or half-deleted run folders (hidden, so never listed as jobs) and the temp files
        of atomic writes (.state.json.*.tmp and the like) in run folders, the spool and the workspace home."""
        removed = sweep_leftovers(self.ws, self.opts.sweep_age if min_age is None else min_age)
        if removed:
            log.info("removed %d leftover temp file(s) or folder(s) older than %.0f s", removed,
                     self.opts.sweep_age if min_age is None else min_age)

    def heartbeat(self, stopped: bool = False) -> None:
        slots = [r.job_id for r in self.running.values()]
        if not stopped and time.time() - self._hb[0] < 2.0 and slots == self._hb[1]:
            return
        self._hb = (time.time(), slots)
        beat = {
            **self.ident, "started_at": self.started_at, "updated_at": time.time(), "stopped": stopped,
            "runner": self.runner.name,
            "slots": [{"slot": i, "gpu": g, "job": next((r.job_id for r in self.running.values() if i in r.slots), None),
                       **(self.slot_memory[i] if i < len(self.slot_memory) else {})}  # the memory estimate's limit
                      for i, g in enumerate(self.pool.gpus)],
            "accepted": self.pickup.accepted, "rejected": self.pickup.rejected, "passes": self.passes,
        }
        try:
            atomic_write_json(self.ws.spooler_heartbeat, beat)
        except OSError as e:  # a full disk: stay visibly alive by rewriting the heartbeat in place
            if not is_no_space(e):
                raise
            beat["problem"] = NO_SPACE
            rewrite_in_place(self.ws.spooler_heartbeat, json.dumps(beat).encode())
        now = time.time()
        for r in self.running.values():  # the job's own heartbeat, at most every 5 s
            if now - r.beat_at >= 5:
                r.beat_at = now
                self._per_run(r.job_id, "heartbeat", lambda r=r: update_state(
                    r.run_dir, expect=(JobStatus.RUNNING,), heartbeat_at=now_iso()))

    def refresh(self) -> None:
        """Backend facts (Slurm's state, pending reason, node list) into state.json when they change."""
        for r in list(self.running.values()):
            facts = self.runner.refresh(r)
            if facts:
                update_state(r.run_dir, expect=(JobStatus.RUNNING,), **facts)

    def need(self, job_id: str) -> int:
        """Slots a job takes: its num_gpus (one torchrun process per slot)."""
        if job_id not in self._needs:
            params = (read_spec(self.ws.run_dir(job_id)) or {}).get("params") or {}
            self._needs[job_id] = max(1, int(params.get("num_gpus") or 1))
        return self._needs[job_id]

    def schedule(self) -> None:
        """Start queued jobs on free slots, in queue order. The queue is re-read from the run folders when new jobs
        arrived or every rescan interval, not per start, so a start costs O(1) writes however long the queue is; a
        stale entry is harmless because the claim checks the job's current status under its lock.

        A job with num_gpus = k needs k free slots. The first runnable job that does not fit waits at the head, and
        nothing behind it overtakes it, so a multi-slot job is never starved by a stream of small ones. A runner
        that queues jobs itself (Slurm) gets every job at once. A run whose files cannot be read is skipped and
        logged once (queue_order leaves it out; a claim that meets it is skipped)."""
        q = self.queue
        q.reread_if_due({j: r.slots for j, r in self.running.items()})
        free = self.pool.free()
        holds: dict[str | None, int] = {}  # slots (GPUs) each owner's running jobs hold now, for max_slots
        if q.fair:
            for j in self.running:
                who, k = q.owner(j)
                holds[who] = holds.get(who, 0) + k
        while (job_id := q.current()) is not None and (free or self.runner.queues_itself):
            run_dir = self.ws.run_dir(job_id)
            who, want = q.owner(job_id) if q.fair else (None, 0)
            cap = q.max_slots(who) if q.fair else None
            if cap is not None and holds.get(who, 0) + want > cap:  # Slurm too: applied before sbatch
                q.advance(kept=True)  # over its owner's max_slots: it waits, keeping its place; others go ahead
                continue
            if RunDir(run_dir).cancel_request.exists() and self._per_run(job_id, "cancel", lambda run_dir=run_dir: update_state(
                    run_dir, expect=(JobStatus.QUEUED,), status=JobStatus.CANCELLED,
                    error="cancelled before it started", finished_at=now_iso())):
                q.advance()
                continue
            k = 0 if self.runner.queues_itself else self._per_run(job_id, "slots needed", self.need, job_id)
            if k is None:  # unreadable: skipped and logged
                q.advance()
                continue
            if k > len(self.pool):
                q.advance()
                self._per_run(job_id, "fail", lambda run_dir=run_dir, k=k: update_state(
                    run_dir, expect=(JobStatus.QUEUED,), status=JobStatus.FAILED, finished_at=now_iso(),
                    error=f"num_gpus={k} but this spooler has only {len(self.pool)} slot(s); "
                          "retry it on a spooler with more"))
                continue
            if k > len(free):
                st = contract.read_or_none(RunDir(run_dir).state) or {}
                if st.get("status") == JobStatus.QUEUED and runnable(st):
                    break  # it waits for k free slots, and so does every job behind it
            elif self._per_run(job_id, "start", self.start, job_id, free[:k]):
                q.advance()
                free = free[k:]
                if q.fair:
                    holds[who] = holds.get(who, 0) + want
                continue
            # held: it keeps its place in the queue
            q.advance(kept=(contract.read_or_none(RunDir(run_dir).state) or {}).get("status") == JobStatus.QUEUED)
        self.snapshot_queue()

    def snapshot_queue(self) -> None:
        self.queue.write_snapshot()

    def start(self, job_id: str, slots: list[int]) -> bool:
        run_dir = self.ws.run_dir(job_id)
        spec = read_spec(run_dir) or {}
        gpus = [self.pool.gpu(s) for s in slots]
        gpu = ",".join(g for g in gpus if g is not None) or None
        claimed = update_state(run_dir, expect=(JobStatus.QUEUED,), guard=runnable, status=JobStatus.RUNNING,
                               host=self.host, slot=slots[0] if slots else None, slots=slots, gpu=gpu,
                               started_at=now_iso(), pid=None, pid_create_time=None, runner=self.runner.name,
                               **self.ident)
        if claimed is None:
            return False  # another daemon, or a cancel, got there first
        rd = RunDir(run_dir)
        rd.clear(rd.start_leftovers)
        try:
            h, fields = self.runner.submit(job_id, run_dir, bool(claimed.get("resume")), gpus, spec)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            update_state(run_dir, status=JobStatus.FAILED, error=f"could not start the trainer: {e}", finished_at=now_iso())
            return False
        h.slots = list(slots)
        update_state(run_dir, **fields)
        self.running[job_id] = h
        where = f"slot(s) {','.join(map(str, slots))} ({gpu or 'cpu'})" if slots else self.runner.name
        log.info("started %s on %s, %s, attempt %s%s", job_id, where,
                 f"pid {h.pid}" if h.pid else f"{self.runner.name} job {h.external_id}",
                 claimed.get("attempt"), ", resuming" if claimed.get("resume") else "")
        return True

    def reap(self) -> None:
        for job_id, r in list(self.running.items()):
            finished, code = self.runner.poll(r)
            if not finished:
                continue
            del self.running[job_id]
            self._unfinished[job_id] = [r, code, False]
        for job_id, entry in list(self._unfinished.items()):
            r, code, no_space = entry
            try:
                self.finish(r, code, no_space)
            except OSError as e:
                if not is_no_space(e):
                    raise
                if not no_space:  # once per job: the log may be on the same full disk
                    entry[2] = True
                    log.error("%s ended but its status cannot be written (%s); retrying until there is space",
                              job_id, NO_SPACE)
                continue
            except Unreadable as e:  # its state.json broke while it ran: nothing to record it in
                log.warning("%s ended but cannot be recorded: %s", job_id, e)
            del self._unfinished[job_id]

    def finish(self, r: Running, code: int | None, no_space: bool = False) -> None:
        outcome = contract.read_or_none(RunDir(r.run_dir).outcome) or {}
        if (code is None or code >= 0) and isinstance(outcome.get("exit_code"), int):
            code = outcome["exit_code"]  # the trainer's own word wins (torchrun and Slurm report no exit code of theirs)
        if code == EXIT_BUSY:
            log.warning("%s: another trainer already runs it; leaving it to that one", r.job_id)
            return
        cancelled = r.cancel_at is not None
        if code == EXIT_OK:
            status, error = JobStatus.SUCCEEDED, None
        elif code == EXIT_STOPPED or (cancelled and code is not None and code < 0):
            status, error = JobStatus.CANCELLED, outcome.get("error") or "cancelled by request"
        elif code is not None and code < 0:
            name = procs.SIGNALS.get(-code, f"signal {-code}")
            status, error = JobStatus.FAILED, f"trainer was killed by {name}; retry resumes from the last checkpoint"
        elif outcome.get("error"):
            status, error = JobStatus.FAILED, outcome["error"]
        elif code == EXIT_NO_SPACE or no_space or died_of_full_disk(r.run_dir):
            status, error = JobStatus.FAILED, NO_SPACE_REASON
        elif code is None:
            status, error = JobStatus.FAILED, f"{r.ended or 'trainer died'} without a result; see train.log"
        else:
            status, error = JobStatus.FAILED, f"trainer exited with code {code}; see train.log"
        if cancelled and status == JobStatus.FAILED and code is None:
            status = JobStatus.CANCELLED
        update_state(r.run_dir, expect=(JobStatus.RUNNING,), status=status, error=error, finished_at=now_iso(),
                     exit_code=code)
        final = (contract.read_or_none(RunDir(r.run_dir).state) or {}).get("status")
        log.info("%s %s%s", r.job_id, final, f": {error}" if error and final != JobStatus.SUCCEEDED else "")

    def handle_cancels(self) -> None:
        """A cancel file asks the runner to stop the job: the stop file first, then harder steps after --grace."""
        now = time.monotonic()
        for r in self.running.values():
            if r.cancel_at is None:
                if not RunDir(r.run_dir).cancel_request.exists():
                    continue
                r.cancel_at = now
            for line in self.runner.cancel(r, now - r.cancel_at, self.opts.grace):
                log.info("%s: %s", r.job_id, line)

    # ------------------------------------------------------------ restart
    def recover(self) -> None:
        """After a restart: re-adopt live trainers, settle dead ones (failed, or requeued with --auto-resume)."""
        # Only runs whose status is "running" are read in full; the rest cost a stat (the queue's cache).
        running = sorted((j for j, (status, *_) in self.queue.scan().items()
                          if status == JobStatus.RUNNING), reverse=True)
        for run_dir in (self.ws.run_dir(j) for j in running):
            self._per_run(run_dir.name, "recovery", self._recover_one, run_dir)

    def _recover_one(self, run_dir) -> None:
        st = read_state(run_dir)
        if run_dir.name in self.running or run_dir.name in self._unfinished or not st \
                or st.get("status") != JobStatus.RUNNING or not self.runner.owns(st, self.host):
            return
        if st.get("daemon_pid") != self.ident["daemon_pid"] and procs.alive(st.get("daemon_pid"),
                                                                             st.get("daemon_create_time")):
            return  # another live daemon on this host owns it
        job_id = run_dir.name
        h = self.runner.adopt(job_id, run_dir, st)
        if h == STARTING:
            return  # a trainer is starting up; the next pass sees it
        if h is not None:
            if not self.runner.queues_itself:
                want = st.get("slots") or ([st["slot"]] if st.get("slot") is not None else [])
                free, n = self.pool.free(), max(1, len(want))
                h.slots = want if want and all(s in free for s in want) else free[:n] if len(free) >= n \
                    else [len(self.pool) + len(self.running) + i for i in range(n)]  # over capacity
            self.running[job_id] = h
            update_state(run_dir, **self.ident)
            log.info("re-adopted %s (%s)", job_id, f"pid {h.pid}" if h.pid else
                     f"{self.runner.name} job {h.external_id}")
            return
        outcome = contract.read_or_none(RunDir(run_dir).outcome)
        if outcome:
            update_state(run_dir, expect=(JobStatus.RUNNING,), status=outcome["status"],
                         error=outcome.get("error"), finished_at=outcome.get("finished_at") or now_iso())
            return
        if self.opts.auto_resume:
            update_state(run_dir, expect=(JobStatus.RUNNING,), status=JobStatus.QUEUED, resume=True, pid=None,
                         attempt=(st.get("attempt") or 1) + 1, error=None, requeued_at=now_iso())
            log.info("requeued %s to resume after the spooler stopped", job_id)
        else:
            why = NO_SPACE_REASON if died_of_full_disk(run_dir) else "interrupted: spooler stopped"
            update_state(run_dir, expect=(JobStatus.RUNNING,), status=JobStatus.FAILED, error=why, finished_at=now_iso())
            log.info("%s failed: %s", job_id, why)

