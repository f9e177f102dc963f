"""Notifications: the `notify` entries of workspace/config.json and the delivery log, shared by the spooler (which
delivers) and the Settings page (which edits the entries and shows the last attempts).

    {"notify": [{"url": "https://hooks.slack.com/…", "on": ["succeeded", "failed", "cancelled"],
                 "format": "slack", "per": "run"}],
     "dashboard_url": "http://localhost:8501", "notify_retry_seconds": 600}

`per: "group"` sends one message when the last run of a sweep ends instead of one per run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from jobs.atomic import atomic_write_json, read_json
from jobs.state import FINAL
from jobs.workspace import Workspace

FORMATS = ("slack", "json")
PER = ("run", "group")
DEFAULT_DASHBOARD_URL = "http://localhost:8501"
DEFAULT_RETRY_SECONDS = 600.0   # how long a failing delivery is retried, with backoff, before it is given up
LOG_KEEP = 2000                 # log lines kept on disk (the Settings page shows the last 20)


def config_path(ws: Workspace) -> Path:
    return ws.home / "config.json"


def notify_dir(ws: Workspace) -> Path:
    """Claims (one file per delivery, so a restart or a second daemon never sends twice) and log.jsonl."""
    return ws.home / "notify"


def log_path(ws: Workspace) -> Path:
    return notify_dir(ws) / "log.jsonl"


def read_config(ws: Workspace) -> dict:
    cfg = read_json(config_path(ws), {})
    return cfg if isinstance(cfg, dict) else {}


def check_entries(entries) -> tuple[list[dict], list[str]]:
    """Normalized entries and one-line problems, each naming the field, the value and what is allowed."""
    out, problems = [], []
    if entries is None:
        return out, problems
    if not isinstance(entries, list):
        return out, [f"notify: must be a list of entries (got {json.dumps(entries)[:60]})"]
    for i, e in enumerate(entries):
        where = f"notify[{i}]"
        if not isinstance(e, dict):
            problems.append(f"{where}: must be an object with url, on, format (got {json.dumps(e)[:60]})")
            continue
        unknown = set(e) - {"url", "on", "format", "per"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: url, on, format, per")
        url = e.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"{where}.url: must be an http:// or https:// address (got {url!r})")
        on = e.get("on", list(FINAL))
        if isinstance(on, str):
            on = [s.strip() for s in on.split(",") if s.strip()]
        if not isinstance(on, list) or not on or any(s not in FINAL for s in on):
            problems.append(f"{where}.on: must list states from {', '.join(FINAL)} (got {on!r})")
        fmt = e.get("format", "json")
        if fmt not in FORMATS:
            problems.append(f"{where}.format: must be one of {', '.join(FORMATS)} (got {fmt!r})")
        per = e.get("per", "run")
        if per not in PER:
            problems.append(f"{where}.per: must be one of {', '.join(PER)} (got {per!r})")
        out.append({"url": url, "on": on, "format": fmt, "per": per})
    return (out if not problems else []), problems


def write_notify(ws: Workspace, entries: list[dict], dashboard_url: str | None = None) -> list[str]:
    """Validate and save the entries into config.json, keeping its other keys. Returns the problems (none: saved)."""
    norm, problems = check_entries(entries)
    if problems:
        return problems
    cfg = read_config(ws)
    cfg["notify"] = norm
    if dashboard_url is not None:
        cfg["dashboard_url"] = dashboard_url.strip() or DEFAULT_DASHBOARD_URL
    atomic_write_json(config_path(ws), cfg)
    return []


def shown_url(url: str) -> str:
    """A webhook URL carries its secret in the path: show only the scheme and host."""
    p = urlsplit(url or "")
    return f"{p.scheme}://{p.netloc}/…" if p.netloc else "?"


def append_log(ws: Workspace, entry: dict) -> None:
    """One JSON line per attempt. O_APPEND keeps lines from two daemons whole; trimmed now and then."""
    path = log_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    try:
        if path.stat().st_size > 400 * LOG_KEEP:
            lines = path.read_text(encoding="utf-8").splitlines()[-LOG_KEEP:]
            from jobs.atomic import atomic_write_text
            atomic_write_text(path, "\n".join(lines) + "\n")
    except OSError:
        pass


def recent_attempts(ws: Workspace, n: int = 20) -> list[dict]:
    """The last n delivery attempts, newest first."""
    try:
        with open(log_path(ws), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    out = []
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            out.append(row)
        if len(out) >= n:
            break
    return out
