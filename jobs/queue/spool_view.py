"""What sits in the spool, for viewers: specs waiting for the spooler, and recent rejections with their reasons."""
from __future__ import annotations

import json
import os
from pathlib import Path

from jobs.atomic import atomic_write_json, read_json
from jobs.workspace import Workspace

DISMISSED = ".dismissed.json"   # in spool/rejected/: the rejections a viewer has acknowledged
MAX_SHOWN = 200
ERROR_SUFFIX = ".error.txt"


def waiting_specs(ws: Workspace, limit: int = MAX_SHOWN) -> list[dict]:
    """Spec files still in incoming/ (the spooler is down, or has not picked them up yet), oldest first."""
    out = []
    try:
        entries = [e for e in os.scandir(ws.incoming) if e.name.endswith(".json") and not e.name.startswith(".")]
    except OSError:
        return out
    for e in sorted(entries, key=lambda e: _mtime(e))[:limit]:
        name = e.name[:-5]
        try:
            if e.is_file(follow_symlinks=False) and e.stat().st_size <= 1 << 20:
                spec = json.loads(Path(e.path).read_bytes())
                if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                    name = spec["name"]
        except (OSError, ValueError, RecursionError):
            pass  # not parseable (yet): the file name stands in
        out.append({"file": e.name, "name": name, "mtime": _mtime(e)})
    return out


def rejections(ws: Workspace, limit: int = MAX_SHOWN, include_dismissed: bool = False) -> list[dict]:
    """Rejected specs, newest first: {file, reason, mtime}."""
    dismissed = set() if include_dismissed else set(_dismissed(ws))
    try:
        entries = [e for e in os.scandir(ws.rejected) if e.name.endswith(ERROR_SUFFIX)]
    except OSError:
        return []
    out = []
    for e in sorted(entries, key=lambda e: -_mtime(e)):
        file = e.name[: -len(ERROR_SUFFIX)]
        if file in dismissed:
            continue
        try:
            with open(e.path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(4000)
        except OSError:
            continue
        lines = text.splitlines()
        reason = "\n".join(lines[1:]).strip() if len(lines) > 1 and lines[0].endswith("was rejected:") else text.strip()
        out.append({"file": file, "reason": reason, "mtime": _mtime(e)})
        if len(out) >= limit:
            break
    return out


def dismiss(ws: Workspace, files: list[str]) -> None:
    """Hide these rejections from viewers. The rejected files stay in spool/rejected/."""
    current = _dismissed(ws)
    present = {r["file"] for r in rejections(ws, limit=10_000, include_dismissed=True)}
    keep = sorted((set(current) | set(files)) & present)  # forget entries whose files are gone
    atomic_write_json(ws.rejected / DISMISSED, keep)


def _dismissed(ws: Workspace) -> list[str]:
    data = read_json(ws.rejected / DISMISSED, [])
    return [x for x in data if isinstance(x, str)] if isinstance(data, list) else []


def _mtime(entry) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return 0.0
