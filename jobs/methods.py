"""Training methods: the built-in declarations and custom methods from workspace/methods/.

A method declares its own params here so the validator, the schema and the form can
read them without loading a model. The recipes that train live in trainer/methods/.
"""
from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.params import Param

BUILTIN_REWARDS = {
    "correctness": "1.0 when the number in the completion matches the reference (GSM8K '#### n' form), else 0.",
    "format": "1.0 for <reasoning>…</reasoning><answer>…</answer>, partial credit for parts of it.",
    "length_penalty": "Negative reward that grows with completion length (0 to -1).",
}

Problem = tuple  # (field, value, message)


@dataclass
class Method:
    name: str
    description: str
    params: tuple[Param, ...] = ()
    default_columns: dict = field(default_factory=dict)   # the method's defaults for common params
    builtin: bool = True
    path: Path | None = None
    error: str | None = None              # a custom method that failed to load
    module: Any = None
    check: Callable[[dict, MethodContext], list] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class MethodContext:
    rewards: dict                         # reward name -> description


def _check_grpo(p: dict, ctx: MethodContext) -> list:
    out = []
    n = p.get("num_generations")
    if isinstance(n, int) and n < 2:
        out.append(("params.num_generations", n, "GRPO compares samples within a group, so it needs at least 2"))
    bs, ga = p.get("batch_size"), p.get("grad_accum_steps")
    if all(isinstance(v, int) for v in (n, bs, ga)) and n >= 2 and (bs * ga) % n:
        out.append(("params.num_generations", n,
                    f"batch_size × grad_accum_steps ({bs} × {ga} = {bs * ga}) must be a multiple of "
                    f"num_generations; try batch_size={n} or num_generations={_divisor(bs * ga)}"))
    names = p.get("reward_functions")
    if isinstance(names, list):
        if not names:
            out.append(("params.reward_functions", names, "choose at least one of " + ", ".join(ctx.rewards)))
        for r in names:
            if r not in ctx.rewards:
                out.append(("params.reward_functions", r, "unknown reward function; registered: " + ", ".join(ctx.rewards)))
        w = p.get("reward_weights")
        if isinstance(w, list) and len(w) != len(names):
            out.append(("params.reward_weights", w, f"needs one weight per reward function ({len(names)})"))
    return out


def _divisor(total: int) -> int:
    return max(d for d in range(2, max(total, 2) + 1) if total % d == 0) if total >= 2 else 2


BUILTINS: dict[str, Method] = {
    "sft": Method(
        "sft", "Supervised fine-tuning on prompt → answer pairs; loss on the answer only.",
        params=(Param("prompt_context_column", "str", "input",
                      "Optional field appended to the prompt when the dataset has it (Alpaca's 'input').",
                      optional_column=True),),
        default_columns={"prompt_input_column": "instruction", "prompt_output_column": "output"},
    ),
    "grpo": Method(
        "grpo", "Group Relative Policy Optimization: sample answers, score them with reward functions, learn.",
        params=(
            Param("reward_functions", "str_list", ["correctness", "format"],
                  "Reward functions by name: " + "; ".join(f"{k}: {v}" for k, v in BUILTIN_REWARDS.items())),
            Param("reward_weights", "float_list", None, "One weight per reward function; null weighs them equally.",
                  nullable=True),
            Param("beta", "float", 0.04, "KL penalty against the base model.", min=0, max=10, typical=(0, 0.5),
                  typical_text="0.0–0.1"),
            Param("temperature", "float", 1.0, "Sampling temperature for the generations.", min=0, max=5,
                  min_exclusive=True, typical=(0.3, 1.5), typical_text="0.7–1.0"),
        ),
        default_columns={"prompt_input_column": "question", "prompt_output_column": "answer", "batch_size": 4},
        check=_check_grpo,
    ),
    "dpo": Method(
        "dpo", "Direct Preference Optimization on prompt / chosen / rejected triples.",
        params=(
            Param("beta", "float", 0.1, "Strength of the preference loss (DPO beta).", min=0, max=10,
                  min_exclusive=True, typical=(0.01, 1), typical_text="0.05–0.5"),
            Param("chosen_column", "str", "chosen", "Dataset field with the preferred answer.", column=True),
            Param("rejected_column", "str", "rejected", "Dataset field with the dispreferred answer.", column=True),
        ),
        default_columns={"prompt_input_column": "prompt", "prompt_output_column": "chosen"},
    ),
}

_cache: dict[Path, tuple[float, Any, str | None]] = {}


def _load_module(path: Path) -> tuple[Any, str | None]:
    """Import a file from workspace/methods/; cache it by mtime. Errors are returned, never raised."""
    try:
        mtime = path.stat().st_mtime
    except OSError as e:
        return None, f"cannot read {path.name}: {e}"
    hit = _cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1], hit[2]
    mod_name = f"tunedeck_custom_{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        result = (module, None)
    except BaseException as e:  # noqa: BLE001 - user code may raise anything, even SystemExit
        sys.modules.pop(mod_name, None)
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        result = (None, f"{path.name} failed to import: {tb}")
    _cache[path] = (mtime, *result)
    return result


def custom_files(methods_dir: Path) -> list[Path]:
    if not methods_dir.is_dir():
        return []
    return sorted(p for p in methods_dir.glob("*.py") if not p.name.startswith(("_", ".")))


def list_methods(methods_dir: Path | None) -> dict[str, Method]:
    """Built-in methods plus every custom method file (broken ones carry their error)."""
    out = dict(BUILTINS)
    for path in custom_files(methods_dir) if methods_dir else []:
        name = path.stem
        if name in BUILTINS or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", name):
            continue
        module, err = _load_module(path)
        if module is not None and not hasattr(module, "build_trainer"):
            continue  # a reward-only file
        if err:
            out[name] = Method(name, "(failed to load)", builtin=False, path=path, error=err)
            continue
        params = tuple(getattr(module, "PARAMS", ()))
        bad = [p for p in params if not isinstance(p, Param)]
        if bad:
            out[name] = Method(name, "(failed to load)", builtin=False, path=path,
                               error=f"{path.name}: PARAMS must hold jobs.params.Param entries")
            continue
        out[name] = Method(
            name, str(getattr(module, "DESCRIPTION", "Custom method.")).strip().splitlines()[0],
            params=params, default_columns=dict(getattr(module, "DEFAULT_COLUMNS", {})),
            builtin=False, path=path, module=module, check=getattr(module, "check", None),
        )
    return out


def list_rewards(methods_dir: Path | None) -> dict[str, Any]:
    """Reward name -> description (built-in) or callable (custom, from REWARD_FUNCTIONS in a methods file)."""
    out: dict[str, Any] = dict(BUILTIN_REWARDS)
    for path in custom_files(methods_dir) if methods_dir else []:
        module, err = _load_module(path)
        if module is None:
            continue
        for name, fn in dict(getattr(module, "REWARD_FUNCTIONS", {}) or {}).items():
            if callable(fn) and name not in BUILTIN_REWARDS:
                out[name] = fn
    return out
