"""Batched generation for evaluation and sample answers: left padding, the KV cache, a stop check per token.

A prompt is a bare user text or a prompt conversation {"messages": [...], "tools": [...] | None} (system turn,
earlier turns, the last user turn, and the row's tools), rendered by the model's chat template exactly as training
renders it. Prompts are sorted by length so a batch pads little; answers come back in the caller's order.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager

from .errors import Stopped

GEN_BATCH = 16


def messages_of(prompt: str | dict) -> tuple[list[dict], list | None]:
    """The prompt's messages and tools."""
    if isinstance(prompt, dict):
        return prompt["messages"], prompt.get("tools") or None
    return [{"role": "user", "content": prompt}], None


def chat_text(tokenizer, prompt: str | dict) -> str:
    """The prompt as the chat template renders it, up to the start of the assistant's answer."""
    msgs, tools = messages_of(prompt)
    kw = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **kw)


def prompt_key(prompt: str | dict) -> str:
    """A hashable identity of a prompt: the same conversation and tools give the same key."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def adapter_layers(model) -> list:
    """The model's PEFT adapter layers (none for a plain model)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return []
    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


@contextmanager
def merged(model):
    """The LoRA adapter folded into the base weights while inside (PEFT merge_adapter / unmerge_adapter): one matrix
    product a layer instead of three, so the tuned model generates and scores as fast as the base. A 4-bit base, a
    model without an adapter, or one already merged is left as it is."""
    layers = adapter_layers(model)
    quantized = getattr(model, "is_loaded_in_4bit", False) or getattr(getattr(model, "config", None),
                                                                       "quantization_config", None)
    if not hasattr(model, "merge_adapter") or not layers or quantized or any(m.merged for m in layers):
        yield model
        return
    model.merge_adapter()
    try:
        yield model
    finally:
        model.unmerge_adapter()


def _stop_criteria(should_stop: Callable[[], bool] | None, on_token: Callable[[int], None] | None = None):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopRequested(StoppingCriteria):
        """Ends generation at the next token once a stop is requested (the caller then raises Stopped); tells
        on_token how many tokens this batch has generated, so progress moves inside a long batch."""

        def __init__(self):
            self.start = 0

        def __call__(self, input_ids, scores, **kw):
            import torch
            if on_token:
                on_token(input_ids.shape[1] - self.start)
            hit = bool(should_stop and should_stop())
            return torch.full((input_ids.shape[0],), hit, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopRequested()])


def generate(model, tokenizer, prompts: list[str | dict], max_new_tokens: int, *, sampled: int = 0, seed: int = 0,
             temperature: float = 0.8, should_stop: Callable[[], bool] | None = None,
             on_batch: Callable[[int], None] | None = None, batch_size: int = GEN_BATCH,
             lengths: list | None = None) -> list[list[str]]:
    """Per prompt: the greedy answer, then `sampled` sampled ones (seeded, so repeatable).

    on_batch(n) is called with the number of prompts finished after each batch. Raises Stopped on request.
    `lengths`, when given, receives each greedy answer's length in generated tokens (up to its end token).
    """
    import torch

    if not prompts:
        return []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right end
    texts = [chat_text(tokenizer, p) for p in prompts]
    prompt_len = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: prompt_len[i])
    out: list[list[str]] = [[] for _ in prompts]
    greedy_len = [0] * len(prompts)
    passes = 1 + max(0, sampled)
    where = {"start": 0, "size": 0, "k": 0}

    def on_token(made: int) -> None:  # prompts finished, counting a batch's share of the tokens generated so far
        if on_batch:
            share = (where["k"] + min(made, max_new_tokens) / max(max_new_tokens, 1)) / passes
            on_batch(where["start"] + int(where["size"] * share))
    stop = _stop_criteria(should_stop, on_token if on_batch else None) if should_stop or on_batch else None
    try:
        for start in range(0, len(order), batch_size):
            if should_stop and should_stop():
                raise Stopped()
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            width = enc["input_ids"].shape[1]
            where.update(start=start, size=len(idx))
            if stop is not None:
                stop[0].start = width
            for k in range(1 + max(0, sampled)):
                kw = {"do_sample": False} if k == 0 else {"do_sample": True, "temperature": temperature,
                                                          "top_p": 0.95}
                where["k"] = k
                if k:
                    torch.manual_seed(seed + k)
                with torch.no_grad():
                    ids = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                         use_cache=True, stopping_criteria=stop, **kw)
                if should_stop and should_stop():
                    raise Stopped()
                texts_out = tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)
                for i, text in zip(idx, texts_out, strict=False):
                    out[i].append(text.strip())
                if k == 0 and lengths is not None:
                    for i, n in zip(idx, _lengths(ids[:, width:], tokenizer), strict=False):
                        greedy_len[i] = n
            if on_batch:
                on_batch(min(start + batch_size, len(order)))
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    if lengths is not None:
        lengths[:] = greedy_len
    return out


def _lengths(generated, tokenizer) -> list[int]:
    """Tokens generated per row before its first end (eos) or padding token."""
    ends = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
    out = []
    for row in generated.tolist():
        n = next((j for j, tok in enumerate(row) if tok in ends), len(row))
        out.append(n)
    return out
