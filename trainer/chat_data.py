"""Conversations for training: the model's chat template renders them, and the loss covers every assistant turn.

TRL's `assistant_only_loss` needs a template that marks assistant spans with {% generation %}; most templates
(SmolLM2's, Qwen's, ours) do not. So the masks are built from the rendered turns: the characters that turn i adds
after the generation prompt of turns[:i] belong to assistant turn i, and the tokens whose text starts inside those
spans are trained. Everything else (system, user, tool turns, template markup before an answer) is masked.
"""
from __future__ import annotations

import json

from jobs.data import formats

from .errors import Stopped, TrainerError


def render(tokenizer, messages: list[dict], tools: list | None, generation_prompt: bool = False) -> str:
    kw = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt, **kw)


def assistant_spans(tokenizer, messages: list[dict], tools: list | None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns."""
    full = render(tokenizer, messages, tools)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], tools, generation_prompt=True) if i else ""
        through = render(tokenizer, messages[: i + 1], tools)
        if not (through.startswith(before) and full.startswith(through)):
            raise TrainerError("the model's chat template renders earlier turns differently once later turns are "
                               "added, so the assistant turns cannot be located for the loss mask; use a model "
                               "whose template renders conversations turn by turn")
        spans.append((len(before), len(through)))
    return full, spans


def tokenize_with_mask(tokenizer, messages: list[dict], tools: list | None) -> tuple[list[int], list[int]]:
    """input_ids and assistant_masks (1 = trained) for one conversation."""
    text, spans = assistant_spans(tokenizer, messages, tools)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(a <= start < b for a, b in spans)) for start, _ in enc["offset_mapping"]]
    return list(enc["input_ids"]), mask


def _length(tokenizer, msgs: list[dict], tools) -> int:
    return len(tokenizer(render(tokenizer, msgs, tools), add_special_tokens=False)["input_ids"])


def truncate_left(tokenizer, conv: dict, max_len: int) -> tuple[dict | None, bool]:
    """Drop whole early exchanges (a user turn and what answers it) until the conversation fits `max_len` tokens.

    A system turn is kept. Returns (None, True) when even the last exchange alone is too long.

    Linear in the conversation's length: the message texts are token-counted once (one batched call), which places
    a first guess at the first exchange kept; the exact check then renders only the kept tail (about max_len tokens)
    and moves the cut one exchange at a time until the tail fits and one exchange more would not. Rendering the
    whole conversation once per dropped exchange took minutes for a 5,000-turn row.
    """
    msgs, tools = conv["messages"], conv.get("tools")
    system = msgs[:1] if msgs and msgs[0]["role"] == "system" else []
    body = msgs[len(system):]
    starts = [0] + [i for i, m in enumerate(body) if m["role"] == "user" and i > 0]  # where an exchange begins
    last = _length(tokenizer, system + body[starts[-1]:], tools)
    if last > max_len:
        return None, True
    texts = [m.get("content") if isinstance(m.get("content"), str) else json.dumps(m.get("content"), ensure_ascii=False)
             for m in body]
    counts = [len(ids) for ids in tokenizer([t or "" for t in texts], add_special_tokens=False)["input_ids"]]
    ends = starts[1:] + [len(body)]
    size = [sum(counts[a:b]) + 4 * (b - a) for a, b in zip(starts, ends, strict=True)]  # ~4 tokens of markup a turn
    k, total = len(starts) - 1, last  # the last exchange, exactly, with the system turn, tools and template
    while k > 0 and total + size[k - 1] <= max_len:  # the guess: the most exchanges whose estimate fits
        k -= 1
        total += size[k]
    if _length(tokenizer, system + body[starts[k]:], tools) <= max_len:
        while k > 0 and _length(tokenizer, system + body[starts[k - 1]:], tools) <= max_len:
            k -= 1  # the guess was short: keep one exchange more while it fits
    else:
        k += 1  # the guess was long: drop one exchange more until it fits (the last one alone does)
        while _length(tokenizer, system + body[starts[k]:], tools) > max_len:
            k += 1
    return {"messages": system + body[starts[k]:], "tools": tools}, k > 0


def prepare_conversations(rows: list[dict], params: dict, tokenizer, kind: str, fmt: str, dataset_name: str,
                          should_stop=None):
    """Items for the recipes: SFT gets token ids with assistant masks, GRPO a prompt conversation and reference.

    should_stop() is asked before every row (a conversation can take a while to render; StopCallback.check looks
    at the request files at most every 0.2 s and sees a SIGTERM at once), so a cancel ends the preparation."""
    out, truncated, dropped = [], 0, 0
    for n, row in enumerate(rows, 1):
        if should_stop is not None and should_stop():
            raise Stopped()
        try:
            conv = formats.conversation(row, fmt, params)
        except formats.FormatError as e:
            raise TrainerError(f"dataset {dataset_name!r}, row {n}: {e}") from None
        conv, cut = truncate_left(tokenizer, conv, params["max_seq_length"])
        if conv is None:
            dropped += 1
            continue
        truncated += cut
        prompt_msgs, reference = formats.prompt_and_reference(conv)
        item = {"prompt": _last_user_text(prompt_msgs), "prompt_messages": prompt_msgs, "reference": reference,
                "tools": conv["tools"]}
        if kind == "prompt_completion":
            item["input_ids"], item["assistant_masks"] = tokenize_with_mask(tokenizer, conv["messages"],
                                                                            conv["tools"])
        out.append(item)
    return out, truncated, dropped


def _last_user_text(msgs: list[dict]) -> str:
    users = [m["content"] for m in msgs if m["role"] == "user"]
    return users[-1] if users else ""
