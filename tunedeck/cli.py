"""`tunedeck start|spooler|dashboard|submit|status|cancel|retry|init|validate|schema|train`.

Each subcommand runs an existing command line unchanged: `python -m spooler`, `python -m jobs`,
`python -m trainer` or `streamlit run dashboard/app.py`. This is the one module that knows all four parts.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SPOOLER = ("submit", "status", "cancel", "retry", "delete")
JOBS = ("init", "validate", "schema")
USAGE = """usage: tunedeck COMMAND [ARGS]

  start [SPOOLER ARGS]    create the workspace if needed, run the spooler and the dashboard (Ctrl-C stops both)
  spooler [ARGS]          the spooler daemon alone               (python -m spooler)
  dashboard [ARGS]        the dashboard alone                    (streamlit run dashboard/app.py)
  submit SPEC.json        validate a spec and drop it into the spool
  status [--json]         running jobs, the queue, slots, recent failures
  cancel JOB_ID           cancel a queued or running job
  retry JOB_ID            requeue a failed or cancelled job
  delete JOB_ID           delete a job that is not running, with its run folder
  init                    create the workspace with the embedded demo
  validate SPEC.json      every problem, or the normalized spec
  schema                  the JSON Schema of a job spec
  train RUN_DIR           run one job in the foreground             (python -m trainer)

Commands that use a workspace take --home DIR (default $TUNEDECK_HOME or ./workspace)."""


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
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "start":
        return start(rest)
    if cmd == "spooler":
        from spooler.__main__ import main as spooler_main
        return spooler_main(rest)
    if cmd in SPOOLER:
        from spooler.__main__ import main as spooler_main
        return spooler_main([cmd, *rest])
    if cmd in JOBS:
        from jobs.__main__ import main as jobs_main
        return jobs_main([cmd, *rest])
    if cmd == "train":
        from trainer.__main__ import main as trainer_main
        return trainer_main(rest)
    if cmd == "dashboard":
        return subprocess.call(dashboard_cmd(rest))
    print(f"tunedeck: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2
