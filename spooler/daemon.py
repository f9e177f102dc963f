"""The daemon loop: pickup, schedule queued jobs onto slots, watch running ones, handle cancel."""
from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

import psutil
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from jobs.atomic import atomic_write_json, read_json
from jobs.state import (EXIT_BUSY, EXIT_OK, EXIT_STOPPED, list_run_dirs, now_iso, queue_order, read_spec, read_state,
                        update_state)
from jobs.steer import runnable
from jobs.workspace import Workspace

from . import procs, steering
from .notify import Notifier
from .pickup import Pickup
from .runners import STARTING, Handle, make_runner
from .try_jobs import UseModel

log = logging.getLogger("tunedeck.spooler")


Running = Handle  # a job in flight, as the runner reports it


@dataclass
class Options:
    slots: int = 1
    gpus: list[str] | None = None
    poll: bool = False
    rescan: float = 2.0
    settle: float = 2.0
    grace: float = 30.0
    auto_resume: bool = False
    stop_jobs: bool = False
    trainer_cmd: list[str] = field(default_factory=procs.default_trainer_cmd)
    try_idle: float = 180.0                     # seconds a warm try worker waits for the next prompt
    tick: float = 0.25
    runner: str = "local"


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
        self.slot_gpus: list[str | None] = list(gpus) if gpus else [None] * max(1, opts.slots)
        self.running: dict[str, Handle] = {}
        self.runner = make_runner(opts.runner, opts)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.pickup = Pickup(ws, settle=opts.settle)
        self.positions: dict[str, int] = {}
        self.started_at = now_iso()
        self._hb: tuple = (0.0, None)
        self._queue_cache: dict = {}
        self.notifier = Notifier(ws, self.ident)  # its own thread: a slow webhook never delays scheduling
        self.usemodel = UseModel(self)              # try-it workers and exports: slots ahead of queued trainings

    # ------------------------------------------------------------ lifecycle
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        observer, how = self.watch()
        log.info("spooler on %s (%s runner): %d slot(s) %s, %s, home %s", self.host, self.runner.name,
                 len(self.slot_gpus),
                 ["gpu " + g if g is not None else "cpu" for g in self.slot_gpus], how, self.ws.home)
        self._safely(self.recover)
        self._safely(self.sweep_leftovers)
        self.notifier.start()
        last_scan = last_pass = last_recover = 0.0
        try:
            while not self.stopping.is_set():
                woke = self.wake.wait(self.opts.tick)
                self.wake.clear()
                now = time.monotonic()
                new = []
                if woke or now - last_scan >= self.opts.rescan or self.pickup.pending:
                    new = self.pickup.scan()
                    if now - last_scan >= self.opts.rescan:
                        last_scan = now
                # A full pass reads every state.json: do it on news, else about once a second.
                if woke or new or now - last_pass >= 1.0 or any(
                        r.proc is not None and r.proc.poll() is not None for r in self.running.values()):
                    self.step()
                    last_pass = now
                else:
                    self.step(light=True)
                if now - last_recover >= 10.0:  # another daemon may have died holding jobs
                    last_recover = now
                    self._safely(self.recover)
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
                (r.run_dir / "stop").touch()
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
        fns = (self.reap, self.handle_cancels, self.heartbeat) if light else \
            (self.reap, self.handle_cancels, self.apply_steering, self.usemodel.step, self.schedule, self.heartbeat)
        for fn in fns:
            self._safely(fn)

    def apply_steering(self) -> None:
        steering.apply_requests(self.running, self.runner)  # priority/hold of jobs already in Slurm's queue

    @staticmethod
    def _safely(fn) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - keep the daemon alive; the next pass retries
            log.exception("%s failed", fn.__name__)

    def sweep_leftovers(self, min_age: float = 600.0) -> None:
        """Half-built or half-deleted run folders left by a crash (hidden, so never listed as jobs)."""
        import shutil
        now = time.time()
        for d in self.ws.runs.glob(".*"):
            try:
                if d.is_dir() and d.name.startswith((".new-", ".trash-")) and now - d.stat().st_mtime > min_age:
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                pass

    def heartbeat(self, stopped: bool = False) -> None:
        slots = [r.job_id for r in self.running.values()]
        if not stopped and time.time() - self._hb[0] < 2.0 and slots == self._hb[1]:
            return
        self._hb = (time.time(), slots)
        atomic_write_json(self.ws.spooler_heartbeat, {
            **self.ident, "started_at": self.started_at, "updated_at": time.time(), "stopped": stopped,
            "slots": [{"slot": i, "gpu": g, "job": next((r.job_id for r in self.running.values() if i in r.slots), None)}
                      for i, g in enumerate(self.slot_gpus)],
            "accepted": self.pickup.accepted, "rejected": self.pickup.rejected,
        })
        now = time.time()
        for r in self.running.values():  # the job's own heartbeat, at most every 5 s
            if now - r.beat_at >= 5:
                r.beat_at = now
                update_state(r.run_dir, expect=("running",), heartbeat_at=now_iso())

    def free_slots(self) -> list[int]:
        busy = {s for r in self.running.values() for s in r.slots} | self.usemodel.busy_slots()
        return [i for i in range(len(self.slot_gpus)) if i not in busy]

    def schedule(self) -> None:
        order = []
        for job_id in queue_order(self.ws, self._queue_cache):
            run_dir = self.ws.run_dir(job_id)
            if (run_dir / "cancel").exists() and update_state(
                    run_dir, expect=("queued",), status="cancelled", error="cancelled before it started",
                    finished_at=now_iso(), queue_position=None):
                continue
            order.append(job_id)
        started: set[str] = set()  # a held job is skipped by start() and keeps its place in the queue
        for slot in self.free_slots():
            job_id = next((j for j in order if j not in started and self.start(j, slot)), None)
            if job_id is None:
                break
            started.add(job_id)
        order = [j for j in order if j not in started]
        positions = {j: i + 1 for i, j in enumerate(order)}
        for job_id, pos in positions.items():
            if self.positions.get(job_id) != pos:
                update_state(self.ws.run_dir(job_id), expect=("queued",), queue_position=pos)
        self.positions = positions

    def start(self, job_id: str, slot: int) -> bool:
        run_dir = self.ws.run_dir(job_id)
        gpu = self.slot_gpus[slot]
        claimed = update_state(run_dir, expect=("queued",), guard=runnable, status="running", host=self.host,
                               slot=slot, gpu=gpu, started_at=now_iso(), pid=None, pid_create_time=None,
                               queue_position=None, **self.ident)
        if claimed is None:
            return False  # another daemon, or a cancel, got there first
        for f in ("stop", "cancel", "outcome.json", "trainer.json"):
            (run_dir / f).unlink(missing_ok=True)
        try:
            h, fields = self.runner.submit(job_id, run_dir, bool(claimed.get("resume")), [gpu], read_spec(run_dir) or {})
        except (OSError, RuntimeError) as e:
            update_state(run_dir, status="failed", error=f"could not start the trainer: {e}", finished_at=now_iso())
            return False
        h.slots = [slot]
        update_state(run_dir, **fields)
        self.running[job_id] = h
        log.info("started %s on slot %d (%s), %s, attempt %s%s", job_id, slot, gpu or "cpu",
                 f"pid {h.pid}" if h.pid else f"{self.runner.name} job {h.external_id}",
                 claimed.get("attempt"), ", resuming" if claimed.get("resume") else "")
        return True

    def reap(self) -> None:
        for job_id, r in list(self.running.items()):
            finished, code = self.runner.poll(r)
            if not finished:
                continue
            del self.running[job_id]
            self.finish(r, code)

    def finish(self, r: Running, code: int | None) -> None:
        outcome = read_json(r.run_dir / "outcome.json") or {}
        if code is None:
            code = outcome.get("exit_code")
        if code == EXIT_BUSY:
            log.warning("%s: another trainer already runs it; leaving it to that one", r.job_id)
            return
        cancelled = r.cancel_at is not None
        if code == EXIT_OK:
            status, error = "succeeded", None
        elif code == EXIT_STOPPED or (cancelled and code is not None and code < 0):
            status, error = "cancelled", outcome.get("error") or "cancelled by request"
        elif code is not None and code < 0:
            name = procs.SIGNALS.get(-code, f"signal {-code}")
            status, error = "failed", f"trainer was killed by {name}; retry resumes from the last checkpoint"
        elif outcome.get("error"):
            status, error = "failed", outcome["error"]
        elif code is None:
            status, error = "failed", "trainer died without a result; see train.log"
        else:
            status, error = "failed", f"trainer exited with code {code}; see train.log"
        if cancelled and status == "failed" and code is None:
            status = "cancelled"
        update_state(r.run_dir, expect=("running",), status=status, error=error, finished_at=now_iso(),
                     exit_code=code)
        final = (read_state(r.run_dir) or {}).get("status")
        log.info("%s %s%s", r.job_id, final, f": {error}" if error and final != "succeeded" else "")

    def handle_cancels(self) -> None:
        """A cancel file asks the runner to stop the job: the stop file first, then harder steps after --grace."""
        now = time.monotonic()
        for r in self.running.values():
            if r.cancel_at is None:
                if not (r.run_dir / "cancel").exists():
                    continue
                r.cancel_at = now
            for line in self.runner.cancel(r, now - r.cancel_at, self.opts.grace):
                log.info("%s: %s", r.job_id, line)

    # ------------------------------------------------------------ restart
    def recover(self) -> None:
        """After a restart: re-adopt live trainers, settle dead ones (failed, or requeued with --auto-resume)."""
        for run_dir in list_run_dirs(self.ws):
            st = read_state(run_dir)
            if run_dir.name in self.running or not st or st.get("status") != "running" \
                    or not self.runner.owns(st, self.host):
                continue
            if st.get("daemon_pid") != self.ident["daemon_pid"] and procs.alive(st.get("daemon_pid"),
                                                                                 st.get("daemon_create_time")):
                continue  # another live daemon on this host owns it
            job_id = run_dir.name
            h = self.runner.adopt(job_id, run_dir, st)
            if h == STARTING:
                continue  # a trainer is starting up; the next pass sees it
            if h is not None:
                if not self.runner.queues_itself:
                    slot = st.get("slot") if st.get("slot") in self.free_slots() else self._spare_slot()
                    h.slots = [slot]
                self.running[job_id] = h
                update_state(run_dir, **self.ident)
                log.info("re-adopted %s (%s)", job_id, f"pid {h.pid}" if h.pid else
                         f"{self.runner.name} job {h.external_id}")
                continue
            outcome = read_json(run_dir / "outcome.json")
            if outcome:
                update_state(run_dir, expect=("running",), status=outcome.get("status", "failed"),
                             error=outcome.get("error"), finished_at=outcome.get("finished_at") or now_iso())
                continue
            if self.opts.auto_resume:
                update_state(run_dir, expect=("running",), status="queued", resume=True, pid=None,
                             attempt=int(st.get("attempt") or 1) + 1, error=None, requeued_at=now_iso())
                log.info("requeued %s to resume after the spooler stopped", job_id)
            else:
                update_state(run_dir, expect=("running",), status="failed", error="interrupted: spooler stopped",
                             finished_at=now_iso())
                log.info("%s failed: interrupted: spooler stopped", job_id)

    def _spare_slot(self) -> int:
        free = self.free_slots()
        return free[0] if free else len(self.slot_gpus) + len(self.running)
