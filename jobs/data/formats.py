"""Dataset formats: detection from the first rows, one conversation shape for all of them, and row checks.

Recognised formats (LLaMA-Factory / TRL / OpenAI spellings):
- column: a prompt column and an answer column (prompt_input_column / prompt_output_column).
- alpaca: instruction / input / output, optional system and history ([[user, assistant], ...]).
- messages: OpenAI chat, messages [{role: system|user|assistant|tool, content, tool_calls?}], optional tools.
- sharegpt: conversations [{from: human|gpt|system|function_call|observation, value}], optional system and tools
  (a JSON string, as LLaMA-Factory writes it).
- preference: prompt / chosen / rejected, each a string or a list of messages.
- unpaired_preference: prompt / completion / label (true: a good answer, false: a bad one), as KTO reads it.
- text: raw text, {"text": "..."} per row (any string column may be chosen as the text), for continued pre-training.

Every format converts to OpenAI-style messages plus an optional tools list, which is what chat templates render.
Problems are phrased without a line number; the scanner in jobs.data.dataset_scan prefixes the true line.
"""
from __future__ import annotations

import json
from typing import Any

FORMATS = ("column", "alpaca", "messages", "sharegpt", "preference", "unpaired_preference", "text")
CHOICES = ("auto",) + FORMATS
CHAT_FORMATS = ("alpaca", "messages", "sharegpt")   # rows that become conversations
DETECT_ROWS = 20

SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "function_call": "assistant",
                  "observation": "tool"}
ROLES = ("system", "user", "assistant", "tool")


class FormatError(ValueError):
    """A row that does not fit its format; the message names the problem (the caller adds the line)."""


def detect(rows: list[dict]) -> str:
    """The format the first rows are written in; 'column' when nothing more specific fits."""
    rows = [r for r in rows[:DETECT_ROWS] if isinstance(r, dict)]
    if not rows:
        return "column"

    def share(test) -> float:
        return sum(1 for r in rows if test(r)) / len(rows)

    def turns(r, key, field):
        v = r.get(key)
        return isinstance(v, list) and bool(v) and all(isinstance(t, dict) and field in t for t in v)

    if share(lambda r: turns(r, "conversations", "from") or turns(r, "messages", "from")) >= 0.5:
        return "sharegpt"
    if share(lambda r: turns(r, "messages", "role") or turns(r, "conversations", "role")) >= 0.5:
        return "messages"
    if share(lambda r: "chosen" in r and "rejected" in r) >= 0.5:
        return "preference"
    if share(lambda r: "prompt" in r and "completion" in r and isinstance(r.get("label"), bool)) >= 0.5:
        return "unpaired_preference"
    if share(lambda r: "instruction" in r and "output" in r) >= 0.5:
        return "alpaca"
    if share(lambda r: isinstance(r.get("text"), str) and not {"prompt", "output", "completion", "answer"} & set(r)) >= 0.5:
        return "text"
    return "column"


# ---------------------------------------------------------------- conversion
def _text(v: Any) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def parse_tools(v: Any) -> list | None:
    """A row's tools: a list of function schemas, or a JSON string of one (ShareGPT). None when absent."""
    if v is None or v == "" or v == []:
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError as e:
            raise FormatError(f"tools is not valid JSON ({e.msg})") from None
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise FormatError("tools must be a list of function schemas (objects)")
    # Chat templates expect {"type": "function", "function": {...}}; ShareGPT files hold the bare function.
    return [t if "function" in t else {"type": "function", "function": t} for t in v]


def _tool_calls(value: Any) -> list[dict]:
    """A ShareGPT function_call value ({"name", "arguments"} as JSON, or a list of them) as OpenAI tool calls."""
    call = value
    if isinstance(value, str):
        try:
            call = json.loads(value)
        except ValueError as e:
            raise FormatError(f"function_call value is not JSON ({e.msg})") from None
    if isinstance(call, list):  # parallel calls
        return [c for item in call for c in _tool_calls(item)]
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise FormatError('function_call value must be {"name": ..., "arguments": {...}}')
    args = call.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    return [{"type": "function", "function": {"name": call["name"], "arguments": args}}]


