"""Try-it workers, exports and benchmark requests on the spooler's slots (a benchmark request is scheduled as an
export is: spooler/runners/benchmark_request.py).

Rule (docs/operations-try-it.md): an export, or a try request while no training waits, gets a free slot before any
queued training (it is short and someone is waiting for it). One warm try worker per base model answers every try
request for that base and exits after --try-idle seconds without one. A training waits when it is queued and not
held; then trainings go first:
- no new try worker starts; the try requests left wait, and their answer files say so (waiting_for: training);
- when no slot is free for the waiting trainings, try workers are asked to exit (SIGTERM), idle ones first, as many
  as trainings wait: a worker in the middle of an answer finishes that answer, claims no other, and exits; the
  training takes its slot on the next pass.

Under a runner that queues jobs itself (Slurm) the spooler has no slots: each worker or export is a job of its own
with a nice that puts it ahead of waiting trainings, its "slot" only numbers its worker file, and an idle worker is
asked to exit as soon as one of our trainings is pending in the cluster's queue.
"""
from __future__ import annotations

import hashlib
import logging
import sys
import time
from dataclasses import dataclass

from jobs.atomic import atomic_write_json, read_json
from jobs.benchmarks_requests import BenchStatus, benchmark_state, write_benchmark_state
from jobs.models.registry import valid_name
from jobs.state import now_iso
from jobs.use import requests as rq
from jobs.workspace import Workspace

from .pool import SlotPool
from .queue_cursor import QueueCursor
from .runners import Handle, Runner
from .runners import benchmark_request as bench

log = logging.getLogger("tunedeck.spooler")


@dataclass
class Helper:
    kind: str                          # "try" (a warm worker), "export" or "benchmark" (bench.KIND)
    slot: int
    pid: int | None
    started: float | None
    handle: Handle | None = None       # the runner's handle; rebuilt from pid and start time after a restart
    base_model: str | None = None
    job_id: str | None = None          # export, benchmark: the run being exported or scored
    request_id: str | None = None
    asked_to_exit: bool = False


