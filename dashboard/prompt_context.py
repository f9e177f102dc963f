"""The prompt conversation behind a sample or evaluation row, as plain text for the page.

samples.jsonl and evaluation_rows.jsonl keep the readable prompt (the last user turn) and, when the model saw more
(a system turn, earlier turns, tool results, tools), the whole prompt conversation as `messages` and `tools`.
"""
from __future__ import annotations

import json


def turns(rec: dict) -> list[dict]:
    msgs = rec.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


def text(rec: dict, tools_label: str = "tools") -> str:
    """'role: content' per turn (tool calls as name(arguments)), then the tool names; '' without a conversation."""
    lines = []
    for m in turns(rec):
        body = m.get("content") if isinstance(m.get("content"), str) else ""
        for call in m.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                args = fn.get("arguments")
                body += f"{' ' if body else ''}→ {fn.get('name')}({json.dumps(args, ensure_ascii=False)})"
        lines.append(f"{m.get('role', '?')}: {body}")
    names = [t.get("function", t).get("name") for t in rec.get("tools") or [] if isinstance(t, dict)]
    names = [str(n) for n in names if n]
    if lines and names:
        lines.append(f"{tools_label}: {', '.join(names)}")
    return "\n".join(lines)