def conversation(row: dict, fmt: str, params: dict | None = None) -> dict:
    """{"messages": [...], "tools": list | None} in OpenAI roles; raises FormatError naming the problem."""
    params = params or {}
    if not isinstance(row, dict):
        raise FormatError(f"expected a JSON object, got {type(row).__name__}")
    if fmt == "sharegpt":
        msgs, tools = _from_sharegpt(row)
    elif fmt == "messages":
        msgs, tools = _from_messages(row)
    elif fmt == "alpaca":
        msgs, tools = _from_alpaca(row), None
    elif fmt == "column":
        msgs, tools = _from_columns(row, params), None
    else:
        raise FormatError(f"{fmt} rows are preference triples, not one conversation")
    check_order(msgs)
    return {"messages": with_system(msgs, params.get("system_prompt")), "tools": tools}


def with_system(msgs: list[dict], system_prompt: str | None) -> list[dict]:
    """Prepend the job's system prompt to a conversation that has none."""
    if system_prompt and not (msgs and msgs[0]["role"] == "system"):
        return [{"role": "system", "content": system_prompt}] + msgs
    return msgs


def _from_sharegpt(row: dict) -> tuple[list, list | None]:
    turns = row.get("conversations", row.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise FormatError("conversations must be a non-empty list of {from, value} turns")
    msgs: list[dict] = []
    if _text(row.get("system")).strip():
        msgs.append({"role": "system", "content": _text(row["system"])})
    expect_user = True
    for i, t in enumerate(turns, 1):
        if not isinstance(t, dict) or "from" not in t:
            raise FormatError(f"turn {i} is not a {{from, value}} object")
        who = t["from"]
        if who not in SHAREGPT_ROLES:
            raise FormatError(f"turn {i} has role {who!r}; allowed: {', '.join(SHAREGPT_ROLES)}")
        if who == "system":
            if i != 1:
                raise FormatError(f"turn {i} has role 'system'; a system turn may only come first")
            msgs.append({"role": "system", "content": _text(t.get("value"))})
            continue
        user_side = who in ("human", "observation")
        if user_side != expect_user:
            prev = turns[i - 2].get("from") if i >= 2 and isinstance(turns[i - 2], dict) else None
            where = f"after {prev!r}" if prev and prev != "system" else "first"
            raise FormatError(f"turn {i} has role {who!r} {where}; turns must alternate "
                              "(human or observation, then gpt or function_call)")
        expect_user = not expect_user
        if who == "function_call":
            msgs.append({"role": "assistant", "content": "", "tool_calls": _tool_calls(t.get("value"))})
        else:
            msgs.append({"role": SHAREGPT_ROLES[who], "content": _text(t.get("value"))})
    return msgs, parse_tools(row.get("tools"))


def _from_messages(row: dict) -> tuple[list, list | None]:
    turns = row.get("messages", row.get("conversations"))
    if not isinstance(turns, list) or not turns:
        raise FormatError("messages must be a non-empty list of {role, content} turns")
    msgs = []
    for i, t in enumerate(turns, 1):
        if not isinstance(t, dict) or "role" not in t:
            raise FormatError(f"turn {i} is not a {{role, content}} object")
        if t["role"] not in ROLES:
            raise FormatError(f"turn {i} has role {t['role']!r}; allowed: {', '.join(ROLES)}")
        m = {"role": t["role"], "content": _text(t.get("content"))}
        if t.get("tool_calls"):
            calls = t["tool_calls"]
            if t["role"] != "assistant" or not isinstance(calls, list):
                raise FormatError(f"turn {i}: tool_calls must be a list on an assistant turn")
            m["tool_calls"] = [_openai_call(c, i) for c in calls]
        for k in ("name", "tool_call_id"):
            if t.get(k) and t["role"] == "tool":
                m[k] = t[k]
        msgs.append(m)
    return msgs, parse_tools(row.get("tools"))


def _openai_call(c: Any, i: int) -> dict:
    fn = c.get("function") if isinstance(c, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise FormatError(f"turn {i}: each tool call needs function.name")
    args = fn.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    out = {"type": "function", "function": {"name": fn["name"], "arguments": args}}
    if c.get("id"):
        out["id"] = c["id"]
    return out


def _from_alpaca(row: dict) -> list:
    msgs = []
    if _text(row.get("system")).strip():
        msgs.append({"role": "system", "content": _text(row["system"])})
    history = row.get("history") or []
    if not isinstance(history, list):
        raise FormatError("history must be a list of [instruction, answer] pairs")
    for n, pair in enumerate(history, 1):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise FormatError(f"history entry {n} must be a pair [instruction, answer]")
        msgs += [{"role": "user", "content": _text(pair[0])}, {"role": "assistant", "content": _text(pair[1])}]
    prompt = _text(row.get("instruction")).strip()
    ctx = _text(row.get("input")).strip()
    if ctx:
        prompt = f"{prompt}\n\n{ctx}"
    msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": _text(row.get("output"))}]
    return msgs


def _from_columns(row: dict, params: dict) -> list:
    pin, pout = params.get("prompt_input_column"), params.get("prompt_output_column")
    if not pin or not pout:
        raise FormatError("column data needs prompt_input_column and prompt_output_column")
    return [{"role": "user", "content": _text(row.get(pin))}, {"role": "assistant", "content": _text(row.get(pout))}]


def check_order(msgs: list[dict]) -> None:
    """User and assistant alternate; tool results follow an assistant tool call; the assistant speaks last."""
    prev = None
    for i, m in enumerate(msgs, 1):
        role = m["role"]
        if role == "system":
            if i != 1:
                raise FormatError(f"turn {i} has role 'system'; a system turn may only come first")
        elif role == "user":
            if prev not in (None, "system", "assistant"):
                raise FormatError(f"turn {i} has role 'user' after {prev!r}; turns must alternate")
        elif role == "assistant":
            if prev not in ("user", "tool"):
                raise FormatError(f"turn {i} has role 'assistant' after {prev or 'nothing'!r}; turns must alternate")
        elif role == "tool":
            if prev not in ("assistant", "tool") or (prev == "assistant" and not msgs[i - 2].get("tool_calls")):
                raise FormatError(f"turn {i} has role 'tool' after {prev!r}; a tool result follows an assistant "
                                  "tool call")
        if role != "system" and not (m.get("content") or "").strip() and not m.get("tool_calls"):
            raise FormatError(f"turn {i} ({role}) is empty")
        prev = role
    if prev != "assistant":
        raise FormatError(f"the last turn has role {prev!r}; a conversation must end with an assistant turn")


def preference(row: dict, params: dict | None = None) -> dict:
    """{"prompt": messages, "chosen": messages, "rejected": messages}; strings become single turns."""
    params = params or {}
    if not isinstance(row, dict):
        raise FormatError(f"expected a JSON object, got {type(row).__name__}")
    pcol = params.get("prompt_input_column") or "prompt"
    out: dict[str, list] = {}
    prompt = row.get(pcol)
    if isinstance(prompt, list):
        out["prompt"] = _from_messages({"messages": prompt})[0]
    elif _text(prompt).strip():
        out["prompt"] = [{"role": "user", "content": _text(prompt)}]
    else:
        raise FormatError(f"{pcol} is empty")
    for key in ("chosen", "rejected"):
        col = params.get(f"{key}_column") or key
        v = row.get(col)
        if isinstance(v, list):
            msgs = _from_messages({"messages": v})[0]
            if msgs and msgs[0]["role"] == "user":  # full conversations: the prompt part is shared
                msgs = [m for m in msgs if m["role"] == "assistant"][-1:]
            out[key] = msgs
        elif isinstance(v, dict) and "content" in v:
            out[key] = [{"role": "assistant", "content": _text(v["content"])}]
        elif _text(v).strip():
            out[key] = [{"role": "assistant", "content": _text(v)}]
        else:
            raise FormatError(f"{col} is empty")
    out["prompt"] = with_system(out["prompt"], params.get("system_prompt"))
    return out


def unpaired(row: dict, params: dict | None = None) -> dict:
    """{"prompt": messages, "completion": messages, "label": bool} of an unpaired_preference row."""
    params = params or {}
    if not isinstance(row, dict):
        raise FormatError(f"expected a JSON object, got {type(row).__name__}")
    pcol = params.get("prompt_input_column") or "prompt"
    ccol, lcol = params.get("completion_column") or "completion", params.get("label_column") or "label"
    prompt, completion, label = row.get(pcol), row.get(ccol), row.get(lcol)
    if isinstance(prompt, list):
        msgs = _from_messages({"messages": prompt})[0]
    elif _text(prompt).strip():
        msgs = [{"role": "user", "content": _text(prompt)}]
    else:
        raise FormatError(f"{pcol} is empty")
    if isinstance(completion, list):
        answer = [m for m in _from_messages({"messages": completion})[0] if m["role"] == "assistant"][-1:]
    elif _text(completion).strip():
        answer = [{"role": "assistant", "content": _text(completion)}]
    else:
        answer = []
    if not answer:
        raise FormatError(f"{ccol} is empty")
    if not isinstance(label, bool):
        raise FormatError(f"{lcol} is {label!r}; it must be true (a good answer) or false (a bad one)")
    return {"prompt": with_system(msgs, params.get("system_prompt")), "completion": answer, "label": label}


def text_of_row(row: dict, params: dict | None = None) -> str:
    """The text of a text-format row: the text_column (default "text"); without params, any string field will do."""
    if not isinstance(row, dict):
        raise FormatError(f"expected a JSON object, got {type(row).__name__}")
    col = (params or {}).get("text_column")
    if col is None and "text" not in row:
        if any(isinstance(v, str) and v.strip() for v in row.values()):
            return next(v for v in row.values() if isinstance(v, str) and v.strip())
        raise FormatError("no text field: a text row needs a string field (e.g. {\"text\": \"...\"})")
    col = col or "text"
    v = row.get(col)
    if not isinstance(v, str) or not v.strip():
        raise FormatError(f"{col} is {'missing' if col not in row else 'empty' if isinstance(v, str) else 'not a string'}")
    return v


def check_row(row: Any, fmt: str, params: dict | None = None) -> str | None:
    """The problem with one row in `fmt`, or None."""
    try:
        if fmt == "unpaired_preference":
            unpaired(row, params)
        elif fmt == "text":
            text_of_row(row, params)
        elif fmt == "preference":
            preference(row, params)
        elif fmt in CHAT_FORMATS:
            conversation(row, fmt, params)
        elif not isinstance(row, dict):
            raise FormatError(f"expected a JSON object, got {type(row).__name__}")
    except FormatError as e:
        return str(e)
    return None


def prompt_and_reference(conv: dict) -> tuple[list, str]:
    """GRPO, samples and evaluation: the conversation up to its last assistant turn, and that turn's text.

    Without tool turns at the end this is the conversation through the last user turn; with them, the tool
    results the final answer builds on are part of the prompt.
    """
    msgs = conv["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    answer = msgs[last]
    reference = answer.get("content") or json.dumps(answer.get("tool_calls", []), ensure_ascii=False)
    return msgs[:last], reference


def has_tools(conv: dict) -> bool:
    return bool(conv.get("tools")) or any(m.get("tool_calls") or m["role"] == "tool" for m in conv["messages"])
