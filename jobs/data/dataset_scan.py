"""Stream a JSONL upload once: true line numbers, a line-length cap, format detection, row checks and stats.

Nothing holds the whole file: lines are read one at a time (at most MAX_LINE_BYTES each), written on to the
destination as they pass, and the stats keep counters, not rows.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from jobs.data import formats, jsonl

MAX_LINE_BYTES = int(os.environ.get("TUNEDECK_MAX_LINE_BYTES", 8 << 20))  # one row; a 50 MB line is an error


@dataclass
class ScanReport:
    rows: int = 0
    columns: list = field(default_factory=list)
    format: str = "column"          # the format used for the checks (override or detected)
    detected: str = "column"
    errors: list = field(default_factory=list)       # "line N: ..." strings
    turns: Counter = field(default_factory=Counter)  # turns per row -> rows
    roles: Counter = field(default_factory=Counter)
    tool_rows: int = 0

    def stats(self) -> dict:
        return {"rows": self.rows, "format": self.format, "detected": self.detected, "columns": self.columns,
                "turns": turn_summary(self.turns), "roles": dict(self.roles), "tool_rows": self.tool_rows}


def turn_summary(turns: Counter) -> dict | None:
    """min / median / max turns per row from a histogram."""
    if not turns:
        return None
    keys = sorted(turns)
    total, half, seen, median = sum(turns.values()), sum(turns.values()) / 2, 0, keys[0]
    for k in keys:
        seen += turns[k]
        if seen >= half:
            median = k
            break
    return {"min": keys[0], "median": median, "max": keys[-1], "rows": total}


class LineTooLong(ValueError):
    pass


def iter_lines(fh: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """(line number, raw bytes) for every line; bytes is None for a line longer than the cap (its rest skipped)."""
    n = 0
    while True:
        line = fh.readline(max_line_bytes + 1)
        if not line:
            return
        n += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while True:  # skip the rest of the over-long line without holding it
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield n, None
            continue
        yield n, line


def decode_line(n: int, raw: bytes) -> tuple[object | None, str | None]:
    """(row, None) or (None, "line N: problem"), by jobs.data.jsonl's one policy; a blank line is (None, None)."""
    if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        return None, None
    try:
        return jsonl.parse_line(raw, n), None
    except jsonl.BadLine as e:
        return None, str(e)


def scan(fh: IO[bytes], fmt: str = "auto", sink: IO[bytes] | None = None, max_errors: int = 20,
         max_line_bytes: int = MAX_LINE_BYTES) -> ScanReport:
    """Check every line of a JSONL stream; copy it to `sink` as it goes. `fmt` 'auto' detects from the first rows."""
    rep = ScanReport()
    pending: list[tuple[int, dict]] = []   # the first rows, held only until the format is known
    decided = False

    def check(n: int, row: dict) -> None:
        if not rep.columns:
            rep.columns = list(row)
        if rep.format == "column":
            missing = [c for c in rep.columns if c not in row]
            if missing:
                rep.errors.append(f"line {n}: missing key(s) {', '.join(missing)} that the first row has")
                return
        problem = formats.check_row(row, rep.format)
        if problem:
            rep.errors.append(f"line {n}: {problem}")
            return
        if rep.format in formats.CHAT_FORMATS:
            conv = formats.conversation(row, rep.format)
            rep.turns[len(conv["messages"])] += 1
            rep.roles.update(m["role"] for m in conv["messages"])
            rep.tool_rows += formats.has_tools(conv)

    def decide() -> None:
        nonlocal decided
        rep.detected = formats.detect([r for _, r in pending])
        rep.format = rep.detected if fmt in (None, "", "auto") else fmt
        decided = True
        for n, row in pending:
            check(n, row)
        pending.clear()

    for n, raw in iter_lines(fh, max_line_bytes):
        if raw is None:
            rep.errors.append(f"line {n}: longer than {max_line_bytes / (1 << 20):g} MiB, the cap for one row; "
                              "split or shorten it")
        else:
            if sink is not None:
                sink.write(raw[3:] if n == 1 and raw.startswith(b"\xef\xbb\xbf") else raw)
                if not raw.endswith(b"\n"):
                    sink.write(b"\n")
            row, problem = decode_line(n, raw)
            if problem:
                rep.errors.append(problem)
            elif row is not None:
                rep.rows += 1
                if decided:
                    check(n, row)
                else:
                    pending.append((n, row))
                    if len(pending) >= formats.DETECT_ROWS:
                        decide()
        if len(rep.errors) >= max_errors:
            rep.errors.append("… stopped after the first errors")
            break
    if not decided:
        decide()
    if rep.rows == 0 and not rep.errors:
        rep.errors.append("the file has no rows")
    return rep


def head_rows(path, n: int = formats.DETECT_ROWS) -> list[dict]:
    """The first n rows of a registered dataset (bad lines skipped), read line by line."""
    rows: list[dict] = []
    try:
        with open(path, "rb") as fh:
            for i, raw in iter_lines(fh):
                row, _ = decode_line(i, raw) if raw is not None else (None, None)
                if isinstance(row, dict):
                    rows.append(row)
                if len(rows) >= n:
                    break
    except OSError:
        pass
    return rows
