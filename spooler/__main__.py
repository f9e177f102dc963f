"""python -m spooler [--home DIR] [options]     run the daemon (options: spooler/options.py)
python -m spooler COMMAND ...                  talk to the workspace (commands: spooler/commands.py)"""
from __future__ import annotations

import argparse
import shutil
import sys

from jobs import logformat
from jobs.workspace import Workspace

from . import commands, options


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="workspace folder (default $TUNEDECK_HOME or ./workspace)")
    if argv and argv[0] in commands.NAMES:
        return commands.run(argv, common)

    ap = argparse.ArgumentParser(prog="python -m spooler", parents=[common],
                                 description="Tunedeck's spooler daemon (subcommands: "
                                             f"{', '.join(commands.NAMES)}).")
    options.add_arguments(ap)
    args = ap.parse_args(argv)
    if args.slots < 1:
        ap.error(f"--slots must be ≥ 1 (got {args.slots})")
    logformat.configure()
    from .daemon import Daemon
    opts = options.from_args(args, has_gpu=shutil.which("nvidia-smi") is not None)
    try:
        daemon = Daemon(Workspace.at(args.home), opts)
    except RuntimeError as e:  # e.g. --runner slurm without Slurm's commands
        print(f"error: {e}", file=sys.stderr)
        return 2
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
