"""Bench helpers: a throwaway workspace with the embedded default."""
import shutil
import tempfile
from pathlib import Path

from jobs.init import init_workspace  # the installed package (bin/setup: pip install -e .)
from jobs.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


def fresh_workspace() -> Workspace:
    home = Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))
    return init_workspace(Workspace(home), log=lambda *_: None)


def cleanup(ws: Workspace) -> None:
    shutil.rmtree(ws.home, ignore_errors=True)
