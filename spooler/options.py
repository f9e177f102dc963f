"""The daemon's options, declared once: the Options dataclass, `python -m spooler`'s flags and their help all come
from OPTIONS below."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, make_dataclass

from jobs.defaults import TRY_IDLE_SECONDS

from .runners import RUNNERS
from .runners.procs import default_trainer_cmd


@dataclass
class Opt:
    name: str            # the Options field; the flag is --name with - for _
    default: object
    help: str
    type: type | None = None  # None: a store_true flag (bool) or a string
    choices: tuple | None = None
    flag: bool = True    # False: set by code (derived from other flags), not a command-line option


OPTIONS: tuple[Opt, ...] = (
    Opt("slots", 1, "CPU slots when there is no GPU", int),
    Opt("gpus", None, "GPU indices to use, e.g. 0,1 (default: all detected)", str),
    Opt("poll", False, "poll the spool (NFS and other filesystems without inotify)"),
    Opt("rescan", 2.0, "seconds between full rescans of the spool", float),
    Opt("settle", 2.0, "seconds a non-parsing file must hold still before rejection", float),
    Opt("grace", 30.0, "seconds between stop request, SIGTERM and SIGKILL on cancel", float),
    Opt("auto_resume", False, "requeue jobs interrupted by a crash, to resume"),
    Opt("stop_jobs", False, "on shutdown, stop running jobs instead of leaving them"),
    Opt("sweep_every", 60.0, "seconds between sweeps for temp files and half-built run folders left by a crash", float),
    Opt("sweep_age", 600.0, "age in seconds at which such leftovers are removed", float),
    Opt("trainer_cmd", None, "command that runs one job (default: python -m trainer)", str),
    Opt("try_idle", TRY_IDLE_SECONDS, "seconds a warm try worker waits for the next prompt before exiting", float),
    Opt("runner", "local", "where jobs run: local processes on this machine, or slurm (sbatch)", str, tuple(RUNNERS)),
    Opt("partition", None, "slurm: the partition to submit to", str),
    Opt("sbatch_args", (), "slurm: one more sbatch argument, e.g. --sbatch-arg=--time=2:00:00 (repeatable)", str),
    Opt("tick", 0.25, "seconds between scheduling passes", float, flag=False),
)
_BY_NAME = {o.name: o for o in OPTIONS}


def _default(o: Opt):
    if o.name == "trainer_cmd":
        return field(default_factory=default_trainer_cmd)
    if o.name == "sbatch_args":
        return field(default_factory=list)
    return field(default=o.default)


Options = make_dataclass("Options", [(o.name, object, _default(o)) for o in OPTIONS])
Options.__doc__ = "What the daemon runs with: one field per entry of OPTIONS, with its default."


def _flag(o: Opt) -> str:
    return "--sbatch-arg" if o.name == "sbatch_args" else "--" + o.name.replace("_", "-")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    for o in OPTIONS:
        if not o.flag:
            continue
        shown = "" if o.default in (None, False, ()) else f" (default {o.default})"
        if o.type is None:
            ap.add_argument(_flag(o), dest=o.name, action="store_true", help=o.help)
        elif o.name == "sbatch_args":
            ap.add_argument(_flag(o), dest=o.name, action="append", default=[], metavar="ARG", help=o.help)
        else:
            ap.add_argument(_flag(o), dest=o.name, type=o.type, default=o.default, choices=o.choices,
                            help=o.help + shown)


def from_args(args: argparse.Namespace, has_gpu: bool) -> Options:
    """Options from parsed flags: --gpus and --trainer-cmd are split; no --gpus on a machine without one means CPU."""
    values = {o.name: getattr(args, o.name) for o in OPTIONS if o.flag}
    gpus, cmd = values.pop("gpus"), values.pop("trainer_cmd")
    opts = Options(**values)
    if gpus is not None:
        opts.gpus = [g.strip() for g in gpus.split(",") if g.strip()]
    elif not has_gpu:
        opts.gpus = []
    if cmd:
        opts.trainer_cmd = cmd.split()
    return opts
