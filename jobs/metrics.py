"""Metric names and what "better" means for each, declared once.

The trainer names its metrics.csv columns and summary.json keys from here; the dashboard's charts, the final-metrics
table and Compare's "best" marks read the same declarations.
"""
from __future__ import annotations

from dataclasses import dataclass

LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class Metric:
    name: str
    better: str | None = None    # LOWER, HIGHER, or None when neither is better (learning_rate, kl)
    group: str = "common"         # common, grpo or dpo: which methods write it
    smooth: bool = True           # EMA-smoothed in charts (a schedule such as learning_rate is not)
    in_log: bool = False          # printed on each step line of train.log


_DECLARED = [
    Metric("loss", LOWER, in_log=True),
    Metric("eval_loss", LOWER, in_log=True),
    Metric("learning_rate", None, smooth=False, in_log=True),
    Metric("grad_norm", None, in_log=True),
    Metric("tokens_per_second", HIGHER, in_log=True),
    Metric("reward", HIGHER, "grpo", in_log=True),
    Metric("reward_std", None, "grpo"),
    Metric("kl", None, "grpo"),
    Metric("completion_length", None, "grpo"),
    Metric("reward_margin", HIGHER, "dpo", in_log=True),
    Metric("reward_accuracy", HIGHER, "dpo"),
    Metric("rewards_chosen", HIGHER, "dpo"),
    Metric("rewards_rejected", LOWER, "dpo"),
]
METRICS: dict[str, Metric] = {m.name: m for m in _DECLARED}

# metrics.csv: these columns always come first; others are appended as they first appear.
STEP, EPOCH, ELAPSED, TOKENS_SEEN = "step", "epoch", "elapsed_seconds", "tokens_seen"
CSV_BASE_COLUMNS = [STEP, EPOCH, "loss", "learning_rate", "grad_norm", "tokens_per_second", ELAPSED]
X_AXES = (STEP, EPOCH, ELAPSED, TOKENS_SEEN)   # what a curve can be plotted against
NOT_CHARTED = {STEP, EPOCH, ELAPSED, TOKENS_SEEN}

# TRL's log keys that get another name (None: not a per-step metric, dropped).
TRL_NAMES = {"rewards/chosen": "rewards_chosen", "rewards/rejected": "rewards_rejected",
             "rewards/margins": "reward_margin", "rewards/accuracies": "reward_accuracy",
             "eval_rewards/margins": "eval_reward_margin", "eval_rewards/accuracies": "eval_reward_accuracy",
             "completions/mean_length": "completion_length", "train_loss": None, "total_flos": None,
             "train_runtime": None, "train_samples_per_second": None, "train_steps_per_second": None,
             "train_tokens_per_second": None, "num_input_tokens_seen": TOKENS_SEEN, "num_tokens": TOKENS_SEEN}


def from_trl(key: str) -> str | None:
    """Our column name for a key of TRL's logs; per-reward-function GRPO keys become reward_<fn>[_std]."""
    if key in TRL_NAMES:
        return TRL_NAMES[key]
    if key.startswith("rewards/") and key.endswith("/mean"):
        return "reward_" + key[len("rewards/"):-len("/mean")]
    if key.startswith("rewards/") and key.endswith("/std"):
        return "reward_" + key[len("rewards/"):-len("/std")] + "_std"
    return key.replace("/", "_")


def is_reward_function(name: str) -> bool:
    """A per-function GRPO reward column (reward_<fn>), not one of the declared reward columns or a spread."""
    return name.startswith("reward_") and name not in METRICS and not name.endswith("_std")


def better(name: str) -> str | None:
    """LOWER, HIGHER or None for a metrics.csv column or a summary.json key (final_loss, best_eval_loss, ...)."""
    if name in METRICS:
        return METRICS[name].better
    if name in SUMMARY:
        return SUMMARY[name].better
    if name.startswith("eval_") and name[5:] in METRICS:
        return METRICS[name[5:]].better
    if is_reward_function(name):
        return HIGHER
    return None


def charted(columns) -> list[str]:
    """The chartable columns of a metrics table, declared ones first in declaration order, then reward functions."""
    cols = [m for m in METRICS if m in columns]
    return cols + sorted(c for c in columns if is_reward_function(c) and c not in cols)


def smoothed(name: str) -> bool:
    return METRICS[name].smooth if name in METRICS else True


@dataclass(frozen=True)
class Final:
    """A summary.json figure. `of`: the metrics.csv column it summarises, so "best" is only marked among like
    figures; `pick`: "last" (its final value) or "best" (its best value by the metric's `better`)."""
    name: str
    better: str | None
    of: str | None = None
    pick: str = "last"


_FINALS = [
    Final("final_loss", LOWER, "loss"), Final("best_loss", LOWER, "loss", "best"),
    Final("final_eval_loss", LOWER, "eval_loss"), Final("best_eval_loss", LOWER, "eval_loss", "best"),
    Final("final_reward", HIGHER, "reward"),
    Final("runtime_seconds", LOWER), Final("tokens_per_second", HIGHER), Final("peak_memory_bytes", LOWER),
    Final("total_steps", None, STEP),
]
SUMMARY: dict[str, Final] = {f.name: f for f in _FINALS}
CURVE_FINALS = [f for f in _FINALS if f.of in METRICS]  # the figures a run's own curves give


class Names:
    """Attribute access to declared names: M.loss == "loss", S.final_loss == "final_loss"; an undeclared name is an
    AttributeError at once, where a retyped string literal would silently read nothing."""

    def __init__(self, names):
        self.__dict__.update({n: n for n in names})


M = Names(METRICS)   # metrics.csv columns
S = Names(SUMMARY)   # summary.json figures
