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
from .generate import merged, prompt_key
from .phases import Phases

log = logging.getLogger("tunedeck.evaluate")
SAMPLES_BEFORE_FILE = RunDir(".").samples_before.name  # named once, in jobs.rundir


class Progress:
    """A phase's done/total in one unit, held-out rows plus sample prompts: each part (the evaluation, the sample
    answers) reports in its own units, scaled onto its share, so the counter moves evenly and ends at its total."""

    def __init__(self, phases: Phases, name: str, total: int):
        self.phases, self.total, self.done = phases, total, 0
        phases.enter(name, total=total)

    def resize(self, total: int) -> None:
        """Fewer sample prompts to generate than counted (the evaluation already answered them)."""
        if total != self.total:
            self.total = total
            self.phases.advance(min(self.done, total), total)

    def part(self, offset: int, units: int):
        def report(done: int, total: int) -> None:
            share = min(done, total) / total if total else 1.0
            self.done = offset + int(units * share)
            self.phases.advance(self.done, self.total)
        return report


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
        self.row_losses: evaluate.RowLosses | None = None

    def use_eval_loss(self, trainer, method, eval_items: list[dict]) -> None:
        """Keep the eval_loss pass's per-row scores: its pass at the last step is the tuned reference perplexity."""
        self.row_losses = evaluate.RowLosses.attach(trainer, self.setup, method, eval_items)

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
        if self.setup:
            self.base = self._own_or_cached(BASE_EVALUATION_FILE, "evaluation", self.eval_key)
        self.before = self._own_or_cached(SAMPLES_BEFORE_FILE, "samples", self.samples_key)
        n_eval = len(self.setup.rows) if self.setup and self.base is None else 0
        progress = Progress(self.phases, "base_evaluation", n_eval + (len(self.prompts) if self.before is None else 0))
        if n_eval:
            t0 = time.time()
            log.info("evaluating the base model on %d held-out rows", n_eval)
            self.base = evaluate.score_model(model, self.tok, self.setup, should_stop=self.should_stop,
                                             report=progress.part(0, n_eval), seed=self.params["seed"])
            self.seconds["base"] = time.time() - t0
            self._keep(BASE_EVALUATION_FILE, "evaluation", self.eval_key, self.base)
        if self.before is None:
            t0 = time.time()
            known = self._known(self.base)
            todo = len(samples.todo_of(self.prompts, self.params, known))
            progress.resize(n_eval + todo)
            log.info("generating base-model answers for %d held-out prompts", todo)
            self.before = samples.generate(model, self.tok, self.prompts, self.params, known=known,
                                           should_stop=self.should_stop, report=progress.part(n_eval, todo))
            self.seconds["base_samples"] = time.time() - t0
            self._keep(SAMPLES_BEFORE_FILE, "samples", self.samples_key, self.before)

    def run_tuned(self, model) -> list[list[str]]:
        """Tuned evaluation (writes evaluation.json and evaluation_rows.jsonl) and the tuned sample answers, with the
        adapter merged into the weights meanwhile (generation.merged): as fast as the base model."""
        n_eval = len(self.setup.rows) if self.setup else 0
        progress = Progress(self.phases, "tuned_evaluation", n_eval + len(self.prompts))
        tuned = None
        with merged(model):
            if self.setup:
                t0 = time.time()
                log.info("evaluating the tuned model on %d held-out rows", n_eval)
                known = self.row_losses.for_setup(self.setup) if self.row_losses else None
                if known:
                    log.info("the tuned reference perplexity comes from the final eval_loss pass (the same tokens)")
                tuned = evaluate.score_model(model, self.tok, self.setup, should_stop=self.should_stop,
                                             report=progress.part(0, n_eval), seed=self.params["seed"],
                                             known_nll=known)
                self.seconds["tuned"] = time.time() - t0
                result = evaluate.write(self.run_dir, self.setup, self.base, tuned, self.seconds)
                log.info("evaluation: %s", ", ".join(f"{k} {v['base']} → {v['tuned']}"
                                                     for k, v in result["metrics"].items()))
            known = self._known(tuned)
            todo = len(samples.todo_of(self.prompts, self.params, known))
            progress.resize(n_eval + todo)
            log.info("generating tuned-model answers for %d held-out prompts", todo)
            t0 = time.time()
            after = samples.generate(model, self.tok, self.prompts, self.params, known=known,
                                     should_stop=self.should_stop, report=progress.part(n_eval, todo))
            self.seconds["tuned_samples"] = time.time() - t0
        return after

    def _known(self, result: dict | None) -> dict:
        """Greedy answers the evaluation already made, by prompt (deterministic decoding, so the same answer)."""
        if not result or not self.setup or not result.get("answers") or not any(result["answers"]):
            return {}
        return {prompt_key(prompt_context.of_row(r)): a for r, a in zip(self.setup.rows, result["answers"], strict=False)}
