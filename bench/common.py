"""Bench helpers: a throwaway workspace with the embedded default."""
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jobs.init import init_workspace  # noqa: E402
from jobs.workspace import Workspace  # noqa: E402


def fresh_workspace() -> Workspace:
    home = Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))
    return init_workspace(Workspace(home), log=lambda *_: None)


def cleanup(ws: Workspace) -> None:
    shutil.rmtree(ws.home, ignore_errors=True)
