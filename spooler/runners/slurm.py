"""The Slurm runner: every accepted job goes to sbatch at once; Slurm queues it and assigns its GPUs and nodes.

The workspace must be on a filesystem every node mounts: the job's trainer writes its run folder there, and
outcome.json, not Slurm's memory of the job (gone after MinJobAge, and accounting may be off), decides its status.
"""
from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from jobs.atomic import atomic_write_text
from jobs.rundir import RunDir

from . import procs
from .base import Handle, Runner
from .steering import scontrol_commands

log = logging.getLogger("tunedeck.spooler.slurm")

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
SIGNAL_BEFORE_LIMIT = 120   # seconds before the time limit Slurm sends SIGTERM, so the trainer saves a checkpoint
SQUEUE_EVERY = 1.0          # one squeue call per second serves every job's poll
RDZV_PORT = 29500           # torchrun's rendezvous on the first node of a multi-node job
HELPER_NICE = -10_000       # try workers and exports: ahead of any training (trainings get nice -1000..1000)


class SlurmError(RuntimeError):
    pass


def missing_commands() -> list[str]:
    return [c for c in ("sbatch", "squeue", "scancel", "scontrol") if shutil.which(c) is None]


def _run(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class SlurmRunner(Runner):
    name = "slurm"
    queues_itself = True

    def __init__(self, opts):
        missing = missing_commands()
        if missing:
            raise SlurmError(f"--runner slurm needs Slurm's commands on PATH; missing: {', '.join(missing)}")
        self.opts = opts
        self.partition = getattr(opts, "partition", None)
        self.extra = list(getattr(opts, "sbatch_args", None) or [])
        self._snap: dict[str, dict] = {}
        self._snap_at = 0.0

    # ------------------------------------------------------------ squeue
    def _squeue(self, *args: str) -> list[dict]:
        r = _run("squeue", "-h", "-o", "%i|%j|%T|%r|%N", *args)
        if r.returncode != 0:
            raise SlurmError(f"squeue failed: {r.stderr.strip()}")
        rows = []
        for line in r.stdout.splitlines():
            parts = line.split("|")
            if len(parts) == 5:
                rows.append(dict(zip(("id", "name", "state", "reason", "nodes"), (p.strip() for p in parts), strict=False)))
        return rows

    def snapshot(self, force: bool = False) -> dict[str, dict]:
        """Slurm job id → its row, for this user's jobs; refreshed at most once per SQUEUE_EVERY."""
        if force or time.monotonic() - self._snap_at >= SQUEUE_EVERY:
            self._snap = {row["id"]: row for row in self._squeue("--me")}
            self._snap_at = time.monotonic()
        return self._snap

    def by_name(self, job_id: str) -> dict | None:
        live = [r for r in self._squeue("--me", "--name", job_id) if r["state"] not in FINAL]
        return live[-1] if live else None

    # ------------------------------------------------------------ submit
    def script(self, run_dir: Path, resume: bool, gpus: int, nodes: int) -> str:
        cmd = [*self.opts.trainer_cmd, str(run_dir), *(["--resume"] if resume else [])]
        if nodes > 1:  # torchrun on each node (srun starts one per node), meeting at the first node
            rdzv = [f"--rdzv_endpoint=@HEAD@:{RDZV_PORT}", "--rdzv_id=@JOBID@"]
            launch = "srun --ntasks-per-node=1 " + shlex.join(procs.distributed_cmd(cmd, gpus, nodes, rdzv)) \
                .replace("@HEAD@", "$HEAD").replace("@JOBID@", "$SLURM_JOB_ID")
            head = 'HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)\n'
        else:
            launch = "exec " + shlex.join(procs.distributed_cmd(cmd, gpus))
            head = ""
        return _preamble(f"job {run_dir.name}") + f"{head}{_ECHO}{launch}\n"

    def sbatch_args(self, job_id: str, run_dir: Path, gpus: int, nodes: int, priority: int,
                    owner: str | None = None) -> list[str]:
        args = [f"--job-name={job_id}", f"--gres=gpu:{gpus}", f"--nodes={nodes}", "--ntasks-per-node=1",
                f"--output={RunDir(run_dir).log}", "--open-mode=append", f"--chdir={procs.PACKAGES}",
                # B: the batch shell execs the trainer (or torchrun), so the shell's signal reaches it;
                # several nodes: srun forwards it to each node's torchrun.
                f"--signal={'B:' if nodes == 1 else ''}TERM@{SIGNAL_BEFORE_LIMIT}"]
        if priority:  # higher Tunedeck priority = lower nice; a negative nice needs a Slurm operator
            args.append(f"--nice={-priority}")
        if self.partition:
            args.append(f"--partition={self.partition}")
        if owner:  # who the job is for: Slurm's accounting and squeue show it (Slurm's own user is the spooler's)
            args.append(f"--comment={owner}")
        return [*args, *self.extra]

    def submit(self, job_id, run_dir, resume, gpus, spec):
        params = spec.get("params") or {}
        n_gpus, n_nodes = int(params.get("num_gpus") or 1), int(params.get("num_nodes") or 1)
        existing = self.by_name(job_id)  # idempotent: a crash after sbatch must not submit it twice
        if existing:
            log.info("%s is already Slurm job %s; adopting it", job_id, existing["id"])
            return self._handle(job_id, run_dir, existing), self._fields(existing, nice=None)
        path = run_dir / "slurm.sh"
        atomic_write_text(path, self.script(run_dir, resume, n_gpus, n_nodes))
        args = self.sbatch_args(job_id, run_dir, n_gpus, n_nodes, int(spec.get("priority") or 0), spec.get("owner"))
        slurm_id, nice = self._sbatch(job_id, args, path)
        row = {"id": slurm_id, "name": job_id, "state": "PENDING", "reason": "", "nodes": ""}
        return self._handle(job_id, run_dir, row), self._fields(row, nice=nice)

    def _sbatch(self, what: str, args: list[str], script: Path) -> tuple[str, str | None]:
        """sbatch the script; returns (Slurm job id, the nice it got). A refused negative nice (only operators may
        set one) is dropped and logged, and the job goes in without it."""
        r = _run("sbatch", "--parsable", *args, str(script))
        nice = next((a.split("=", 1)[1] for a in args if a.startswith("--nice=")), None)
        if r.returncode != 0 and nice and int(nice) < 0:
            log.warning("%s: sbatch refused --nice=%s (%s); submitting without it", what, nice, r.stderr.strip())
            nice = None
            r = _run("sbatch", "--parsable", *[a for a in args if not a.startswith("--nice=")], str(script))
        if r.returncode != 0:
            raise SlurmError(f"sbatch refused the job: {r.stderr.strip() or r.stdout.strip()}")
        self._snap_at = 0.0  # the cached squeue predates this job: the next poll must ask again
        return r.stdout.strip().split(";")[0], nice

    # ------------------------------------------------------------ helpers: try workers and exports
    def spawn(self, name, argv, log_path, gpus):
        """A try worker or an export as a one-node Slurm job with one GPU per slot asked for, named `name`, output
        appended to log_path, and a nice of HELPER_NICE so that it starts before every waiting training (whose
        nice is -priority, at most ±1000). Idempotent by name, like submit()."""
        existing = self.by_name(name)
        if existing:
            log.info("%s is already Slurm job %s; adopting it", name, existing["id"])
            return Handle(name, log_path.parent, external_id=existing["id"])
        log_path.parent.mkdir(parents=True, exist_ok=True)
        script = log_path.with_name(log_path.stem + ".slurm.sh")
        atomic_write_text(script, _preamble(f"helper {name}") + _ECHO + "exec " + shlex.join(argv) + "\n")
        args = [f"--job-name={name}", f"--gres=gpu:{max(1, len(gpus))}", "--nodes=1", "--ntasks=1",
                f"--output={log_path}", "--open-mode=append", f"--chdir={procs.PACKAGES}", f"--nice={HELPER_NICE}",
                *([f"--partition={self.partition}"] if self.partition else []), *self.extra]
        slurm_id, nice = self._sbatch(name, args, script)
        if nice is None:
            log.warning("%s goes in without --nice: it waits behind trainings already pending in Slurm", name)
        return Handle(name, log_path.parent, external_id=slurm_id)

    def find_helper(self, name, record):
        sid = record.get("slurm_job_id")
        row = self.snapshot(force=True).get(str(sid)) if sid else None
        if row is None or row["state"] in FINAL:
            row = self.by_name(name)
        return Handle(name, Path(), external_id=row["id"]) if row else None

    def stop_helper(self, h):
        """SIGTERM to the batch step alone (the exec'd worker), not scancel's SIGTERM-then-SIGKILL after KillWait,
        so a worker that is answering finishes first; a helper still pending is cancelled outright."""
        row = self.snapshot(force=True).get(h.external_id)
        if row is not None and row["state"] == "RUNNING":
            _run("scancel", "--batch", "--signal=TERM", h.external_id)
        elif row is not None and row["state"] not in FINAL:
            _run("scancel", h.external_id)

    def helper_fields(self, h):
        return {"slurm_job_id": h.external_id, "pid": None, "pid_create_time": None}

    def _handle(self, job_id, run_dir, row) -> Handle:
        return Handle(job_id, run_dir, external_id=row["id"])

    def _fields(self, row: dict, nice) -> dict:
        out = {"runner": self.name, "slurm_job_id": row["id"], "pid": None, "pid_create_time": None,
               "started_at": None, "submitted_at": _now()}
        if nice is not None:
            out["slurm_nice"] = int(nice)
        return out

    # ------------------------------------------------------------ watch
    def poll(self, h):
        row = self.snapshot().get(h.external_id)
        if row is None or row["state"] in FINAL:
            if row is not None and row["state"] not in ("COMPLETED", "CANCELLED"):
                h.ended = f"Slurm job {h.external_id} ended {row['state']}"
            return True, None
        return False, None

    def refresh(self, h):
        row = self.snapshot().get(h.external_id)
        if row is None:
            return {}
        pending = row["state"] == "PENDING"
        facts = {"slurm_state": row["state"], "slurm_reason": row["reason"] if pending else None,
                 "slurm_nodes": row["nodes"] or None}
        if facts == h.facts:
            return {}
        if row["state"] == "RUNNING" and h.facts.get("slurm_state") != "RUNNING":
            facts["started_at"] = _now()
        h.facts = {k: v for k, v in facts.items() if k != "started_at"}
        return facts

    def cancel(self, h, waited, grace):
        done = self.request_stop(h)  # cooperative first: the trainer saves and exits
        row = self.snapshot().get(h.external_id)
        pending = row is not None and row["state"] == "PENDING"
        if "scancel" not in h.steps_done and (pending or waited >= grace):
            h.steps_done.add("scancel")
            r = _run("scancel", h.external_id)
            done.append(f"scancel {h.external_id}" + (f" failed: {r.stderr.strip()}" if r.returncode else ""))
        return done

    def adopt(self, job_id, run_dir, state):
        sid = state.get("slurm_job_id")
        snap = self.snapshot(force=True)
        row = snap.get(str(sid)) if sid else None
        if row is None or row["state"] in FINAL:
            row = self.by_name(job_id)  # a crash between sbatch and writing its id
        if row is None:
            return None
        return self._handle(job_id, run_dir, row)

    def steer(self, h, request):
        out = []
        for cmd in scontrol_commands(h.external_id, request):
            r = _run(*cmd)
            out.append(" ".join(cmd) + (f" failed: {r.stderr.strip()}" if r.returncode else ""))
        self._snap_at = 0.0  # the next poll shows the new reason (JobHeldUser) or order
        return out

    def stop_now(self, h, hard):
        _run("scancel", *(["--signal=KILL"] if hard else []), h.external_id)


_ECHO = 'echo "slurm job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"\n'


def _preamble(what: str) -> str:
    """The batch script's start: this checkout's packages on the path, unbuffered output."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(procs.PACKAGES), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    return (f"#!/bin/bash\n# Tunedeck {what}, written by the spooler's Slurm runner\n"
            f"cd {shlex.quote(str(procs.PACKAGES))}\n{exports}")


def _now() -> str:
    from jobs.state import now_iso
    return now_iso()

