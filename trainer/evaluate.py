"""Held-out task metrics for the base model before training and the tuned model after, measured the same way.

SFT and custom methods: greedy answers scored by exact match, ROUGE-L, chrF, BLEU, and the perplexity of the
reference answers (plus a custom method's EVAL_METRICS and REWARD_FUNCTIONS). GRPO: greedy answers scored by each
chosen reward function, accuracy (correctness = 1) and completion length. DPO: log-probabilities of chosen and
rejected answers; the tuned model's implicit reward is measured against the base (its reference model).
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jobs.atomic import atomic_write_json, atomic_write_text
from jobs.evaluation import EVALUATION_FILE, EVALUATION_ROWS_FILE, REWARD_PREFIX, better
from jobs.methods import EVAL_PREFERENCE, EVAL_REWARDS, EVAL_TEXT
from jobs.metrics import M

from . import eval_kinds, prompt_context, scores
from .generate import generate
from .logprobs import answer_logprobs

log = logging.getLogger("tunedeck.evaluate")
EVAL_VERSION = 3  # part of the base cache key: bump when what is measured changes


@dataclass
class Setup:
    method: str
    family: str                       # the method's evaluation trait: EVAL_TEXT, EVAL_REWARDS, EVAL_PREFERENCE, ...
    rows: list[dict]                  # the held-out rows scored: {prompt, reference, [chosen, rejected], [conversation]}
    max_new_tokens: int
    max_length: int
    beta: float = 0.1
    metric_fns: dict = field(default_factory=dict)   # name -> fn(prompts, completions, references) -> list[float]
    declared_better: dict = field(default_factory=dict)
    headline: tuple = ()
    seed: int = 0                     # a reward model's untrained head is drawn with it

    def decoding(self) -> dict:
        if self.family in eval_kinds.KINDS:
            return eval_kinds.KINDS[self.family].decoding(self)
        if self.family == EVAL_PREFERENCE:
            return {"kind": "log-probabilities of chosen and rejected answers", "max_length": self.max_length}
        return {"do_sample": False, "max_new_tokens": self.max_new_tokens}

    def cache_parts(self) -> dict:
        """What a base result depends on, besides the model: rows, decoding and which metrics are measured."""
        return {"version": EVAL_VERSION, "method_family": self.family, "rows": self.rows, "decoding": self.decoding(),
                "metrics": sorted(self.metric_fns),
                "beta": self.beta if self.family in (EVAL_PREFERENCE, *eval_kinds.KINDS) else None}


def setup_for(method: str, params: dict, eval_rows: list[dict], method_module=None,
              custom_rewards: dict | None = None, *, method_decl=None, ws=None) -> Setup | None:
    """What to measure for this run, or None when evaluation is off (eval_max_rows 0 or no held-out rows)."""
    limit = params.get("eval_max_rows", 100)
    if not limit or not eval_rows:
        return None
    keys = ("prompt", "reference", "completion", "chosen", "rejected", *eval_kinds.ROW_KEYS)
    rows = [{k: r[k] for k in keys if k in r} for r in eval_rows[:limit]]
    for row, item in zip(rows, eval_rows, strict=False):  # the system turn, earlier turns and tools, as trained
        conv = prompt_context.of_item(item)
        if isinstance(conv, dict):
            row["conversation"] = conv
    family = method_decl.evaluation if method_decl is not None else EVAL_TEXT
    s = Setup(method, family, rows, params["max_content_length"], params["max_seq_length"],
              beta=float(params.get("beta") or 0.1),
              declared_better=dict(method_decl.metrics) if method_decl is not None else {},
              headline=tuple(method_decl.headline) if method_decl is not None else (), seed=params.get("seed", 0))
    if family == EVAL_REWARDS:
        from . import rewards
        names = list(params["reward_functions"])
        funcs = rewards.build(names, custom_rewards or {}, params["max_content_length"], ws=ws,
                              max_length=params["max_seq_length"])
        for name, fn in zip(names, funcs, strict=False):
            s.metric_fns[REWARD_PREFIX + name] = _reward_as_metric(fn)
    elif method_module is not None:  # a custom method: its own metrics, and its reward functions as metrics
        for name, fn in dict(getattr(method_module, "EVAL_METRICS", {}) or {}).items():
            if callable(fn):
                s.metric_fns[str(name)] = _plain(fn)
        for name, fn in dict(getattr(method_module, "REWARD_FUNCTIONS", {}) or {}).items():
            if callable(fn):
                s.metric_fns[REWARD_PREFIX + str(name)] = _reward_as_metric(fn)
        s.declared_better.update({str(k): v for k, v in dict(getattr(method_module, "EVAL_METRICS_BETTER", {}) or {}).items()})
    return s


def _plain(fn):
    def metric(prompts, completions, references):
        return fn(prompts, completions, references)
    return metric


def _reward_as_metric(fn):
    def metric(prompts, completions, references):
        return fn(prompts, completions, reference=references)
    return metric


def score_model(model, tokenizer, setup: Setup, *, should_stop: Callable[[], bool] | None = None,
                report: Callable[[int, int], None] | None = None, seed: int = 0,
                known_nll: list | None = None) -> dict:
    """One model's raw per-row results: answers, per-row metric values, and log-probabilities.

    known_nll: per row, (sum of log-probabilities, tokens) of its completion as the final eval_loss pass scored
    them (RowLosses): the reference perplexity is taken from there instead of scoring the answers again."""
    if setup.family in eval_kinds.KINDS:
        return eval_kinds.KINDS[setup.family].score(model, tokenizer, setup, should_stop=should_stop, report=report)
    n = len(setup.rows)
    prompts = [r["prompt"] for r in setup.rows]  # readable texts, for metric and reward functions
    convs = [prompt_context.of_row(r) for r in setup.rows]  # what the model sees
    refs = [r["reference"] for r in setup.rows]
    if setup.family == EVAL_PREFERENCE:
        pairs = [(c, r["chosen"]) for c, r in zip(convs, setup.rows, strict=True)] + \
                [(c, r["rejected"]) for c, r in zip(convs, setup.rows, strict=True)]
        lp = answer_logprobs(model, tokenizer, pairs, setup.max_length, should_stop=should_stop,
                             on_batch=lambda d: report and report(min(d, 2 * n) // 2, n))
        return {"answers": [""] * n, "per_row": {},
                "chosen_logp": [s for s, _ in lp[:n]], "rejected_logp": [s for s, _ in lp[n:]]}
    steps = n * (2 if setup.family == EVAL_TEXT else 1)
    lengths: list[int] = []
    answers = [a[0] for a in generate(model, tokenizer, convs, setup.max_new_tokens, seed=seed, lengths=lengths,
                                      should_stop=should_stop, on_batch=lambda d: report and report(d, steps))]
    per_row: dict[str, list] = {}
    if setup.family == EVAL_TEXT:
        per_row["exact_match"] = [scores.exact_match(a, r) for a, r in zip(answers, refs, strict=False)]
        per_row["rouge_l"] = [scores.rouge_l(a, r) for a, r in zip(answers, refs, strict=False)]
        per_row["chrf"] = [scores.chrf(a, r) for a, r in zip(answers, refs, strict=False)]
        if known_nll is not None and len(known_nll) == n:
            lp = known_nll  # the eval_loss pass scored these very tokens a moment ago
            if report:
                report(steps, steps)
        elif all(r.get("completion") for r in setup.rows):  # the answer as trained (cut to max_content_length)
            lp = answer_logprobs(model, tokenizer, [(c, r["completion"]) for c, r in zip(convs, setup.rows, strict=True)],
                                 setup.max_length, should_stop=should_stop,
                                 on_batch=lambda d: report and report(n + d, steps))
        else:  # conversations: the last answer, within max_content_length
            lp = answer_logprobs(model, tokenizer, list(zip(convs, refs, strict=False)), setup.max_length,
                                 should_stop=should_stop, on_batch=lambda d: report and report(n + d, steps),
                                 max_answer_tokens=setup.max_new_tokens)
        per_row["perplexity"] = [math.exp(-s / c) if c else None for s, c in lp]
        per_row["_nll"] = [[-s, c] for s, c in lp]
    else:
        per_row[M.completion_length] = [float(n) for n in lengths]
    for name, fn in setup.metric_fns.items():
        try:
            vals = [float(v) for v in fn(prompts, answers, refs)]
            if len(vals) != n:
                raise ValueError(f"returned {len(vals)} values for {n} rows")
            per_row[name] = vals
        except Exception as e:  # noqa: BLE001 - a custom metric that fails is reported, not fatal
            log.warning("metric %s failed and is left out: %s: %s", name, type(e).__name__, e)
    if setup.family == EVAL_REWARDS and REWARD_PREFIX + "correctness" in per_row:
        per_row["accuracy"] = [float(v == 1.0) for v in per_row[REWARD_PREFIX + "correctness"]]
    return {"answers": answers, "per_row": per_row}


class RowLosses:
    """Per held-out row, (sum of log-probabilities, tokens) of its completion, from TRL's own eval_loss pass.

    Attached to an SFT trainer on prompt → completion rows (transformers' preprocess_logits_for_metrics and
    compute_metrics): each pass reduces its logits to two numbers a row. The pass at the run's last step is the tuned
    model's reference perplexity, so the tuned evaluation does not score the same answers a second time; the base
    model's perplexity scores the same tokens with trainer.logprobs (the completion through the chat template)."""

    def __init__(self, trainer, eval_items: list[dict]):
        self.trainer, self.items = trainer, eval_items
        self.rows: list | None = None
        self.step: int | None = None
        trainer.preprocess_logits_for_metrics = self._reduce
        trainer.compute_metrics = self._keep

    @classmethod
    def attach(cls, trainer, setup: Setup | None, method, eval_items: list[dict]) -> RowLosses | None:
        plain = eval_items and all("completion" in i and "input_ids" not in i for i in eval_items)
        if setup is None or setup.family != EVAL_TEXT or not method.answer_loss or not plain \
                or getattr(trainer.args, "packing", False) or getattr(trainer.args, "padding_free", False):
            return None
        return cls(trainer, eval_items)

    @staticmethod
    def _reduce(logits, labels):
        import torch
        if isinstance(logits, tuple):
            logits = logits[0]
        labels = labels[:, 1:]
        keep = labels != -100
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1))
        return torch.stack([(logp.squeeze(-1) * keep).sum(-1), keep.sum(-1).float()], dim=-1)

    def _keep(self, pred) -> dict:
        preds = pred.predictions
        self.rows = [(float(s), int(c)) for s, c in preds.tolist()] if len(preds) == len(self.items) else None
        self.step = self.trainer.state.global_step
        return {}

    def for_setup(self, setup: Setup) -> list | None:
        """The rows of `setup`, when the last pass ran at the final step and scored every one of them."""
        if self.rows is None or self.step != self.trainer.state.global_step:
            return None
        by_key = {(i["prompt"], i["reference"], i["completion"]): r for i, r in zip(self.items, self.rows, strict=True)}
        out = [by_key.get((r["prompt"], r["reference"], r.get("completion"))) for r in setup.rows]
        return None if any(x is None for x in out) else out


