"""The run's evaluation and sample phases: base before training (from the run's own copy on a resume, else the
workspace cache, else computed), tuned after; evaluation.json only when both are complete."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from jobs.atomic import atomic_write_json, read_json
from jobs.evaluation import BASE_EVALUATION_FILE
from jobs.rundir import RunDir

from . import base_cache, evaluate, prompt_context, samples
from .generate import prompt_key
from .phases import Phases

log = logging.getLogger("tunedeck.evaluate")
SAMPLES_BEFORE_FILE = RunDir(".").samples_before.name  # named once, in jobs.rundir


class EvalRun:
    def __init__(self, run_dir: Path, home: Path, model_path: Path, params: dict, tokenizer, phases: Phases,
                 should_stop, setup: evaluate.Setup | None, sample_prompts: list[str | dict]):
        self.run_dir, self.home, self.params, self.tok = run_dir, home, params, tokenizer
        self.phases, self.should_stop, self.setup, self.prompts = phases, should_stop, setup, sample_prompts
        four = params["load_in_4bit"]
        self.eval_key = base_cache.key(model_path, four, setup.cache_parts()) if setup else None
        self.samples_key = base_cache.key(model_path, four, {"prompts": sample_prompts, **samples.settings(params)})
        self.base: dict | None = None
        self.before: list[list[str]] | None = None
        self.seconds: dict[str, float] = {}

    def _report(self, done: int, total: int) -> None:
        self.phases.advance(done, total)

    def _own_or_cached(self, name: str, kind: str, key: str):
        own = read_json(self.run_dir / name)
        if isinstance(own, dict) and own.get("key") == key:
            log.info("base-model %s reused from this run's earlier attempt", kind)
            return own.get("value")
        return base_cache.load(self.home, kind, key)

    def _keep(self, name: str, kind: str, key: str, value) -> None:
        atomic_write_json(self.run_dir / name, {"key": key, "value": value})
        base_cache.store(self.home, kind, key, value)

    def run_base(self, model) -> None:
        """Base evaluation and base sample answers; each skipped when this run or the cache already has it."""
        n_eval = len(self.setup.rows) if self.setup else 0
        self.phases.enter("base_evaluation", total=n_eval + len(self.prompts))
        if self.setup:
            self.base = self._own_or_cached(BASE_EVALUATION_FILE, "evaluation", self.eval_key)
            if self.base is None:
                t0 = time.time()
                log.info("evaluating the base model on %d held-out rows", n_eval)
                self.base = evaluate.score_model(model, self.tok, self.setup, should_stop=self.should_stop,
                                                 report=self._report, seed=self.params["seed"])
                self.seconds["base"] = time.time() - t0
                self._keep(BASE_EVALUATION_FILE, "evaluation", self.eval_key, self.base)
        self.before = self._own_or_cached(SAMPLES_BEFORE_FILE, "samples", self.samples_key)
        if self.before is None:
            t0 = time.time()
            log.info("generating base-model answers for %d held-out prompts", len(self.prompts))
            self.before = samples.generate(model, self.tok, self.prompts, self.params, known=self._known(self.base),
                                           should_stop=self.should_stop,
                                           report=lambda d, t: self._report(n_eval + d, n_eval + t))
            self.seconds["base_samples"] = time.time() - t0
            self._keep(SAMPLES_BEFORE_FILE, "samples", self.samples_key, self.before)

    def run_tuned(self, model) -> list[list[str]]:
        """Tuned evaluation (writes evaluation.json and evaluation_rows.jsonl) and the tuned sample answers."""
        n_eval = len(self.setup.rows) if self.setup else 0
        self.phases.enter("tuned_evaluation", total=n_eval + len(self.prompts))
        tuned = None
        if self.setup:
            t0 = time.time()
            log.info("evaluating the tuned model on %d held-out rows", n_eval)
            tuned = evaluate.score_model(model, self.tok, self.setup, should_stop=self.should_stop,
                                         report=self._report, seed=self.params["seed"])
            self.seconds["tuned"] = time.time() - t0
            result = evaluate.write(self.run_dir, self.setup, self.base, tuned, self.seconds)
            log.info("evaluation: %s", ", ".join(f"{k} {v['base']} → {v['tuned']}" for k, v in result["metrics"].items()))
        log.info("generating tuned-model answers for %d held-out prompts", len(self.prompts))
        t0 = time.time()
        after = samples.generate(model, self.tok, self.prompts, self.params, known=self._known(tuned),
                                 should_stop=self.should_stop, report=lambda d, t: self._report(n_eval + d, n_eval + t))
        self.seconds["tuned_samples"] = time.time() - t0
        return after

    def _known(self, result: dict | None) -> dict:
        """Greedy answers the evaluation already made, by prompt (deterministic decoding, so the same answer)."""
        if not result or not self.setup or not result.get("answers") or not any(result["answers"]):
            return {}
        return {prompt_key(prompt_context.of_row(r)): a for r, a in zip(self.setup.rows, result["answers"], strict=False)}
