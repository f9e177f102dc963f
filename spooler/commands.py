"""`python -m spooler COMMAND`: one table of subcommands. argparse, the help text and `tunedeck`'s dispatch all
read COMMANDS, so a new command is one entry here (its arguments and the function that runs it)."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from jobs.workspace import Workspace

from . import benchmark_cli, cli, use_cli


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Workspace, argparse.Namespace], int]


def _job_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id")


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _priority_args(p: argparse.ArgumentParser) -> None:
    _job_id(p)
    p.add_argument("value", help="an integer from -1000 to 1000 (higher runs sooner), or top")


COMMANDS: tuple[Command, ...] = (
    Command("status", "running jobs, the queue, slots, recent failures", _status_args,
            lambda ws, a: cli.cmd_status(ws, a.json)),
    Command("submit", "validate a spec and drop it into the spool", lambda p: p.add_argument("spec"),
            lambda ws, a: cli.cmd_submit(ws, a.spec)),
    Command("cancel", "cancel a queued or running job", _job_id, lambda ws, a: cli.cmd_cancel(ws, a.job_id)),
    Command("retry", "requeue a failed or cancelled job", _job_id, lambda ws, a: cli.cmd_retry(ws, a.job_id)),
    Command("delete", "delete a job that is not running, with its run folder", _job_id,
            lambda ws, a: cli.cmd_delete(ws, a.job_id)),
    Command("priority", "set a queued job's priority (N or 'top')", _priority_args,
            lambda ws, a: cli.cmd_steer(ws, "priority", a.job_id, a.value)),
    Command("hold", "keep a queued job from starting", _job_id, lambda ws, a: cli.cmd_steer(ws, "hold", a.job_id)),
    Command("release", "let a held job start again", _job_id, lambda ws, a: cli.cmd_steer(ws, "release", a.job_id)),
    Command("try", "send a prompt to trained runs (and the base model); print answers", use_cli.try_arguments,
            use_cli.cmd_try),
    Command("export", "queue a merged-model export of a run", use_cli.export_arguments, use_cli.cmd_export),
    Command("benchmark", "queue benchmark suites (base vs tuned, lm-eval) on finished runs",
            benchmark_cli.arguments, benchmark_cli.cmd_benchmark),
)
NAMES = tuple(c.name for c in COMMANDS)


def parser(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m spooler", parents=[common])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for c in COMMANDS:
        c.arguments(sub.add_parser(c.name, parents=[common], help=c.help))
    return ap


def run(argv: list[str], common: argparse.ArgumentParser) -> int:
    args = parser(common).parse_args(argv)
    by_name = {c.name: c for c in COMMANDS}
    return by_name[args.cmd].run(Workspace.at(args.home), args)
