"""The prompt that samples and evaluation generate from: the same conversation training renders.

An item's `prompt` is its readable text (the last user turn); `prompt_messages` is the whole prompt conversation
(the system turn, from the row or the job's system_prompt, the earlier turns, the last user turn and any tool
results after it) and `tools` the row's tool schemas. Generation uses the conversation; files keep the readable
text and, when there is more than the bare text, the conversation beside it so the page can show the context.
"""
from __future__ import annotations


def of_item(item: dict) -> str | dict:
    """A bare text when the prompt is one user turn and nothing else, else {"messages", "tools"}."""
    msgs, tools = item.get("prompt_messages"), item.get("tools") or None
    if not msgs or (not tools and msgs == [{"role": "user", "content": item["prompt"]}]):
        return item["prompt"]
    return {"messages": msgs, "tools": tools}


def of_row(row: dict) -> str | dict:
    """The generation prompt of an evaluation row (see evaluate.setup_for)."""
    return row.get("conversation") or row["prompt"]


def fields(prompt: str | dict) -> dict:
    """What samples.jsonl and evaluation_rows.jsonl store beside the readable prompt: the conversation and tools."""
    if not isinstance(prompt, dict):
        return {}
    out = {"messages": prompt["messages"]}
    if prompt.get("tools"):
        out["tools"] = prompt["tools"]
    return out
