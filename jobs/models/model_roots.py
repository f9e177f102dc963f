"""Where the browser may register a model by path: folders under the model roots only.

The roots are the workspace's models/ folder plus the absolute folders listed in workspace/config.json:

    {"model_roots": ["/data/models", "/mnt/shared/hf"]}

Any other folder needs a shell: write models/<name>.json with {"path": ...}. Outside the roots the answer is the same
whether or not the path exists, so the page cannot be used to probe the server's filesystem.
"""
from __future__ import annotations

import os
from pathlib import Path

from jobs.atomic import read_json
from jobs.workspace import Workspace

CONFIG_FILE = "config.json"


def model_roots(ws: Workspace) -> list[Path]:
    """models/ first, then each absolute entry of config.json's model_roots, symlinks resolved."""
    roots = [ws.models]
    cfg = read_json(ws.home / CONFIG_FILE)
    listed = cfg.get("model_roots") if isinstance(cfg, dict) else None
    if isinstance(listed, list):
        roots += [Path(r) for r in listed if isinstance(r, str) and os.path.isabs(r)]
    out: list[Path] = []
    for r in roots:
        real = Path(os.path.realpath(r))
        if real not in out:
            out.append(real)
    return out


def outside_roots_message(ws: Workspace) -> str:
    return ("from the browser, only folders under the model roots can be registered: "
            + ", ".join(str(r) for r in model_roots(ws))
            + ". To use a folder elsewhere, write workspace/models/<name>.json with {\"path\": \"/abs/path\"} "
            "from a shell, or add its parent to \"model_roots\" in workspace/config.json")


def under_model_roots(ws: Workspace, path: str) -> Path | None:
    """The real path of `path` when it is absolute and lies inside a model root (after resolving symlinks and
    '..'), else None. It never says whether the path exists."""
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        return None
    raw = path.strip()
    if not os.path.isabs(raw):
        return None
    real = Path(os.path.realpath(raw))
    for root in model_roots(ws):
        if real != root and real.is_relative_to(root):
            return real
    return None