def _dpo_rows(setup: Setup, result: dict, base: dict | None) -> dict:
    """Implicit reward per pair: beta * (log pi - log pi_ref) on chosen minus on rejected; the base is pi_ref."""
    ref_c = (base or result)["chosen_logp"]
    ref_r = (base or result)["rejected_logp"]
    margins = [setup.beta * ((c - rc) - (r - rr))
               for c, r, rc, rr in zip(result["chosen_logp"], result["rejected_logp"], ref_c, ref_r, strict=False)]
    return {M.reward_margin: margins, "preference_accuracy": [float(m > 0) for m in margins],
            "logprob_accuracy": [float(c > r) for c, r in zip(result["chosen_logp"], result["rejected_logp"], strict=False)]}


def per_row(setup: Setup, result: dict, base: dict | None = None) -> dict:
    if setup.family in eval_kinds.KINDS:
        return eval_kinds.KINDS[setup.family].per_row(setup, result, base)
    if setup.family == EVAL_PREFERENCE:
        return _dpo_rows(setup, result, base)
    return {k: v for k, v in result["per_row"].items() if not k.startswith("_")}


def aggregate(setup: Setup, result: dict, base: dict | None = None) -> dict:
    """Metric name -> the value over all rows."""
    if setup.family in eval_kinds.KINDS:
        return eval_kinds.KINDS[setup.family].aggregate(setup, result, base)
    rows = per_row(setup, result, base)
    out = {name: scores.mean(vals) for name, vals in rows.items() if name != "perplexity"}
    if setup.family == EVAL_TEXT:
        nll = result["per_row"]["_nll"]
        tokens = sum(c for _, c in nll)
        out["perplexity"] = math.exp(sum(s for s, _ in nll) / tokens) if tokens else None
        out["bleu"] = scores.corpus_bleu(result["answers"], [r["reference"] for r in setup.rows])
    return out


