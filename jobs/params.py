"""Parameter declarations. The same declaration drives validation, the JSON Schema and the form."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from jobs.data.formats import CHOICES as FORMAT_CHOICES
from jobs.data.formats import FORMATS
from jobs.metrics import Names
from jobs.settings.trackers import CHOICES as TRACKER_CHOICES

TYPES = ("int", "float", "bool", "str", "str_list", "float_list")
# Every integer has an upper bound: a declaration without one (e.g. in a custom method) gets this one, so no
# value reaches the trainer that torch, numpy or the OS cannot hold (numpy seeds and C ints are 32-bit).
INT_CAP = 2**31 - 1
_MISSING = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    nullable: bool = False
    choices: tuple | None = None
    typical: tuple | None = None          # (lo, hi) guidance only: outside it is a warning
    typical_text: str = ""
    extra_allowed: tuple = ()             # values allowed besides the range, e.g. -1 for "all"
    column: bool = False                  # must name a column of the dataset
    optional_column: bool = False         # a column used only when the dataset has it

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"param {self.name}: unknown type {self.type!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"param name {self.name!r} must be snake_case")
        if self.type == "int" and self.max is None:
            object.__setattr__(self, "max", INT_CAP)

    @property
    def label(self) -> str:
        return self.name.upper()

    def limits_text(self) -> str:
        parts = []
        if self.type in ("int", "float"):
            lo = "" if self.min is None else f"{'>' if self.min_exclusive else '≥'} {_fmt(self.min)}"
            hi = "" if self.max is None else f"{'<' if self.max_exclusive else '≤'} {_fmt(self.max)}"
            rng = " and ".join(p for p in (lo, hi) if p)
            parts.append(f"{'an integer' if self.type == 'int' else 'a number'}" + (f" {rng}" if rng else ""))
            for v in self.extra_allowed:
                parts.append(f"or {_fmt(v)}")
        elif self.type == "bool":
            parts.append('true or false (the strings "true"/"false" are accepted)')
        elif self.type == "str":
            parts.append("a string")
        elif self.type == "str_list":
            parts.append("a list of names")
        elif self.type == "float_list":
            parts.append("a list of numbers")
        if self.choices:
            parts.append("one of " + ", ".join(map(str, self.choices)))
        if self.nullable:
            parts.append("or null")
        return " ".join(parts)

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        """Return (value, None) or (None, what is allowed)."""
        if value is None:
            if self.nullable:
                return None, None
            return None, f"must be {self.limits_text()}; null is not allowed"
        t = self.type
        if t == "bool":
            if isinstance(value, bool):
                return value, None
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true", None
            return None, f"must be {self.limits_text()}"
        if t in ("int", "float"):
            v = _number(value, t)
            if v is None:
                return None, f"must be {self.limits_text()}"
            if v in self.extra_allowed:
                return v, None
            if self.min is not None and (v < self.min or (self.min_exclusive and v == self.min)):
                return None, f"must be {self.limits_text()}"
            if self.max is not None and (v > self.max or (self.max_exclusive and v == self.max)):
                return None, f"must be {self.limits_text()}"
            return v, None
        if t == "str":
            if not isinstance(value, str):
                return None, "must be a string"
            value = value.strip()
            if self.choices and value not in self.choices:
                return None, f"must be one of {', '.join(self.choices)}"
            return value, None
        if t == "str_list":
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return None, "must be a list of names (or a comma-separated string)"
            value = [v.strip() for v in value]
            if self.choices and any(v not in self.choices for v in value):
                return None, "must be a list from: " + ", ".join(self.choices)
            return value, None
        if t == "float_list":
            if isinstance(value, str):
                value = [v for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                return None, "must be a list of numbers"
            out = [_number(v, "float") for v in value]
            if any(v is None for v in out):
                return None, "must be a list of numbers"
            return out, None
        return None, "unsupported type"

    def outside_typical(self, value: Any) -> bool:
        if self.typical is None or value is None or self.type not in ("int", "float"):
            return False
        if value in self.extra_allowed:
            return False
        lo, hi = self.typical
        return value < lo or value > hi

    def json_schema(self) -> dict:
        base: dict[str, Any]
        if self.type == "int":
            base = {"type": "integer"}
        elif self.type == "float":
            base = {"type": "number"}
        elif self.type == "bool":
            base = {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}]}
        elif self.type == "str":
            base = {"type": "string"}
        elif self.type == "str_list":
            item = {"type": "string", **({"enum": list(self.choices)} if self.choices else {})}
            base = {"anyOf": [{"type": "array", "items": item}, {"type": "string"}]}
        else:
            base = {"type": "array", "items": {"type": "number"}}
        if self.type in ("int", "float"):
            if self.min is not None:
                base["exclusiveMinimum" if self.min_exclusive else "minimum"] = self.min
            if self.max is not None:
                base["exclusiveMaximum" if self.max_exclusive else "maximum"] = self.max
            if self.extra_allowed:
                base = {"anyOf": [base, {"enum": list(self.extra_allowed)}]}
        if self.choices and self.type != "str_list":
            base["enum"] = list(self.choices)
        if self.nullable:
            base = {"anyOf": [base, {"type": "null"}]}
        base["description"] = self.help + (f" Typical: {self.typical_text}." if self.typical_text else "")
        if self.default is not None or self.nullable:
            base["default"] = self.default
        return base


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _number(value: Any, t: str) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        s = value.strip()
        try:
            value = int(s) if re.fullmatch(r"[+-]?\d+", s) else float(s)
        except ValueError:
            return None
    if isinstance(value, int):
        if t == "int":
            return value
        try:
            return float(value)
        except OverflowError:  # an integer too large for a float (10**400) is out of every range
            return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if t == "int":
            return int(value) if value.is_integer() else None
        return value
    return None


# The form's parameters, shared by every method. Limits are hard; `typical` is guidance.
COMMON_PARAMS: tuple[Param, ...] = (
    Param("lora_rank", "int", 8, "Rank of the LoRA matrices.", min=1, max=1024, typical=(4, 64), typical_text="4, 8, 16"),
    Param("load_in_4bit", "bool", False, "Train on a 4-bit (NF4) quantized base model (QLoRA)."),
    Param("finetuning_type", "str", "lora", "lora trains a small adapter on the frozen base (with load_in_4bit: "
          "QLoRA) and writes runs/<id>/adapter/; full trains every weight and writes a whole model folder, "
          "runs/<id>/model/.", choices=("lora", "full")),
    Param("sharding", "str", "none", "With num_gpus × num_nodes > 1: none keeps a whole copy of the model, its "
          "gradients and optimizer state on every GPU (DDP); fsdp shards them across the GPUs (PyTorch FSDP, "
          "wrapped per decoder layer).", choices=("none", "fsdp")),
    Param("gradient_checkpointing", "bool", False, "Recompute activations in the backward pass instead of keeping "
          "them: less activation memory for about a third more compute."),
    Param("packing", "bool", False, "SFT: put several rows in one sequence without attention across rows "
          "(padding-free, position ids restart per row), so no compute is spent on padding. Meant for "
          "FlashAttention on a GPU; on a CPU it measured no faster (docs/full-finetuning-and-sharding.md)."),
    Param("use_liger_kernel", "bool", False, "Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU, fused "
          "cross-entropy): less GPU memory. Needs the liger-kernel package and a GPU."),
    Param("max_seq_length", "int", 1024, "Longest sequence the model sees, in tokens.", min=32, max=131072,
          typical=(256, 8192), typical_text="512, 1024, 2048"),
    Param("max_input_length", "int", 512, "Token cap for the prompt.", min=8, max=131072,
          typical=(64, 4096), typical_text="256–2048"),
    Param("max_content_length", "int", 512, "Token cap for the answer/completion.", min=8, max=131072,
          typical=(16, 4096), typical_text="256–2048"),
    Param("max_samples", "int", -1, "Rows loaded from the dataset; -1 loads all.", min=1, max=10**9, extra_allowed=(-1,),
          typical_text="1000, 5000"),
    Param("num_generations", "int", 4, "Samples per prompt (GRPO reward groups; sample outputs).", min=1, max=256,
          typical=(1, 16), typical_text="1–10"),
    Param("max_grad_norm", "float", 1.0, "Gradient clipping norm.", min=0, max=1e6, min_exclusive=True,
          typical=(0.1, 10), typical_text="0.5–5.0"),
    Param("epochs", "int", 1, "Passes over the data; used only when max_steps is not set.", min=1, max=10000,
          typical=(1, 50), typical_text="1–50"),
    Param("max_steps", "int", None, "Total optimizer steps; wins over epochs when set.", min=1, max=10**8, nullable=True,
          typical=(1, 100000), typical_text="100–50000"),
    Param("batch_size", "int", 2, "Samples per device batch.", min=1, max=65536, typical=(1, 64), typical_text="1–64"),
    Param("grad_accum_steps", "int", 1, "Gradient accumulation steps.", min=1, max=65536, typical=(1, 64), typical_text="1–16"),
    Param("learning_rate", "float", 2e-4, "Initial learning rate.", min=0, max=1, min_exclusive=True,
          max_exclusive=True, typical=(1e-6, 1e-3), typical_text="1e-4, 5e-5, 2e-5"),
    Param("warmup_steps", "int", None, "Warmup steps; wins over warmup_ratio when set.", min=0, max=10**8, nullable=True,
          typical=(0, 5000), typical_text="0–5000"),
    Param("warmup_ratio", "float", 0.03, "Fraction of steps used for warmup.", min=0, max=0.5,
          typical=(0, 0.2), typical_text="0.01–0.2"),
    Param("prompt_input_column", "str", None, "Dataset field used as the prompt.", nullable=True, column=True,
          typical_text="question, instruction, query"),
    Param("prompt_output_column", "str", None, "Dataset field used as the reference answer.", nullable=True,
          column=True, typical_text="answer, response, completion"),
    Param("dataset_format", "str", "auto", "How dataset rows are read: auto detects it from the first rows (or uses "
          "the format set on the Datasets page); " + ", ".join(FORMATS[:-1]) + f" or {FORMATS[-1]}.",
          choices=FORMAT_CHOICES),
    Param("system_prompt", "str", None, "System message prepended to every conversation that has none; also used "
          "for the sample prompts.", nullable=True),
    # Run housekeeping, shared by every method.
    Param("eval_ratio", "float", 0.1, "Fraction of rows held out for eval_loss and sample prompts; 0 turns it off.",
          min=0, max=0.5),
    Param("eval_split_max_rows", "int", 1000, "At most this many held-out rows are evaluated, however large the data.",
          min=1, max=1000000),
    Param("eval_steps", "int", None, "Evaluate every N steps; null evaluates four times per run, never more "
          "often than every 10 steps.", min=1, nullable=True),
    Param("num_sample_prompts", "int", 5, "Held-out prompts answered before and after training.", min=0, max=100),
    Param("sample_generations", "int", 1, "Answers per sample prompt: the greedy one, plus sampled ones above 1.",
          min=1, max=16),
    Param("eval_max_rows", "int", 100, "Held-out rows scored by the base and the tuned model (task metrics); "
          "0 turns the evaluation off.", min=0, max=100000, typical=(0, 1000), typical_text="50–500"),
    Param("seed", "int", 42, "Random seed for data split, initialisation and sampling.", min=0,
          max=2**32 - 1),
    Param("logging_steps", "int", 1, "Write a metrics row every N steps.", min=1, max=10**8),
    Param("checkpoint_steps", "int", 50, "Save a resumable checkpoint every N steps.", min=1, max=10**8),
    Param("save_total_limit", "int", 2, "Checkpoints kept; older ones are deleted.", min=1, max=100),
    Param("lora_alpha", "int", None, "LoRA alpha; null means 2 × lora_rank.", min=1, max=65536, nullable=True),
    Param("lora_dropout", "float", 0.05, "Dropout on the LoRA layers.", min=0, max=0.9, max_exclusive=False),
    Param("num_gpus", "int", 1, "GPUs per node for this job (CPU processes on a machine without GPUs); more than 1 "
          "trains data-parallel under torchrun and takes that many spooler slots.", min=1, max=64, typical=(1, 8),
          typical_text="1, 2, 4, 8"),
    Param("num_nodes", "int", 1, "Machines for this job; more than 1 needs the spooler's Slurm runner.", min=1,
          max=1024, typical=(1, 16), typical_text="1–16"),
    Param("report_to", "str_list", ["none"], "Experiment trackers that also receive the run's metrics; TensorBoard "
          "writes to runs/<job_id>/tb/.", choices=TRACKER_CHOICES),
    Param("benchmarks", "str_list", [], "Benchmark suites scored on the base and the tuned model after training "
          "(lm-evaluation-harness): workspace benchmarks (python -m jobs benchmark list) or lm-eval task names.",
          typical_text="a local exam, gsm8k, mmlu"),
    Param("benchmark_limit", "int", 100, "Rows per benchmark task scored on each model.", min=1, max=10**6,
          typical=(10, 2000), typical_text="50–500"),
)
P = Names(p.name for p in COMMON_PARAMS)  # P.learning_rate == "learning_rate": a param, by its declared name

# Keys that the system owns: a spec that sets them is rejected with this reason.
MANAGED_KEYS = {
    "output_dir": "output_dir is managed by Tunedeck: every run writes to runs/<job_id>/adapter. Remove it from the spec.",
}
