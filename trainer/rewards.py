"""GRPO reward functions. Each takes TRL's (prompts, completions, **columns) and returns floats."""
from __future__ import annotations

import re

_NUM = r"-?\d[\d,]*(?:\.\d+)?"


def text_of(completion) -> str:
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return " ".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def extract_number(text: str) -> str | None:
    """The answer number: GSM8K's '#### n', else <answer>n</answer>, else the last number."""
    for pattern in (rf"####\s*({_NUM})", rf"<answer>\s*({_NUM})\s*</answer>"):
        m = re.search(pattern, text)
        if m:
            return _canon(m.group(1))
    nums = re.findall(_NUM, text)
    return _canon(nums[-1]) if nums else None


def _canon(s: str) -> str:
    s = s.replace(",", "")
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else str(f)


def correctness(prompts, completions, reference=None, **kw) -> list[float]:
    refs = reference or [None] * len(completions)
    out = []
    for c, ref in zip(completions, refs, strict=False):
        want = extract_number(str(ref)) if ref is not None else None
        got = extract_number(text_of(c))
        out.append(1.0 if want is not None and got == want else 0.0)
    return out


_FULL = re.compile(r"^\s*<reasoning>.*?</reasoning>\s*<answer>.*?</answer>\s*$", re.S)


def format_reward(prompts, completions, **kw) -> list[float]:
    out = []
    for c in completions:
        t = text_of(c)
        if _FULL.match(t):
            out.append(1.0)
        else:
            parts = ("<reasoning>", "</reasoning>", "<answer>", "</answer>")
            out.append(0.125 * sum(p in t for p in parts))
    return out


def make_length_penalty(max_chars: int):
    def length_penalty(prompts, completions, **kw) -> list[float]:
        return [-min(1.0, len(text_of(c)) / max(1, max_chars)) for c in completions]
    return length_penalty


def build(names: list[str], custom: dict, max_content_tokens: int, ws=None, max_length: int = 1024) -> list:
    """The reward functions by name: built-in, custom (REWARD_FUNCTIONS of a methods file), or rm:<job id>, a
    finished reward-model run's scores."""
    from jobs.methods import RM_REWARD_PREFIX

    funcs = []
    for name in names:
        if name.startswith(RM_REWARD_PREFIX):
            from . import rm_reward
            fn = rm_reward.load(name, ws, max_length)
        elif name == "correctness":
            fn = correctness
        elif name == "format":
            fn = format_reward
        elif name == "length_penalty":
            fn = make_length_penalty(4 * max_content_tokens)
        else:
            user = custom[name]

            def fn(prompts, completions, _user=user, **kw):  # hand custom functions plain text
                return [float(x) for x in _user([text_of(p) for p in prompts], [text_of(c) for c in completions], **kw)]
        def named(*a, _fn=fn, **kw):
            return _fn(*a, **kw)
        named.__name__ = name.replace(":", "_")  # TRL logs rewards/<__name__>/mean
        funcs.append(named)
    return funcs
