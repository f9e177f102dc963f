"""Held-out evaluation, shared by the trainer (writes) and the dashboard (reads): file names, metric names with
the direction that counts as better, each method's headline metric, the run's visible phases, and a reader.

evaluation.json: {"rows": n, "method": name, "headline": [metric, ...], "decoding": {...},
                  "metrics": {name: {"base": x, "tuned": y, "better": "higher"|"lower"}}}
evaluation_rows.jsonl: one line per held-out row: prompt, reference, base and tuned answers, per-row scores.
"""
from __future__ import annotations

import math
from pathlib import Path

from jobs.atomic import read_json
from jobs.data import jsonl
from jobs.methods import BUILTINS, EVAL_METRICS

EVALUATION_FILE = "evaluation.json"
EVALUATION_ROWS_FILE = "evaluation_rows.jsonl"
BASE_EVALUATION_FILE = "evaluation_base.json"   # the run's own copy of the base result, so a resume skips it
CACHE_DIR = "cache"                               # workspace/cache/{evaluation,samples}/<key>.json

# name -> "higher" | "lower": what counts as better, from each evaluation's declared metrics (jobs.methods).
# Custom EVAL_METRICS and reward functions default to higher.
METRICS: dict[str, str] = {k: v for kinds in EVAL_METRICS.values() for k, v in kinds.items()}
REWARD_PREFIX = "reward_"             # GRPO: reward_<function> = mean of that reward on the held-out prompts

# The one metric the Trainings list shows per method, in order of preference (each declaration's headline trait).
HEADLINE = {name: m.headline for name, m in BUILTINS.items()}
DEFAULT_HEADLINE = ("rouge_l",)

# The run's phases, in order, as progress.json's "phase" names them.
EVAL_LOSS_PHASE = "eval_loss"  # TRL's held-out loss pass, during training and once at its end
PHASES = ("preparing_data", "loading_model", "base_evaluation", "training", EVAL_LOSS_PHASE, "tuned_evaluation",
          "benchmarks", "saving")


def better(name: str, declared: str | None = None) -> str:
    if declared in ("higher", "lower"):
        return declared
    return METRICS.get(name, "higher")


def delta(entry: dict) -> float | None:
    b, t = entry.get("base"), entry.get("tuned")
    if not _num(b) or not _num(t):
        return None
    return float(t) - float(b)


def improved(entry: dict) -> bool | None:
    """True when tuned beats base in the metric's direction, False when worse, None when equal or unknown."""
    d = delta(entry)
    if d is None or d == 0:
        return None
    return (d > 0) == (better("", entry.get("better")) == "higher")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_evaluation(run_dir: Path) -> dict | None:
    """evaluation.json, or None when absent or not the expected shape."""
    data = read_json(Path(run_dir) / EVALUATION_FILE)
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        return None
    metrics = {k: v for k, v in data["metrics"].items() if isinstance(k, str) and isinstance(v, dict)}
    return {**data, "metrics": metrics}


def headline(method: str, evaluation: dict | None) -> tuple[str, dict] | None:
    """(metric name, its entry) to show for a run on the Trainings list."""
    if not evaluation:
        return None
    m = evaluation["metrics"]
    written = evaluation.get("headline")  # the trainer writes the method's headline trait (custom methods too)
    declared = tuple(written) if isinstance(written, list) else HEADLINE.get(method, DEFAULT_HEADLINE)
    for name in declared + DEFAULT_HEADLINE:
        if name in m:
            return name, m[name]
    return None


def read_rows(run_dir: Path, limit: int = 5000) -> list[dict]:
    """evaluation_rows.jsonl; a bad or half-written line is skipped."""
    return jsonl.rows(Path(run_dir) / EVALUATION_ROWS_FILE, limit=limit)