class UseModel:
    """Runs try workers and exports on the pool's slots; its step comes before the daemon schedules trainings.

    `running` is the daemon's trainings in flight (read only: under Slurm, whether one is pending in the cluster)."""

    def __init__(self, ws: Workspace, runner: Runner, pool: SlotPool, queue: QueueCursor, running: dict,
                 host: str, idle: float):
        self.ws, self.runner, self.pool, self.queue, self.running, self.host = ws, runner, pool, queue, running, host
        self.idle = float(idle)
        self.helpers: dict[int, Helper] = {}
        self.inbox = rq.inbox(self.ws)
        self.inbox.mkdir(parents=True, exist_ok=True)
        pool.add_holder(lambda: self.helpers)
        self._told_waiting: set[str] = set()   # open try requests whose answer file says they wait for a training
        self._rejects_at = 0.0                  # when broken pointers were last looked for
        self._adopt()

    # ------------------------------------------------------------ one pass, before trainings are scheduled
    def step(self) -> None:
        self.reap()
        self.reject_bad_pointers()
        pend = rq.pending(self.ws)
        served = {h.base_model for h in self.helpers.values() if h.kind == "try" and not h.asked_to_exit}
        wanted_bases = {p.get("base_model") for p in pend if p.get("kind") == "try"}
        # Local slots: while a training waits, it goes first (the module's rule). A cluster queues by itself.
        trainings_first = not self.runner.queues_itself and bool(
            wanted_bases - served or any(h.kind == "try" for h in self.helpers.values())) \
            and self.queue.training_waits()
        needs, seen, held = [], set(), []
        for ptr in pend:
            if ptr.get("kind") == "try":
                base = ptr.get("base_model")
                if not isinstance(base, str) or not valid_name(base):
                    self._refuse(ptr, f"base_model: not a registered model name (got {base!r})")
                elif base in served:
                    continue
                elif trainings_first:
                    held.append(ptr)
                elif base not in seen:
                    seen.add(base)
                    needs.append(ptr)
            elif ptr.get("kind") in ("export", bench.KIND):
                needs.append(ptr)
            else:
                self._refuse(ptr, f"kind: must be try, export or {bench.KIND} (got {ptr.get('kind')!r})")
        for ptr in needs:
            slot = self._free_slot()
            if slot is None:
                self._yield_one(keep=wanted_bases)  # another base's idle worker makes room
                break
            self._launch(ptr, slot)
        if trainings_first and not self.pool.free():
            self._yield_to_trainings()
        elif self.runner.queues_itself and self._training_waits():
            self._yield_one(keep=wanted_bases)      # a training pending in the cluster wins over an idle worker
        self._say_waiting(held)                     # last: the writes never delay a worker's exit

    def reject_bad_pointers(self, every: float = 5.0) -> None:
        """A pointer that cannot be followed (a forged job id such as ../, a symlinked run folder, a broken file)
        leaves the spool for spool/rejected/, with its reason, as a rejected spec does; looked for every few
        seconds (pending() never returns such a pointer meanwhile)."""
        if time.monotonic() - self._rejects_at < every:
            return
        self._rejects_at = time.monotonic()
        for path, why in rq.bad_pointers(self.ws, min_age=1.0):
            if rq.reject_pointer(self.ws, path, why) is not None:
                log.warning("request pointer %s rejected: %s", path.name, why)

    def _say_waiting(self, held: list[dict], per_pass: int = 50) -> None:
        """Open try requests held back for a training say so, once each (at most `per_pass` writes a pass, oldest
        first: a long stream is told over a few passes); those no longer held are told so too."""
        ids = {p["request_id"] for p in held}
        told = self._told_waiting & ids
        for ptr in [p for p in held if p["request_id"] not in told][:per_pass]:
            rq.mark_waiting(self.ws, ptr, rq.WAITING_FOR_TRAINING)
            told.add(ptr["request_id"])
        for ptr in rq.pending(self.ws) if self._told_waiting - ids else []:
            if ptr["request_id"] in self._told_waiting and ptr["request_id"] not in ids:
                rq.mark_waiting(self.ws, ptr, None)
        self._told_waiting = told

    def _yield_to_trainings(self) -> None:
        """Ask try workers to exit, idle ones first, until as many are on their way out as trainings wait. A busy
        worker finishes the answer in hand, claims no other, and exits (trainer/try_worker.py)."""
        tries = [h for h in self.helpers.values() if h.kind == "try"]
        leaving = sum(h.asked_to_exit for h in tries)
        staying = [h for h in tries if not h.asked_to_exit]
        if not staying or leaving >= self.queue.trainings_waiting(limit=len(tries)):
            return
        state = {h.slot: (read_json(rq.worker_file(self.ws, h.slot)) or {}).get("state") for h in staying}
        h = min(staying, key=lambda h: state[h.slot] != rq.WorkerState.IDLE.value)
        h.asked_to_exit = True
        self.runner.stop_helper(self._handle(h))  # SIGTERM: it exits once the answer in hand is written
        log.info("try worker for %s on slot %d (%s) asked to exit: the slot is needed by a waiting training",
                 h.base_model, h.slot, state[h.slot])

    def _free_slot(self) -> int | None:
        if self.runner.queues_itself:  # the cluster finds the GPU; the number only names the worker file
            return next(i for i in range(len(self.helpers) + 1) if i not in self.helpers)
        free = self.pool.free()
        return free[0] if free else None

    def _training_waits(self) -> bool:
        if not any(h.kind == "try" for h in self.helpers.values()):
            return False
        if self.runner.queues_itself:  # our trainings are in the cluster's queue, not ours
            return any(r.facts.get("slurm_state") == "PENDING" for r in self.running.values())
        return self.queue.training_waits()

    def _yield_one(self, keep: set) -> None:
        if any(h.asked_to_exit for h in self.helpers.values()):
            return  # a slot is already on its way back
        # a worker that has just claimed a request still says idle until it writes "loading": keep it too
        keep = keep | {p.get("base_model") for p in rq.taken(self.ws) if p.get("kind") == "try"}
        for h in self.helpers.values():
            if h.kind != "try" or h.base_model in keep:
                continue
            state = (read_json(rq.worker_file(self.ws, h.slot)) or {}).get("state")
            if state == rq.WorkerState.IDLE.value:
                h.asked_to_exit = True
                self.runner.stop_helper(self._handle(h))  # SIGTERM: it exits between answers
                log.info("try worker for %s on slot %d asked to exit: the slot is needed", h.base_model, h.slot)
                return

    # ------------------------------------------------------------ start
    def _launch(self, ptr: dict, slot: int) -> None:
        gpu = self.pool.gpu(slot)
        if ptr["kind"] == "try":
            logf = rq.workers_dir(self.ws) / f"slot-{slot}.log"
            argv = [sys.executable, "-m", "trainer.try_worker", "--home", str(self.ws.home), "--base",
                    ptr["base_model"], "--slot", str(slot), "--idle", f"{self.idle:g}"]
            helper = Helper("try", slot, None, None, base_model=ptr["base_model"])
        elif ptr["kind"] == bench.KIND:
            started = bench.start(self.ws, ptr, slot, gpu, self.host)
            if started is None:
                return
            argv, logf = started
            helper = Helper(bench.KIND, slot, None, None, base_model=ptr.get("base_model"), job_id=ptr["job_id"],
                            request_id=ptr["request_id"])
        else:
            run_dir = self.ws.run_dir(ptr["job_id"])
            if not rq.claim(self.ws, ptr["request_id"]):
                return
            rq.write_export_state(run_dir, status=rq.ExportStatus.EXPORTING.value, started_at=now_iso(),
                                  slot=slot, gpu=gpu, host=self.host)
            logf = rq.export_dir(run_dir) / "export.log"
            argv = [sys.executable, "-m", "trainer.export", str(run_dir), "--request", ptr["request_id"]]
            helper = Helper("export", slot, None, None, base_model=ptr.get("base_model"), job_id=ptr["job_id"],
                            request_id=ptr["request_id"])
        try:
            h = self.runner.spawn(self._name(helper), argv, logf, [gpu])
        except (OSError, RuntimeError, NotImplementedError) as e:
            if helper.kind == "export":
                self._fail_export(helper, f"could not start the exporter: {e}")
            elif helper.kind == bench.KIND:
                bench.fail(self.ws, helper.job_id, helper.request_id, f"could not start the benchmark worker: {e}")
            else:
                self._refuse(ptr, f"could not start a try worker: {e}")
            return
        helper.pid, helper.started, helper.handle = h.pid, h.started, h
        found = self.runner.helper_fields(h)
        if helper.kind == "export":
            rq.write_export_state(self.ws.run_dir(helper.job_id), **found)
        elif helper.kind == bench.KIND:
            write_benchmark_state(self.ws.run_dir(helper.job_id), **found)
        elif h.pid is None:  # a cluster job: the worker file says so until the worker itself writes it
            atomic_write_json(rq.worker_file(self.ws, slot), {
                **found, "slot": slot, "base_model": helper.base_model, "state": rq.WorkerState.STARTING.value,
                "updated_at": now_iso(), "idle_exit_seconds": self.idle, "served": 0, "adapters": []})
        self.helpers[slot] = helper
        what = f"a try worker for {helper.base_model}" if helper.kind == "try" else f"the {helper.kind} of {helper.job_id}"
        where = f"pid {h.pid}" if h.pid else f"{self.runner.name} job {h.external_id}"
        log.info("started %s on slot %d (%s), %s", what, slot, gpu or "cpu", where)

    def _name(self, h: Helper) -> str:
        """The helper's job name: unique per workspace, so a cluster finds it again after a restart."""
        tag = hashlib.sha1(str(self.ws.home).encode()).hexdigest()[:6]
        return f"tunedeck-{tag}-try-{h.base_model}-{h.slot}" if h.kind == "try" else f"tunedeck-{tag}-{h.kind}-{h.job_id}"

    def _handle(self, h: Helper) -> Handle:
        if h.handle is None:  # adopted after a restart: the runner finds it by pid and start time
            h.handle = Handle(f"{h.kind}-{h.slot}", self.ws.home, pid=h.pid, started=h.started)
        return h.handle

    # ------------------------------------------------------------ end
    def reap(self) -> None:
        for slot, h in list(self.helpers.items()):
            finished, code = self.runner.poll(self._handle(h))
            if not finished:
                continue
            del self.helpers[slot]
            if h.kind == "try":
                rq.worker_file(self.ws, slot).unlink(missing_ok=True)
                self._fail_orphans(h, code)
                log.info("try worker for %s on slot %d exited (%s)", h.base_model, slot, code)
            elif h.kind == bench.KIND:
                log.info("benchmarks of %s %s", h.job_id, bench.settle(self.ws, h.job_id, h.request_id, code))
            else:
                st = rq.export_state(self.ws.run_dir(h.job_id))
                if st.get("status") != rq.ExportStatus.DONE.value:
                    self._fail_export(h, st.get("error") if st.get("status") == rq.ExportStatus.FAILED.value
                                      else f"the exporter stopped without a result (exit code {code}); "
                                           "see export/export.log")
                rq.close(self.ws, h.request_id)
                log.info("export of %s %s", h.job_id, rq.export_state(self.ws.run_dir(h.job_id)).get("status"))

    def _fail_orphans(self, h: Helper, code) -> None:
        """Requests the worker had claimed but not answered end as failed, never stuck on 'loading'."""
        for ptr in rq.taken(self.ws):
            if ptr.get("kind") != "try":
                continue
            run_dir = self.ws.run_dir(ptr.get("job_id", ""))
            ans = read_json(rq.try_dir(run_dir) / f"{ptr['request_id']}{rq.ANSWER_SUFFIX}") or {}
            pid = (ans.get("worker") or {}).get("pid")
            # on a cluster the worker's pid is of another machine: one worker per base model tells them apart
            mine = pid == h.pid or ((pid is None or not h.pid) and ptr.get("base_model") == h.base_model)
            if mine and ans.get("status") not in rq.FINAL_TRY:
                rq.write_answer(run_dir, ptr["request_id"], status=rq.TryStatus.FAILED.value, finished_at=now_iso(),
                                error=f"the try worker stopped (exit code {code}); see spool/workers/slot-{h.slot}.log")
                rq.close(self.ws, ptr["request_id"])

    def _fail_export(self, h: Helper, error: str) -> None:
        rq.write_export_state(self.ws.run_dir(h.job_id), status=rq.ExportStatus.FAILED.value, error=error,
                              finished_at=now_iso())
        rq.close(self.ws, h.request_id)

    def _refuse(self, ptr: dict, error: str) -> None:
        log.warning("request %s refused: %s", ptr.get("request_id"), error)
        run_dir = self.ws.run_dir(str(ptr.get("job_id")))
        if ptr.get("kind") == "try" and (rq.try_dir(run_dir) / f"{ptr['request_id']}.json").is_file():
            rq.write_answer(run_dir, ptr["request_id"], status=rq.TryStatus.FAILED.value, error=error,
                            finished_at=now_iso())
        rq.close(self.ws, ptr["request_id"])

    def shutdown(self, stop_exports: bool) -> None:
        """Warm workers hold memory for nobody once the spooler stops; exports finish unless told otherwise."""
        for h in self.helpers.values():
            if h.kind == "try" or stop_exports:
                self.runner.stop_helper(self._handle(h))

    # ------------------------------------------------------------ restart
    def _adopt(self) -> None:
        """After a spooler restart: live workers and exporters keep their slots; dead ones are settled."""
        for w in rq.list_workers(self.ws):
            slot = w.get("slot")
            if not isinstance(slot, int):
                continue
            h = Helper("try", slot, w.get("pid"), w.get("pid_create_time"), base_model=w.get("base_model"))
            h.handle = self.runner.find_helper(self._name(h), w)
            if h.handle is not None:
                self.helpers[slot] = h
            else:
                rq.worker_file(self.ws, slot).unlink(missing_ok=True)
        for ptr in rq.taken(self.ws):
            run_dir = self.ws.run_dir(ptr.get("job_id", ""))
            if ptr.get("kind") == bench.KIND:
                st = benchmark_state(run_dir)
                h = Helper(bench.KIND, st.get("slot", -1), st.get("pid"), st.get("pid_create_time"),
                           base_model=ptr.get("base_model"), job_id=ptr.get("job_id"), request_id=ptr["request_id"])
                alive = st.get("status") == BenchStatus.SCORING.value and h.slot not in self.helpers
                h.handle = self.runner.find_helper(self._name(h), st) if alive else None
                if h.handle is not None:
                    self.helpers[h.slot] = h
                else:
                    bench.interrupted(self.ws, ptr["job_id"], ptr["request_id"])
            elif ptr.get("kind") == "export":
                st = rq.export_state(run_dir)
                h = Helper("export", st.get("slot", -1), st.get("pid"), st.get("pid_create_time"),
                           base_model=ptr.get("base_model"), job_id=ptr.get("job_id"), request_id=ptr["request_id"])
                alive = st.get("status") == rq.ExportStatus.EXPORTING.value and h.slot not in self.helpers
                h.handle = self.runner.find_helper(self._name(h), st) if alive else None
                if h.handle is not None:
                    self.helpers[h.slot] = h
                elif st.get("status") not in rq.FINAL_EXPORT:
                    self._fail_export(h, "interrupted: the spooler stopped during the export; export again")
                else:
                    rq.close(self.ws, ptr["request_id"])
            elif ptr.get("kind") == "try":
                ans = read_json(rq.try_dir(run_dir) / f"{ptr['request_id']}{rq.ANSWER_SUFFIX}") or {}
                pid = (ans.get("worker") or {}).get("pid")
                if not any(h.pid == pid or ((pid is None or not h.pid) and h.base_model == ptr.get("base_model"))
                           for h in self.helpers.values()):
                    self._fail_orphans(Helper("try", -1, pid or 0, None, base_model=ptr.get("base_model")),
                                       "unknown")

