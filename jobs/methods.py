"""Training methods: the built-in declarations and custom methods from workspace/methods/.

A method is one declaration here plus one recipe in trainer/methods/<name>.py (a custom method: one file in
workspace/methods/ holding both). The declaration carries everything that differs between methods, as traits the
validator, the trainer, the evaluation and the dashboard read without loading a model:

- params: its own parameters (the form, the schema and validation read them);
- formats / columns: the dataset formats it trains on, and the params that name the columns it reads;
- output: GENERATOR (an adapter that writes answers) or SCORER (a reward model that scores an answer);
- evaluation / metrics / headline: which held-out evaluation measures it, its metrics with what "better" means,
  and the metric the Trainings list shows, in order of preference;
- samples: how sample answers are produced (SAMPLES_GENERATE: greedy answers; SAMPLES_NONE: none);
- reference_model: REFERENCE_BASE when the loss compares against the base without the adapter, else None;
- packs: its rows are text that `packing` may put several to a sequence (pairs and groups cannot be packed);
- lora_only: why finetuning_type=full is refused for it ("" when it can train every weight).

Nothing outside these declarations tests a method's name.
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
RM_REWARD_PREFIX = "rm:"   # a GRPO reward function "rm:<job id>": the scores of a finished reward-model run

Problem = tuple  # (field, value, message)

# output
GENERATOR, SCORER = "generator", "scorer"
OUTPUTS = (GENERATOR, SCORER)
# samples
SAMPLES_GENERATE, SAMPLES_NONE = "generate", "none"
# reference_model
REFERENCE_BASE = "base"
# evaluation: what the held-out evaluation measures (trainer/evaluate.py and trainer/eval_kinds.py implement them)
EVAL_TEXT = "text"                  # greedy answers against the reference: exact match, ROUGE-L, chrF, BLEU, perplexity
EVAL_REWARDS = "rewards"            # greedy answers scored by the job's reward functions
EVAL_PREFERENCE = "preference"      # log-probabilities of chosen and rejected answers (implicit reward vs the base)
EVAL_UNPAIRED = "unpaired"          # log-probability of desirable / undesirable answers (implicit reward vs the base)
EVAL_PERPLEXITY = "perplexity"      # perplexity of held-out text, every token
EVAL_PAIRWISE = "pairwise"          # a scorer's scores of chosen and rejected answers
EVALUATIONS = (EVAL_TEXT, EVAL_REWARDS, EVAL_PREFERENCE, EVAL_UNPAIRED, EVAL_PERPLEXITY, EVAL_PAIRWISE)

# Dataset formats (jobs.data.formats declares them; repeated here as the traits' vocabulary)
CONVERSATION_FORMATS = ("column", "alpaca", "messages", "sharegpt")
PAIR_FORMATS = ("preference",)
HIGHER, LOWER = "higher", "lower"

# Each evaluation's metrics: name -> what counts as better. A method may add its own (a custom one's EVAL_METRICS).
EVAL_METRICS: dict[str, dict[str, str]] = {
    EVAL_TEXT: {"exact_match": HIGHER, "rouge_l": HIGHER, "chrf": HIGHER, "bleu": HIGHER, "perplexity": LOWER},
    EVAL_REWARDS: {"accuracy": HIGHER,             # share of held-out prompts with correctness = 1
                   "completion_length": LOWER},    # mean completion length in tokens (shorter is cheaper)
    EVAL_PREFERENCE: {"preference_accuracy": HIGHER,  # share of pairs whose implicit-reward margin is > 0
                      "reward_margin": HIGHER,        # mean implicit-reward margin (chosen - rejected)
                      "logprob_accuracy": HIGHER},    # share of pairs where the model gives chosen more log-probability
    EVAL_UNPAIRED: {"label_accuracy": HIGHER,      # share of rows whose implicit reward has the label's sign
                    "reward_margin": HIGHER},      # mean implicit reward of desirable rows minus undesirable ones
    EVAL_PERPLEXITY: {"perplexity": LOWER},        # exp(mean negative log-likelihood per token of held-out text)
    EVAL_PAIRWISE: {"pairwise_accuracy": HIGHER,   # share of pairs the scorer ranks chosen above rejected
                    "score_margin": HIGHER},       # mean score(chosen) - score(rejected)
}


@dataclass
class Method:
    name: str
    description: str
    params: tuple[Param, ...] = ()
    default_columns: dict = field(default_factory=dict)   # the method's defaults for common params
    formats: tuple[str, ...] = CONVERSATION_FORMATS       # dataset formats it trains on
    columns: tuple[str, ...] = ("prompt_input_column", "prompt_output_column")  # params naming the columns it reads
    output: str = GENERATOR
    evaluation: str = EVAL_TEXT
    metrics: dict[str, str] = field(default_factory=dict)  # extra evaluation metrics: name -> HIGHER | LOWER
    headline: tuple[str, ...] = ("rouge_l",)
    samples: str = SAMPLES_GENERATE
    reference_model: str | None = None
    eval_loss: bool = True                 # the trainer's eval_loss runs on held-out rows during training
    streams: bool = False                  # very large datasets stream to the trainer instead of loading at once
    answer_loss: bool = False              # its eval_loss is the answer tokens' negative log-likelihood (SFT)
    packs: bool = False                    # packing=true may put several of its rows in one sequence
    lora_only: str = ""                    # why finetuning_type=full is refused ("" when it trains every weight too)
    demo_dataset: str | None = None        # the demo workspace's dataset for a first run
    builtin: bool = True
    path: Path | None = None
    error: str | None = None              # a custom method that failed to load
    module: Any = None
    check: Callable[[dict, MethodContext], list] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def all_metrics(self) -> dict[str, str]:
        """Every evaluation metric this method writes: name -> HIGHER | LOWER."""
        return {**EVAL_METRICS.get(self.evaluation, {}), **self.metrics}

    @property
    def generates(self) -> bool:
        return self.output == GENERATOR

    def accepts(self, fmt: str) -> bool:
        return fmt in self.formats


@dataclass
class MethodContext:
    rewards: dict                         # reward name -> description
    rm_problem: Callable[[str], str | None] | None = None   # why rm:<job id> cannot score this job (jobs.reward_models)


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
            if isinstance(r, str) and r.startswith(RM_REWARD_PREFIX):
                why = ctx.rm_problem(r) if ctx.rm_problem is not None else None
                if why:
                    out.append(("params.reward_functions", r, why))
            elif r not in ctx.rewards:
                out.append(("params.reward_functions", r, "unknown reward function; registered: "
                            + ", ".join(ctx.rewards) + f", or {RM_REWARD_PREFIX}<job id> of a finished reward model"))
        w = p.get("reward_weights")
        if isinstance(w, list) and len(w) != len(names):
            out.append(("params.reward_weights", w, f"needs one weight per reward function ({len(names)})"))
    return out


def _divisor(total: int) -> int:
    return max(d for d in range(2, max(total, 2) + 1) if total % d == 0) if total >= 2 else 2


def _check_kto(p: dict, ctx: MethodContext) -> list:
    bs = p.get("batch_size")
    if isinstance(bs, int) and bs < 2:
        return [("params.batch_size", bs, "KTO estimates its KL term from the other answers in a batch, so it needs "
                 "batch_size ≥ 2")]
    return []


def _beta(default: float, help: str, typical=(0.01, 1), typical_text="0.05–0.5") -> Param:
    return Param("beta", "float", default, help, min=0, max=10, min_exclusive=True, typical=typical,
                 typical_text=typical_text)


def _pair_columns(optional: bool = False) -> tuple[Param, ...]:
    kind = {"optional_column": True} if optional else {"column": True}
    return (Param("chosen_column", "str", "chosen", "Dataset field with the preferred answer.", **kind),
            Param("rejected_column", "str", "rejected", "Dataset field with the dispreferred answer.", **kind))


PAIR_COLUMNS = ("prompt_input_column", "prompt_output_column", "chosen_column", "rejected_column")
PAIR_DEFAULTS = {"prompt_input_column": "prompt", "prompt_output_column": "chosen"}

BUILTINS: dict[str, Method] = {
    "sft": Method(
        "sft", "Supervised fine-tuning on prompt → answer pairs; loss on the answer only.",
        params=(Param("prompt_context_column", "str", "input",
                      "Optional field appended to the prompt when the dataset has it (Alpaca's 'input').",
                      optional_column=True),),
        default_columns={"prompt_input_column": "instruction", "prompt_output_column": "output"},
        columns=("prompt_input_column", "prompt_output_column", "prompt_context_column"),
        streams=True, answer_loss=True, packs=True, demo_dataset="demo-instruct",
    ),
    "grpo": Method(
        "grpo", "Group Relative Policy Optimization: sample answers, score them with reward functions, learn.",
        params=(
            Param("reward_functions", "str_list", ["correctness", "format"],
                  "Reward functions by name: " + "; ".join(f"{k}: {v}" for k, v in BUILTIN_REWARDS.items())
                  + f"; {RM_REWARD_PREFIX}<job id>: the scores of a finished reward-model (rm) run on the same base"),
            Param("reward_weights", "float_list", None, "One weight per reward function; null weighs them equally.",
                  nullable=True),
            _beta(0.04, "KL penalty against the base model.", typical=(0, 0.5), typical_text="0.0–0.1"),
            Param("temperature", "float", 1.0, "Sampling temperature for the generations.", min=0, max=5,
                  min_exclusive=True, typical=(0.3, 1.5), typical_text="0.7–1.0"),
        ),
        default_columns={"prompt_input_column": "question", "prompt_output_column": "answer", "batch_size": 4},
        evaluation=EVAL_REWARDS, headline=("accuracy", "reward_correctness"), reference_model=REFERENCE_BASE,
        eval_loss=False, check=_check_grpo, demo_dataset="demo-math",
    ),
    "dpo": Method(
        "dpo", "Direct Preference Optimization on prompt / chosen / rejected triples.",
        params=(_beta(0.1, "Strength of the preference loss (DPO beta)."), *_pair_columns()),
        default_columns=PAIR_DEFAULTS, formats=PAIR_FORMATS, columns=PAIR_COLUMNS,
        evaluation=EVAL_PREFERENCE, headline=("preference_accuracy",), reference_model=REFERENCE_BASE,
        demo_dataset="demo-prefs",
    ),
    "kto": Method(
        "kto", "Kahneman-Tversky Optimization on answers marked good or bad (prompt / completion / label); "
               "preference pairs count as one good and one bad answer.",
        params=(
            _beta(0.1, "Strength of the KTO loss: how far the model may move from the base (KTO beta)."),
            Param("desirable_weight", "float", 1.0, "Weight of the loss on good (label true) answers; raise it when "
                  "good answers are rarer than bad ones.", min=0, max=100, min_exclusive=True, typical=(0.5, 4),
                  typical_text="1–1.33"),
            Param("undesirable_weight", "float", 1.0, "Weight of the loss on bad (label false) answers; raise it "
                  "when bad answers are rarer than good ones.", min=0, max=100, min_exclusive=True, typical=(0.5, 4),
                  typical_text="1–1.33"),
            Param("completion_column", "str", "completion", "Dataset field with the answer (unpaired data).",
                  optional_column=True),
            Param("label_column", "str", "label", "Dataset field with true (good answer) or false (bad answer).",
                  optional_column=True),
            *_pair_columns(optional=True),
        ),
        default_columns={"prompt_input_column": "prompt", "prompt_output_column": "completion"},
        formats=("unpaired_preference", "preference"), columns=("prompt_input_column",),
        evaluation=EVAL_UNPAIRED, headline=("label_accuracy",), reference_model=REFERENCE_BASE,
        check=_check_kto, demo_dataset="demo-prefs",
    ),
    "orpo": Method(
        "orpo", "Odds Ratio Preference Optimization on prompt / chosen / rejected: SFT and preference in one loss, "
                "no reference model.",
        params=(_beta(0.1, "Weight of the odds-ratio preference term beside the SFT loss (ORPO lambda)."),
                *_pair_columns()),
        default_columns=PAIR_DEFAULTS, formats=PAIR_FORMATS, columns=PAIR_COLUMNS,
        evaluation=EVAL_PREFERENCE, headline=("logprob_accuracy",), demo_dataset="demo-prefs",
    ),
    "simpo": Method(
        "simpo", "Simple Preference Optimization on prompt / chosen / rejected: a length-normalised margin, "
                 "no reference model.",
        params=(_beta(2.0, "Scale of the length-normalised reward (SimPO beta).", typical=(0.5, 10),
                      typical_text="2–2.5"),
                Param("simpo_gamma", "float", 0.5, "Target reward margin the chosen answer must win by over the "
                      "rejected one (SimPO gamma).", min=0, max=10, typical=(0, 2), typical_text="0.5–1.5"),
                *_pair_columns()),
        default_columns=PAIR_DEFAULTS, formats=PAIR_FORMATS, columns=PAIR_COLUMNS,
        evaluation=EVAL_PREFERENCE, headline=("logprob_accuracy",), demo_dataset="demo-prefs",
    ),
    "cpt": Method(
        "cpt", "Continued pre-training: the language-model loss on every token of raw text (domain adaptation).",
        params=(Param("text_column", "str", "text", "Dataset field with the text to learn (any text column; "
                      "with dataset_format text).", column=True),),
        default_columns={"max_seq_length": 512},
        formats=("text",), columns=("text_column",), evaluation=EVAL_PERPLEXITY, headline=("perplexity",),
        samples=SAMPLES_NONE, packs=True, demo_dataset="demo-instruct",
    ),
    "rm": Method(
        "rm", "Reward model: a score head on the base, trained on prompt / chosen / rejected to score the chosen "
              "answer higher; usable as a GRPO reward (rm:<job id>).",
        params=(Param("center_rewards_coefficient", "float", None, "Pulls the mean score towards 0 (TRL's "
                      "center_rewards_coefficient); null turns it off.", min=0, max=10, nullable=True,
                      typical=(0, 0.1), typical_text="0.01"),
                *_pair_columns()),
        default_columns=PAIR_DEFAULTS, formats=PAIR_FORMATS, columns=PAIR_COLUMNS, output=SCORER,
        evaluation=EVAL_PAIRWISE, headline=("pairwise_accuracy",), samples=SAMPLES_NONE, demo_dataset="demo-prefs",
        lora_only="a reward model is an adapter with its own score head, and GRPO loads it as one (rm:<job id>)",
    ),
}

# The trait names a custom method file may declare (module attribute -> Method field).
CUSTOM_TRAITS = {"FORMATS": "formats", "COLUMNS": "columns", "OUTPUT": "output", "EVALUATION": "evaluation",
                 "HEADLINE": "headline", "SAMPLES": "samples", "REFERENCE_MODEL": "reference_model"}

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


def _custom_traits(module, path: Path) -> tuple[dict, str | None]:
    """The traits a custom file declares (FORMATS, OUTPUT, EVALUATION, ...), or the first problem with them."""
    from jobs.data.formats import FORMATS

    out: dict[str, Any] = {}
    for attr, name in CUSTOM_TRAITS.items():
        if not hasattr(module, attr):
            continue
        v = getattr(module, attr)
        if name in ("formats", "columns", "headline"):
            v = (v,) if isinstance(v, str) else tuple(v or ())
        out[name] = v
    allowed = {"formats": FORMATS, "output": OUTPUTS, "evaluation": EVALUATIONS,
               "samples": (SAMPLES_GENERATE, SAMPLES_NONE), "reference_model": (None, REFERENCE_BASE)}
    for name, ok in allowed.items():
        vals = out.get(name, ()) if name == "formats" else (out[name],) if name in out else ()
        bad = [v for v in vals if v not in ok]
        if bad:
            return {}, f"{path.name}: {name.upper()} {bad[0]!r} is not one of " + ", ".join(map(str, ok))
    metrics = {str(k): HIGHER for k, f in dict(getattr(module, "EVAL_METRICS", {}) or {}).items() if callable(f)}
    for k, v in dict(getattr(module, "EVAL_METRICS_BETTER", {}) or {}).items():
        if v not in (HIGHER, LOWER):
            return {}, f"{path.name}: EVAL_METRICS_BETTER[{k!r}] is {v!r}; use 'higher' or 'lower'"
        metrics[str(k)] = v
    out["metrics"] = metrics
    return out, None


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
        traits, err = _custom_traits(module, path)
        if bad or err:
            out[name] = Method(name, "(failed to load)", builtin=False, path=path,
                               error=err or f"{path.name}: PARAMS must hold jobs.params.Param entries")
            continue
        if set(traits.get("formats", ())) & set(PAIR_FORMATS):  # pairs: the chosen / rejected column params too
            params += tuple(p for p in _pair_columns() if p.name not in {q.name for q in params})
        out[name] = Method(
            name, str(getattr(module, "DESCRIPTION", "Custom method.")).strip().splitlines()[0],
            params=params, default_columns=dict(getattr(module, "DEFAULT_COLUMNS", {})),
            builtin=False, path=path, module=module, check=getattr(module, "check", None), **traits,
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


def method_of(name: str, methods_dir: Path | None = None) -> Method | None:
    """The declaration of a method by name: a built-in one, else a custom one from methods_dir."""
    if name in BUILTINS:
        return BUILTINS[name]
    return list_methods(methods_dir).get(name) if methods_dir else None