def write(run_dir: Path, setup: Setup, base: dict, tuned: dict, seconds: dict) -> dict:
    """evaluation_rows.jsonl first, then evaluation.json: both atomic, so a reader never sees a partial result."""
    b_rows, t_rows = per_row(setup, base), per_row(setup, tuned, base)
    lines = []
    for i, row in enumerate(setup.rows):
        rec = {"index": i, "prompt": row["prompt"], **prompt_context.fields(prompt_context.of_row(row)),
               "reference": row["reference"], "base": base["answers"][i], "tuned": tuned["answers"][i],
               "scores": {"base": {k: v[i] for k, v in b_rows.items()}, "tuned": {k: v[i] for k, v in t_rows.items()}}}
        if "chosen" in row and "rejected" in row:
            rec["chosen"], rec["rejected"] = row["chosen"], row["rejected"]
        rec.update({k: row[k] for k in eval_kinds.ROW_KEYS if k in row})
        lines.append(json.dumps(rec, ensure_ascii=False))
    atomic_write_text(run_dir / EVALUATION_ROWS_FILE, "".join(line + "\n" for line in lines))
    b_agg, t_agg = aggregate(setup, base), aggregate(setup, tuned, base)
    metrics = {name: {"base": _round(b_agg.get(name)), "tuned": _round(t_agg.get(name)),
                      "better": better(name, setup.declared_better.get(name))}
               for name in dict.fromkeys([*b_agg, *t_agg])}
    out = {"rows": len(setup.rows), "method": setup.method, "headline": list(setup.headline),
           "decoding": setup.decoding(), "metrics": metrics,
           "seconds": {k: round(v, 2) for k, v in seconds.items()}}
    atomic_write_json(run_dir / EVALUATION_FILE, out)
    return out


def _round(v):
    return None if v is None or not math.isfinite(v) else round(float(v), 6)
