"""Notifications: the `notify` entries of workspace/config.json and the delivery log, shared by the spooler (which
delivers) and the Settings page (which edits the entries and shows the last attempts).

    {"notify": [{"url": "https://hooks.slack.com/…", "on": ["succeeded", "failed", "cancelled"],
                 "format": "slack", "per": "run"}],
     "dashboard_url": "http://localhost:8501", "notify_retry_seconds": 600}

`per: "group"` sends one message when the last run of a sweep ends instead of one per run. Besides the final states,
`on` may list REGRESSED: one message when a run's benchmarks show a drop (the forgetting alarm's rule,
jobs.benchmarks.regressions), naming each suite and metric that dropped; always one per run, whatever `per` says.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from jobs.atomic import atomic_write_json, read_json
from jobs.state import FINAL
from jobs.workspace import Workspace

FORMATS = ("slack", "json")
PER = ("run", "group")
REGRESSED = "regressed"         # an event besides the final states: the run's benchmarks dropped (forgetting alarm)
EVENTS = (*FINAL, REGRESSED)    # what `on` may list
DEFAULT_DASHBOARD_URL = "http://localhost:8501"
DEFAULT_RETRY_SECONDS = 600.0   # how long a failing delivery is retried, with backoff, before it is given up
MAX_RETRY_SECONDS = 7 * 86400   # notify_retry_seconds may be at most a week
LOG_KEEP = 2000                 # log lines kept on disk (the Settings page shows the last 20)
HIDDEN = "***"                  # what Settings shows instead of the user info (user:token@) of a URL


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


@dataclass
class NotifyConfig:
    """config.json as the notifier uses it: the valid entries, and one line per problem (each naming the field, the
    value and what is allowed). `parse_error` is set when the file exists but is not a JSON object; then nothing in
    it is used and Settings refuses to save over it (its other keys would be lost)."""
    entries: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    dashboard_url: str = DEFAULT_DASHBOARD_URL
    parse_error: str | None = None
    raw: dict = field(default_factory=dict)
    urls: set[str] = field(default_factory=set)  # every target URL the file names, valid or not


def parse_config(ws: Workspace) -> tuple[dict, str | None]:
    """(config.json as a dict, None), or ({}, "config.json line L column C: reason") when it does not parse."""
    path = config_path(ws)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as e:
        return {}, f"{path} cannot be read: {getattr(e, 'strerror', None) or e}"
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        return {}, f"{path} is not valid JSON: line {e.lineno} column {e.colno}: {e.msg}"
    except (ValueError, RecursionError) as e:
        return {}, f"{path} is not valid JSON: {e}"
    if not isinstance(cfg, dict):
        return {}, f"{path} must hold a JSON object {{...}} (got {type(cfg).__name__})"
    return cfg, None


def load_config(ws: Workspace) -> NotifyConfig:
    """Read and check every notification field of config.json; bad fields are reported and left out, never raised."""
    cfg, error = parse_config(ws)
    if error:
        return NotifyConfig(parse_error=error, problems=[error])
    out = NotifyConfig(raw=cfg)
    out.entries, out.problems = check_entries(cfg.get("notify"), keep_valid=True)
    notify = cfg.get("notify")
    out.urls = {e["url"] for e in notify if isinstance(e, dict) and isinstance(e.get("url"), str)} \
        if isinstance(notify, list) else set()
    retry = cfg.get("notify_retry_seconds")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, (int, float)) or not math.isfinite(retry) \
                or not 0 < retry <= MAX_RETRY_SECONDS:
            out.problems.append(f"notify_retry_seconds: must be a number of seconds from 1 to {MAX_RETRY_SECONDS} "
                                f"(got {_shown(retry)}); using {DEFAULT_RETRY_SECONDS:g}")
        else:
            out.retry_seconds = float(retry)
    dash = cfg.get("dashboard_url")
    if dash is not None:
        why = url_problem(dash)
        if why:
            out.problems.append(f"dashboard_url: {why} (got {_shown(dash)}); links use {DEFAULT_DASHBOARD_URL}")
        else:
            out.dashboard_url = dash
    return out


def url_problem(url) -> str | None:
    """Why `url` is not an http(s) address the spooler can POST to, or None."""
    if not isinstance(url, str):
        return "must be an http:// or https:// address"
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        return "must be an http:// or https:// address without spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as e:
        return f"is not a valid address ({e})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// address"
    return None


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) or math.isfinite(value) \
        else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_entries(entries, keep_valid: bool = False) -> tuple[list[dict], list[str]]:
    """Normalized entries and one-line problems, each naming the field, the value and what is allowed.

    With any problem no entry is returned (what Save needs), unless `keep_valid`: then the entries without a problem
    are (what the notifier sends to while the others are reported)."""
    out, problems = [], []
    if entries is None:
        return out, problems
    if not isinstance(entries, list):
        return out, [f"notify: must be a list of entries (got {json.dumps(entries)[:60]})"]
    for i, e in enumerate(entries):
        where = f"notify[{i}]"
        before = len(problems)
        if not isinstance(e, dict):
            problems.append(f"{where}: must be an object with url, on, format (got {json.dumps(e)[:60]})")
            continue
        unknown = set(e) - {"url", "on", "format", "per"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: url, on, format, per")
        url = e.get("url")
        why = url_problem(url)
        if why:
            problems.append(f"{where}.url: {why} (got {hide_userinfo(url) if isinstance(url, str) else url!r})")
        on = e.get("on", list(FINAL))
        if isinstance(on, str):
            on = [s.strip() for s in on.split(",") if s.strip()]
        if not isinstance(on, list) or not on or any(s not in EVENTS for s in on):
            problems.append(f"{where}.on: must list events from {', '.join(EVENTS)} (got {on!r})")
        fmt = e.get("format", "json")
        if fmt not in FORMATS:
            problems.append(f"{where}.format: must be one of {', '.join(FORMATS)} (got {fmt!r})")
        per = e.get("per", "run")
        if per not in PER:
            problems.append(f"{where}.per: must be one of {', '.join(PER)} (got {per!r})")
        if len(problems) == before:
            out.append({"url": url, "on": on, "format": fmt, "per": per})
    return (out if not problems or keep_valid else []), problems


def write_notify(ws: Workspace, entries: list[dict], dashboard_url: str | None = None) -> list[str]:
    """Validate and save the entries into config.json, keeping its other keys. Returns the problems (none: saved)."""
    cfg, error = parse_config(ws)
    if error:  # saving over it would drop its other keys (model_roots, ...)
        return [f"{error}; fix the file by hand first (nothing was saved, so its other settings are kept)"]
    old = [e.get("url") for e in cfg.get("notify") or [] if isinstance(e, dict)] \
        if isinstance(cfg.get("notify"), list) else []
    entries = [{**e, "url": unhide_url(e["url"], old)} if isinstance(e, dict) and isinstance(e.get("url"), str)
               else e for e in entries]
    norm, problems = check_entries(entries)
    problems += [f"notify[{i}].url: the user info is hidden as {HIDDEN}; type it again (got {e['url']!r})"
                 for i, e in enumerate(entries) if isinstance(e, dict) and f"{HIDDEN}@" in str(e.get("url"))]
    if dashboard_url is not None:
        dashboard_url = dashboard_url.strip() or DEFAULT_DASHBOARD_URL
        why = url_problem(dashboard_url)
        if why:
            problems.append(f"dashboard_url: {why} (got {dashboard_url!r})")
    if problems:
        return problems
    cfg["notify"] = norm
    if dashboard_url is not None:
        cfg["dashboard_url"] = dashboard_url
    atomic_write_json(config_path(ws), cfg, private=True)  # webhook URLs may carry tokens
    return []


def _host(p) -> str:
    try:
        port = p.port
    except ValueError:
        port = None
    host = p.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def shown_url(url: str) -> str:
    """A webhook URL carries its secret in the path, and maybe a user:token@: show only the scheme and host."""
    try:
        p = urlsplit(url or "")
        host = _host(p)
    except ValueError:
        return "?"
    return f"{p.scheme}://{host}/…" if host else "?"


def hide_userinfo(url: str) -> str:
    """The URL with its user info (user:token@) replaced by ***@, for Settings; the path is kept so it can be edited."""
    try:
        p = urlsplit(url)
        if "@" not in p.netloc:
            return url
        return urlunsplit(p._replace(netloc=f"{HIDDEN}@{p.netloc.rsplit('@', 1)[1]}"))
    except ValueError:
        return url


def unhide_url(url: str, saved: list) -> str:
    """A URL edited in Settings back with the user info it hid: the saved URL that hides to the same text."""
    if f"{HIDDEN}@" not in url:
        return url
    return next((s for s in saved if isinstance(s, str) and hide_userinfo(s) == url), url)


def scrub(text: str, url: str) -> str:
    """An error message with the URL's secrets (user info, path) taken out, for logs and Settings."""
    try:
        p = urlsplit(url)
    except ValueError:
        return text.replace(url, shown_url(url))
    for secret in (url, p.netloc.rsplit("@", 1)[0] if "@" in p.netloc else "", p.path if len(p.path) > 1 else ""):
        if secret:
            text = text.replace(secret, "…")
    return text


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
