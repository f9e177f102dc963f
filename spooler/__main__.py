"""python -m spooler [--home DIR] [options]          run the daemon
python -m spooler status|submit|cancel|retry|delete|priority|hold|release ...     talk to the workspace
python -m spooler try|export ...     use a trained model"""
from __future__ import annotations

import argparse
import logging
import sys

from jobs.workspace import Workspace

from . import cli, use_cli
from .runners import RUNNERS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="workspace folder (default $TUNEDECK_HOME or ./workspace)")
    if argv and argv[0] in ("status", "submit", "cancel", "retry", "delete", "priority", "hold", "release", "try",
                            "export"):
        ap = argparse.ArgumentParser(prog="python -m spooler", parents=[common])
        sub = ap.add_subparsers(dest="cmd", required=True)
        s = sub.add_parser("status", parents=[common], help="running jobs, the queue, slots, recent failures")
        s.add_argument("--json", action="store_true")
        sub.add_parser("submit", parents=[common], help="validate a spec and drop it into the spool").add_argument("spec")
        sub.add_parser("cancel", parents=[common], help="cancel a queued or running job").add_argument("job_id")
        sub.add_parser("retry", parents=[common], help="requeue a failed or cancelled job").add_argument("job_id")
        sub.add_parser("delete", parents=[common], help="delete a job that is not running, with its folder") \
            .add_argument("job_id")
        pr = sub.add_parser("priority", parents=[common], help="set a queued job's priority (N or 'top')")
        pr.add_argument("job_id")
        pr.add_argument("value", help="an integer from -1000 to 1000 (higher runs sooner), or top")
        sub.add_parser("hold", parents=[common], help="keep a queued job from starting").add_argument("job_id")
        sub.add_parser("release", parents=[common], help="let a held job start again").add_argument("job_id")
        use_cli.add_parsers(sub, common)
        args = ap.parse_args(argv)
        ws = Workspace.at(args.home)
        if args.cmd in ("try", "export"):
            return use_cli.cmd_try(ws, args) if args.cmd == "try" else use_cli.cmd_export(ws, args)
        if args.cmd == "status":
            return cli.cmd_status(ws, args.json)
        if args.cmd == "submit":
            return cli.cmd_submit(ws, args.spec)
        if args.cmd == "cancel":
            return cli.cmd_cancel(ws, args.job_id)
        if args.cmd == "delete":
            return cli.cmd_delete(ws, args.job_id)
        if args.cmd in ("priority", "hold", "release"):
            return cli.cmd_steer(ws, args.cmd, args.job_id, getattr(args, "value", None))
        return cli.cmd_retry(ws, args.job_id)

    ap = argparse.ArgumentParser(prog="python -m spooler", parents=[common],
                                 description="Tunedeck's spooler daemon (subcommands: status, submit, cancel, retry, "
                                             "priority, hold, release, try, export).")
    ap.add_argument("--slots", type=int, default=1, help="CPU slots when there is no GPU (default 1)")
    ap.add_argument("--gpus", help="GPU indices to use, e.g. 0,1 (default: all detected)")
    ap.add_argument("--poll", action="store_true", help="poll the spool (NFS and other filesystems without inotify)")
    ap.add_argument("--rescan", type=float, default=2.0, help="seconds between full rescans of the spool")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds a non-parsing file must hold still before rejection")
    ap.add_argument("--grace", type=float, default=30.0, help="seconds between stop request, SIGTERM and SIGKILL on cancel")
    ap.add_argument("--auto-resume", action="store_true", help="requeue jobs interrupted by a crash, to resume")
    ap.add_argument("--stop-jobs", action="store_true", help="on shutdown, stop running jobs instead of leaving them")
    ap.add_argument("--sweep-every", type=float, default=60.0,
                    help="seconds between sweeps for temp files and half-built run folders left by a crash")
    ap.add_argument("--sweep-age", type=float, default=600.0, help="age in seconds at which such leftovers are removed")
    ap.add_argument("--trainer-cmd", help="command that runs one job (default: python -m trainer)")
    ap.add_argument("--try-idle", type=float, default=180.0, help="seconds a warm try worker waits before exiting")
    ap.add_argument("--runner", default="local", choices=RUNNERS,
                    help="where jobs run: local (default) processes on this machine, or slurm (sbatch)")
    ap.add_argument("--partition", help="slurm: the partition to submit to")
    ap.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                    help="slurm: one more sbatch argument, e.g. --sbatch-arg=--time=2:00:00 (repeatable)")
    args = ap.parse_args(argv)
    if args.slots < 1:
        ap.error(f"--slots must be ≥ 1 (got {args.slots})")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    from .daemon import Daemon, Options
    opts = Options(slots=args.slots, poll=args.poll, rescan=args.rescan, settle=args.settle, grace=args.grace,
                   auto_resume=args.auto_resume, stop_jobs=args.stop_jobs, runner=args.runner,
                   try_idle=args.try_idle, sweep_every=args.sweep_every, sweep_age=args.sweep_age)
    if args.gpus is not None:
        opts.gpus = [g.strip() for g in args.gpus.split(",") if g.strip()]
    elif args.slots and not _has_gpu():
        opts.gpus = []
    if args.trainer_cmd:
        opts.trainer_cmd = args.trainer_cmd.split()
    opts.partition, opts.sbatch_args = args.partition, args.sbatch_arg
    try:
        daemon = Daemon(Workspace.at(args.home), opts)
    except RuntimeError as e:  # e.g. --runner slurm without Slurm's commands
        print(f"error: {e}", file=sys.stderr)
        return 2
    daemon.run()
    return 0


def _has_gpu() -> bool:
    import shutil
    return shutil.which("nvidia-smi") is not None


if __name__ == "__main__":
    sys.exit(main())
