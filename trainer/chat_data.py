"""Conversations for training: the model's chat template renders them, and the loss covers every assistant turn.

TRL's `assistant_only_loss` needs a template that marks assistant spans with {% generation %}; most templates
(SmolLM2's, Qwen's, ours) do not. So the masks are built from the rendered turns: the characters that turn i adds
after the generation prompt of turns[:i] belong to assistant turn i, and the tokens whose text starts inside those
spans are trained. Everything else (system, user, tool turns, template markup before an answer) is masked.
"""
from __future__ import annotations

from jobs.data import formats

from .errors import TrainerError


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


def truncate_left(tokenizer, conv: dict, max_len: int) -> tuple[dict | None, bool]:
    """Drop whole early exchanges (a user turn and what answers it) until the conversation fits `max_len` tokens.

    A system turn is kept. Returns (None, True) when even the last exchange alone is too long.
    """
    msgs, tools = conv["messages"], conv.get("tools")
    system = msgs[:1] if msgs and msgs[0]["role"] == "system" else []
    body = msgs[len(system):]
    cut = False
    while True:
        ids = tokenizer(render(tokenizer, system + body, tools), add_special_tokens=False)["input_ids"]
        if len(ids) <= max_len:
            return {"messages": system + body, "tools": tools}, cut
        starts = [i for i, m in enumerate(body) if m["role"] == "user" and i > 0]
        if not starts:
            return None, True
        body, cut = body[starts[0]:], True


def prepare_conversations(rows: list[dict], params: dict, tokenizer, kind: str, fmt: str, dataset_name: str):
    """Items for the recipes: SFT gets token ids with assistant masks, GRPO a prompt conversation and reference."""
    out, truncated, dropped = [], 0, 0
    for n, row in enumerate(rows, 1):
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
