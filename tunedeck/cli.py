"""`tunedeck COMMAND`: start, spooler, dashboard, train, and every command of `python -m spooler` and `python -m jobs`.

Each subcommand runs an existing command line unchanged: `python -m spooler`, `python -m jobs`,
`python -m trainer` or `streamlit run dashboard/app.py`. This is the one module that knows all four parts.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

OWN = {  # tunedeck's own commands; the others are the tables of python -m spooler and python -m jobs
    "start": ("[SPOOLER ARGS]", "create the workspace if needed, run the spooler and the dashboard (Ctrl-C stops both)"),
    "spooler": ("[ARGS]", "the spooler daemon alone (python -m spooler)"),
    "dashboard": ("[ARGS]", "the dashboard alone (streamlit run dashboard/app.py)"),
    "train": ("RUN_DIR", "run one job in the foreground (python -m trainer)"),
}


def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(spooler commands, jobs commands), name -> help, from their own tables."""
    from jobs.__main__ import COMMANDS as jobs_commands
    from spooler.commands import COMMANDS as spooler_commands
    return {c.name: c.help for c in spooler_commands}, dict(jobs_commands)


def usage() -> str:
    spooler_cmds, jobs_cmds = _tables()
    rows = [(f"{n} {a}", h) for n, (a, h) in OWN.items()]
    rows += [(n, h) for n, h in {**spooler_cmds, **jobs_cmds}.items()]
    from jobs.benchmarks_cli import SUBCOMMANDS
    rows.append((f"benchmark {'|'.join(SUBCOMMANDS)}", "register or list workspace benchmarks (python -m jobs benchmark)"))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"  {c.ljust(width)}{h}" for c, h in rows]
    return ("usage: tunedeck COMMAND [ARGS]   (COMMAND --help for its arguments)\n\n" + "\n".join(lines) +
            "\n\nCommands that use a workspace take --home DIR (default $TUNEDECK_HOME or ./workspace).")


def dashboard_app() -> Path:
    import dashboard
    return Path(dashboard.__file__).resolve().parent / "app.py"


def dashboard_cmd(args: list[str]) -> list[str]:
    """streamlit on 127.0.0.1:8501 unless TUNEDECK_ADDRESS / TUNEDECK_PORT say otherwise.

    The options of .streamlit/config.toml are repeated here, because streamlit reads that file only from the
    current directory and `tunedeck start` may run from anywhere."""
    return [sys.executable, "-m", "streamlit", "run", str(dashboard_app()),
            "--server.address", os.environ.get("TUNEDECK_ADDRESS", "127.0.0.1"),
            "--server.port", os.environ.get("TUNEDECK_PORT", "8501"),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--runner.magicEnabled", "false", "--runner.postScriptGC", "false",
            "--client.toolbarMode", "minimal", *args]


def _home_env(args: list[str]) -> list[str]:
    """--home DIR before the spooler's own options becomes TUNEDECK_HOME, so the dashboard sees it too."""
    if "--home" in args:
        i = args.index("--home")
        if i + 1 < len(args):
            os.environ["TUNEDECK_HOME"] = str(Path(args[i + 1]).expanduser().resolve())
            return args[:i] + args[i + 2:]
    return args


def start(args: list[str]) -> int:
    args = _home_env(args)
    os.environ.setdefault("TUNEDECK_HOME", str(Path("workspace").resolve()))
    from jobs.init import init_workspace
    from jobs.workspace import Workspace
    init_workspace(Workspace.at(None))
    procs = [subprocess.Popen([sys.executable, "-m", "spooler", *args]), subprocess.Popen(dashboard_cmd([]))]
    print(f"Tunedeck: dashboard at http://localhost:{os.environ.get('TUNEDECK_PORT', '8501')}  "
          f"workspace {os.environ['TUNEDECK_HOME']}  (Ctrl-C stops)", flush=True)

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, stop)
    # SIGINT too, set here explicitly: a shell starts a background job (`tunedeck start &`) with SIGINT ignored, and
    # then Python raises no KeyboardInterrupt, so `kill -INT` did nothing. Ctrl-C also reaches the children at once.
    signal.signal(signal.SIGINT, stop)
    try:
        while all(p.poll() is None for p in procs):
            try:
                procs[0].wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    stop()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    spooler_cmds, jobs_cmds = _tables()
    if cmd == "start":
        return start(rest)
    if cmd == "spooler":
        from spooler.__main__ import main as spooler_main
        return spooler_main(rest)
    from jobs.benchmarks_cli import SUBCOMMANDS as BENCH_SUBCOMMANDS
    if cmd == "benchmark" and rest[:1] and rest[0] in BENCH_SUBCOMMANDS:  # the one name both tables use
        from jobs.__main__ import main as jobs_main
        return jobs_main([cmd, *rest])
    if cmd in spooler_cmds:
        from spooler.__main__ import main as spooler_main
        return spooler_main([cmd, *rest])
    if cmd in jobs_cmds:
        from jobs.__main__ import main as jobs_main
        return jobs_main([cmd, *rest])
    if cmd == "train":
        from trainer.__main__ import main as trainer_main
        return trainer_main(rest)
    if cmd == "dashboard":
        return subprocess.call(dashboard_cmd(rest))
    print(f"tunedeck: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
    return 2
