"""The one JSONL reader: uploads, previews, the registry, the trainer and samples.jsonl all read through it.

One error policy: every line either yields its value or a `BadLine` naming its true line number (counted in the
file, blank lines included) and why. A leading byte-order mark is skipped. Each line is decoded on its own, so
invalid UTF-8 is reported on the line that holds it. A line nested deeper than MAX_DEPTH is a BadLine, never a
RecursionError. Callers choose what a bad line means: the trainer stops (`read`), an upload check collects them
(`scan`), a preview shows them.
"""
from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 100  # far deeper than any real dataset row; well below the parser's recursion limit
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


class BadLine(ValueError):
    """A line that is not what the reader expects. str(): "line N: reason"."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _depth(raw: bytes) -> int:
    """Deepest nesting of arrays and objects in one JSON line (brackets inside strings do not count)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def parse_line(raw: bytes, line: int, objects: bool = True) -> Any:
    """One line's value, or raise BadLine. `objects`: the value must be a JSON object."""
    raw = raw.rstrip(b"\r\n")  # the line's end is no part of its JSON: a cut-off line reads as unterminated
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadLine(line, f"not UTF-8 text ({e.reason} at column {e.start + 1}); save the file as UTF-8") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise BadLine(line, f"nested deeper than {MAX_DEPTH} levels of arrays or objects")
    try:
        value = json.loads(text)
    except RecursionError:  # unreachable after the depth check, kept so no reader ever sees one
        raise BadLine(line, f"nested deeper than {MAX_DEPTH} levels of arrays or objects") from None
    except ValueError as e:
        msg = str(getattr(e, "msg", e)).removesuffix(" at").strip()  # json's "Invalid control character at"
        raise BadLine(line, f"invalid JSON ({msg} at column {getattr(e, 'colno', '?')})") from None
    if objects and not isinstance(value, dict):
        raise BadLine(line, f"expected a JSON object, got {_json_type(value)}")
    return value


def _json_type(v: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _lines(source) -> Iterator[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield from io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            yield from fh
    else:  # an open binary file
        yield from source


def scan(source: str | os.PathLike | bytes | BinaryIO, objects: bool = True) -> Iterator[tuple[int, Any]]:
    """(line number, value or BadLine) for every non-blank line. Raises only OSError from opening the file."""
    for n, raw in enumerate(_lines(source), 1):
        if n == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            yield n, parse_line(raw, n, objects)
        except BadLine as e:
            yield n, e


def read(source, limit: int | None = None, objects: bool = True) -> list:
    """Every row, strictly: the first bad line raises its BadLine. `limit` stops after that many rows."""
    rows = []
    for _, value in scan(source, objects):
        if isinstance(value, BadLine):
            raise value
        rows.append(value)
        if limit is not None and 0 < limit <= len(rows):
            break
    return rows


def rows(source, limit: int | None = None, objects: bool = True) -> list:
    """The good rows only; bad lines are skipped (for files we wrote ourselves, e.g. samples.jsonl mid-write)."""
    out = []
    try:
        for _, value in scan(source, objects):
            if not isinstance(value, BadLine):
                out.append(value)
                if limit is not None and 0 < limit <= len(out):
                    break
    except OSError:
        return out
    return out
