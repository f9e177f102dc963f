"""The Logs tab's level filter: every line of train.log gets a level, including lines the logger did not write.

train.log holds the trainer's own log lines ("2026-11-28 05:00:00 INFO name: message") and whatever the
libraries print to stdout/stderr: tqdm bars, Python warnings, tracebacks. A line without a level of its
own is a warning when it looks like one, a progress bar is INFO, and anything else (a traceback's body,
a wrapped message) belongs to the line above it.
"""
from __future__ import annotations

import re

from jobs import logformat

LEVELS = tuple(lv for lv in logformat.LEVELS if lv != "CRITICAL")  # a CRITICAL line is filtered as ERROR
# The trainer's own lines (jobs.logformat), and other loggers' "date time[.ms] LEVEL" lines in the same file.
_LOGGED = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)? (" + "|".join(logformat.LEVELS) + ") ")
_WARNING = re.compile(r"\b\w*Warning\b|^\s*warnings\.warn\(|^WARNING\b|^W\d{4} ")
_ERROR = re.compile(r"^Traceback \(most recent call last\)|^\w*(Error|Exception)\b|^ERROR\b|^E\d{4} ")
_PROGRESS = re.compile(r"\d+%\|| \d+/\d+ \[|it/s\]|s/it\]")


def level_of(line: str, previous: str) -> str:
    m = _LOGGED.match(line)
    if m:
        return "ERROR" if m.group(1) == "CRITICAL" else m.group(1)
    if _PROGRESS.search(line):
        return "INFO"
    if _ERROR.search(line):
        return "ERROR"
    if _WARNING.search(line):
        return "WARNING"
    return previous


def filter_lines(lines: list[str], levels, query: str = "") -> list[str]:
    """The lines whose level is in `levels` and that contain `query` (case-insensitive)."""
    wanted, q = set(levels), query.lower()
    shown, current = [], "INFO"
    for line in lines:
        current = level_of(line, current)
        if current in wanted and (not q or q in line.lower()):
            shown.append(line)
    return shown
