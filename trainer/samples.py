"""Answers to the fixed held-out sample prompts, before and after training (samples.jsonl).

Generated in batches (trainer.generate). Only what is shown is generated: the greedy answer, plus
sample_generations - 1 sampled ones. A greedy answer the evaluation already produced for the same prompt is reused.
"""
from __future__ import annotations

from collections.abc import Callable

from . import prompt_context
from .generate import generate as generate_batched
from .generate import prompt_key


def settings(params: dict) -> dict:
    return {"max_new_tokens": min(params["max_content_length"], 256), "sampled": params["sample_generations"] - 1,
            "seed": params["seed"]}


def todo_of(prompts: list[str | dict], params: dict, known: dict | None) -> list[str | dict]:
    """The prompts that need generating: all of them when sampled answers are asked for, else those whose greedy
    answer is not `known` already."""
    known = known or {}
    return list(prompts) if settings(params)["sampled"] else [p for p in prompts if prompt_key(p) not in known]


def generate(model, tokenizer, prompts: list[str | dict], params: dict, *, known: dict | None = None,
             should_stop: Callable[[], bool] | None = None, report: Callable[[int, int], None] | None = None
             ) -> list[list[str]]:
    """Per prompt (a text or a prompt conversation): the greedy answer first, then the sampled ones.

    `known`: generate.prompt_key(prompt) -> a greedy answer already made."""
    s = settings(params)
    known = known or {}
    todo = todo_of(prompts, params, known)
    made = generate_batched(model, tokenizer, todo, s["max_new_tokens"], sampled=s["sampled"], seed=s["seed"],
                            should_stop=should_stop, on_batch=lambda d: report and report(d, len(todo)))
    by_prompt = {prompt_key(p): m for p, m in zip(todo, made, strict=False)}
    return [by_prompt.get(prompt_key(p)) or [known[prompt_key(p)]] for p in prompts]


def write(path, prompts: list[dict], before: list[list[str]], after: list[list[str]]) -> None:
    """samples.jsonl: per held-out prompt, the base and tuned answers beside the reference."""
    import json

    from jobs.atomic import atomic_write_text
    lines = [json.dumps({"index": i, "prompt": s["prompt"], **prompt_context.fields(prompt_context.of_item(s)),
                         "reference": s["reference"],
                         "base": b[0] if b else "", "tuned": a[0] if a else "",
                         "base_samples": b, "tuned_samples": a}, ensure_ascii=False)
             for i, (s, b, a) in enumerate(zip(prompts, before, after, strict=False))]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
