"""Rules for short user text that is shown as a label: job names.

A name is shown in tables, titles, logs and file listings, so it must not carry characters that change how the
text around it looks: control characters (C0, DEL, C1), bidirectional overrides and isolates (U+202E turns the rest
of a line around), line and paragraph separators (U+2028, U+2029), and it must show at least one visible character
(a name of only zero-width spaces looks empty).
"""
from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 120
# Invisible format characters that are legitimate inside words (joiners in Indic scripts and emoji sequences).
_JOINERS = {"\u200c", "\u200d"}


def name_problem(name: object, max_chars: int = MAX_NAME_CHARS) -> str | None:
    """Why `name` cannot be a job name, or None."""
    if not isinstance(name, str):
        return f"must be a string of at most {max_chars} characters"
    if len(name) > max_chars:
        return f"must be at most {max_chars} characters (it has {len(name)})"
    for ch in name:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return f"must not contain control characters (found U+{ord(ch):04X})"
        if cat in ("Zl", "Zp"):
            return f"must not contain line or paragraph separators (found U+{ord(ch):04X})"
        if cat == "Cf" and ch not in _JOINERS:
            return f"must not contain invisible formatting or text-direction characters (found U+{ord(ch):04X})"
        if cat in ("Cs", "Co", "Cn"):
            return f"must not contain unassigned, private-use or surrogate code points (found U+{ord(ch):04X})"
    if not any(not unicodedata.category(ch).startswith(("Z", "C")) for ch in name):
        return "must contain at least one visible character"
    return None


def escape_invisible(text: str) -> str:
    """`text` with every control, format and separator character written as \\uXXXX, for messages that quote input."""
    return "".join(f"\\u{ord(ch):04x}" if ch not in _JOINERS and unicodedata.category(ch) in
                   ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") else ch for ch in text)
