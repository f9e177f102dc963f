"""The runner interface: submit, poll, cancel and re-adopt one job. The daemon keeps the spool, the queue and
state.json; a runner only knows how to run a trainer somewhere and to find it again after a restart."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobs.rundir import RunDir

STARTING = "starting"   # adopt(): a trainer is coming up but cannot be identified yet; ask again later


@dataclass
class Handle:
    """One job in flight, as the daemon tracks it between passes."""
    job_id: str
    run_dir: Path
    slots: list[int] = field(default_factory=list)   # the daemon's slots it holds (empty when the runner queues)
    pid: int | None = None                           # local: the trainer's process (group leader)
    started: float | None = None                     # its create time, to tell a reused pid apart
    external_id: str | None = None                   # e.g. the Slurm job id
    proc: object | None = None                       # runner-private live handle (a Popen); None when adopted
    cancel_at: float | None = None                   # monotonic time the cancel request was seen
    steps_done: set = field(default_factory=set)     # cancel escalation steps already taken
    beat_at: float = 0.0                             # last heartbeat written to state.json
    facts: dict = field(default_factory=dict)        # backend facts last written to state.json (refresh)
    ended: str | None = None                         # how the backend saw it end, when that explains a failure

    @property
    def slot(self) -> int | None:
        return self.slots[0] if self.slots else None


class Runner:
    """Subclass per backend. Keep them stateless between calls: everything a restart needs is in state.json."""
    name = "base"
    queues_itself = False   # True: jobs are handed over at once and the backend queues them (no local slots)

    def submit(self, job_id: str, run_dir: Path, resume: bool, gpus: list[str | None],
               spec: dict) -> tuple[Handle, dict]:
        """Start the job; return its handle and the fields to record in state.json. OSError/RuntimeError: failed."""
        raise NotImplementedError

    def poll(self, h: Handle) -> tuple[bool, int | None]:
        """(finished, exit code or None when unknown). Unknown codes are settled by outcome.json."""
        raise NotImplementedError

    def refresh(self, h: Handle) -> dict:
        """Backend facts worth showing in state.json (node list, pending reason); {} when nothing changed."""
        return {}

    def cancel(self, h: Handle, waited: float, grace: float) -> list[str]:
        """Called every pass after a cancel request, `waited` seconds ago. Returns log lines of the steps taken."""
        raise NotImplementedError

    @staticmethod
    def request_stop(h: Handle) -> list[str]:
        """Every backend's first cancel step, taken once: the stop file, so the trainer saves and exits by itself."""
        if "stop" in h.steps_done:
            return []
        h.steps_done.add("stop")
        RunDir(h.run_dir).stop_request.touch()
        return ["stop requested"]

    def owns(self, state: dict, host: str) -> bool:
        """Whether a running job with this state.json is this runner's to re-adopt."""
        return (state.get("runner") or "local") == self.name

    def adopt(self, job_id: str, run_dir: Path, state: dict) -> Handle | str | None:
        """After a restart: a handle when the job still runs, STARTING when unsure yet, None when it is gone."""
        raise NotImplementedError

    def spawn(self, name: str, argv: list[str], log_path: Path, gpus: list[str | None]) -> Handle:
        """Start a helper (a try worker, an export) on the slots' GPUs, output appended to log_path. poll() and
        stop_now() work on its handle. NotImplementedError: this runner cannot run helpers."""
        raise NotImplementedError(f"the {self.name} runner cannot run try-it workers or exports")

    def find_helper(self, name: str, record: dict) -> Handle | None:
        """After a restart: the handle of a helper still alive, from what was recorded of it (the worker file or
        export/status.json: pid and start time, or a Slurm job id); None when it is gone."""
        return None

    def stop_helper(self, h: Handle) -> None:
        """Ask a helper to exit (SIGTERM): a try worker finishes the answer in hand first."""
        self.stop_now(h, hard=False)

    def helper_fields(self, h: Handle) -> dict:
        """What to record of a spawned helper so that find_helper() finds it again."""
        return {"pid": h.pid, "pid_create_time": h.started}

    def steer(self, h: Handle, request: dict) -> list[str]:
        """Reorder or hold a job waiting in the backend's own queue: `request` has `priority` and/or `held`
        (see spooler/runners/steering.py for the scontrol commands). Returns log lines. A backend without a queue of its
        own never gets here: its queued jobs are steered in state.json."""
        return [f"the {self.name} runner cannot steer a job it has already been given"]

    def stop_now(self, h: Handle, hard: bool) -> None:
        """Shutdown with --stop-jobs: SIGTERM (or SIGKILL when hard) to the job."""
        raise NotImplementedError
