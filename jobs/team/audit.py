"""workspace/audit.jsonl: one line per action (submit, cancel, retry, delete, hold, release, priority, export,
register, settings): who, when, from where, what, on which job, and whether it was allowed.

Each line is appended with a single write(2) of under 4 KiB to a file opened with O_APPEND, so concurrent writers
and a kill -9 leave whole lines only; the file is never rewritten."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jobs.data import jsonl
from jobs.workspace import Workspace

SOURCES = ("dashboard", "cli", "spool", "slurm", "spooler")
MAX_LINE = 4000  # bytes; below PIPE_BUF-sized writes that O_APPEND keeps whole


def path(ws: Workspace) -> Path:
    return ws.home / "audit.jsonl"


def record(ws: Workspace, who: str | None, source: str, action: str, job: str | None = None,
           allowed: bool = True, detail: str | None = None) -> dict:
    entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "ts": round(time.time(), 3), "who": who,
             "from": source, "action": action, "job": job, "allowed": allowed}
    if detail:
        entry["detail"] = detail
    line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    if len(line.encode()) > MAX_LINE:  # a long reason is cut, never the line
        entry["detail"] = (detail or "")[:200] + "…"
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    data = (line + "\n").encode()
    fd = os.open(path(ws), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # the umask decides, as for any shared file
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return entry


def recent(ws: Workspace, n: int = 200, job: str | None = None) -> list[dict]:
    """The last n lines (of one job, when given), oldest first; a broken line is skipped."""
    rows = [r for r in jsonl.rows(path(ws), limit=10**6) if isinstance(r, dict)]
    if job:
        rows = [r for r in rows if r.get("job") == job]
    return rows[-n:]
