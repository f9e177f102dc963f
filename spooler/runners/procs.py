"""Trainer processes: launch in their own session, recognise them after a restart, stop them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from jobs.rundir import RunDir

# The folder that holds the installed packages: the trainer starts there, so `python -m trainer` runs the same
# Tunedeck as this spooler (an editable install's checkout, or site-packages).
PACKAGES = Path(__file__).resolve().parents[2]
REPO = PACKAGES  # the name older code used


def default_trainer_cmd() -> list[str]:
    cmd = os.environ.get("TUNEDECK_TRAINER_CMD")
    return cmd.split() if cmd else [sys.executable, "-m", "trainer"]


def distributed_cmd(cmd: list[str], nproc: int, nodes: int = 1, rdzv: list[str] | tuple = ()) -> list[str]:
    """The trainer command under torchrun when a job has several processes (DDP); unchanged for one.

    `python -m trainer` becomes `python -m torch.distributed.run --standalone --nproc_per_node=k -m trainer`;
    a script keeps its path; another program runs with --no-python. Several nodes use a c10d rendezvous instead.
    """
    if nproc <= 1 and nodes <= 1:
        return list(cmd)
    where = ["--standalone"] if nodes <= 1 else [f"--nnodes={nodes}", "--rdzv_backend=c10d", *rdzv]
    if Path(cmd[0]).name.startswith("python"):
        return [cmd[0], "-m", "torch.distributed.run", *where, f"--nproc_per_node={nproc}", *cmd[1:]]
    return [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc_per_node={nproc}", "--no-python", *cmd]


def launch(cmd: list[str], run_dir: Path, resume: bool, gpu: str | None, nproc: int = 1) -> subprocess.Popen:
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = gpu if gpu is not None else ""
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    log = open(RunDir(run_dir).log, "ab")  # the trainer's stdout/stderr go to a file, never to a pipe
    try:
        args = distributed_cmd([*cmd, str(run_dir), *(["--resume"] if resume else [])], nproc)
        return subprocess.Popen(args, cwd=PACKAGES, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()


def spawn(argv: list[str], log_path: Path, gpu: str | None) -> subprocess.Popen:
    """A helper process (try worker, export) in its own session with the slot's GPU, output appended to log_path."""
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = gpu if gpu is not None else ""
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, cwd=PACKAGES, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def alive(pid: int | None, started: float | None) -> bool:
    """True when pid runs and is the same process (its start time matches), not a reused pid."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(p.create_time() - float(started)) < 0.05
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def detect_gpus() -> list[str]:
    """GPU indices, from NVML when it is installed, else from torch."""
    try:
        import pynvml  # type: ignore
        pynvml.nvmlInit()
        return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # noqa: BLE001 - no NVML: ask torch
        pass
    try:
        import torch
        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001
        return []


SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGKILL: "SIGKILL", signal.SIGINT: "SIGINT"}
