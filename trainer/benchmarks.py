"""The benchmark phase: lm-evaluation-harness scores the base and the tuned model on each suite of `benchmarks`.

After training, on the model already in memory: the tuned model is the PEFT model as trained (4-bit runs stay
4-bit), the base is the same model with its adapter disabled (a full fine-tune loads the base folder again). The
base scores are cached per base model + suite config + limit + lm-eval version (trainer/base_cache.py), so copies
and sweeps pay for them once. lm-eval does the prompts and the scoring (lm_eval.simple_evaluate with its HFLM);
Tunedeck adds a stop check between batches and tokens, the progress, the cache and evaluation.json.

A suite whose tasks cannot be loaded (no data offline, an unknown name, a broken YAML) is named with the reason in
evaluation.json's "benchmark_errors" and in train.log; the other suites still run and the job still succeeds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from contextlib import nullcontext
from pathlib import Path

from jobs import benchmarks as names
from jobs.atomic import atomic_write_json, read_json
from jobs.evaluation import EVALUATION_FILE
from jobs.workspace import Workspace

from . import base_cache
from .errors import Stopped

log = logging.getLogger("tunedeck.benchmarks")
BATCH_SIZE = 8           # requests per forward pass; the same for base and tuned
BOOTSTRAP_ITERS = 1000   # only for metrics without a closed-form stderr (acc and exact_match have one)
_DEFAULT_TM = None       # lm-eval's own task index takes seconds to build: once per process


class SuiteError(Exception):
    """A suite that cannot be run; str() names the suite, the task and what was missing."""


def lm_eval_version() -> str:
    from importlib.metadata import version
    return version("lm_eval")


def _quiet() -> None:
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.ERROR)  # its notes on a model passed in memory are not ours


def task_manager(ws: Workspace, suite: str):
    """A workspace benchmark gets a task index of its own folder only (fast); anything else lm-eval's index."""
    from lm_eval.tasks import TaskManager
    global _DEFAULT_TM
    if names.is_workspace_suite(ws, suite):
        return TaskManager(include_path=str(names.folder(ws, suite)), include_defaults=False)
    if _DEFAULT_TM is None:
        _DEFAULT_TM = TaskManager()
    return _DEFAULT_TM


def suite_tasks(ws: Workspace, suite: str, tm) -> list[str]:
    """The lm-eval names a suite runs: a workspace folder's groups (else its tasks), or the suite name itself."""
    if not names.is_workspace_suite(ws, suite):
        if suite not in tm.all_tasks:
            raise SuiteError(f"suite {suite!r}: neither a workspace benchmark (workspace/benchmarks/{suite}/) nor an "
                             "lm-eval task or group name; register one with `python -m jobs benchmark add`")
        return [suite]
    groups = list(tm.all_groups)
    tasks = groups or [t for t in tm.all_subtasks]
    if not tasks:
        raise SuiteError(f"suite {suite!r}: workspace/benchmarks/{suite}/ declares no lm-eval task")
    return tasks


def load_suite(ws: Workspace, suite: str) -> tuple[object, list[str], dict]:
    """(task manager, task names, loaded tasks) or SuiteError with the task and what was missing."""
    tm = task_manager(ws, suite)
    tasks = suite_tasks(ws, suite, tm)
    try:
        loaded = tm.load(tasks)
    except Exception as e:  # noqa: BLE001 - lm-eval raises many kinds for missing data; each becomes a reason
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise SuiteError(f"suite {suite!r}: task {', '.join(tasks)} could not be loaded: {type(e).__name__}: "
                         f"{text[:400]}") from e
    if not loaded.get("tasks"):
        raise SuiteError(f"suite {suite!r}: {', '.join(tasks)} loaded no task")
    return tm, tasks, loaded


def config_hash(ws: Workspace, suite: str, loaded: dict) -> str:
    """The tasks' configs (prompts, metrics, few-shot, filters) and their data; a changed file is a new hash."""
    parts = {}
    for name, task in sorted(loaded["tasks"].items()):
        cfg = task.dump_config() if hasattr(task, "dump_config") else {}
        ds = getattr(task, "dataset", None)
        prints = {k: getattr(v, "_fingerprint", None) for k, v in (ds.items() if hasattr(ds, "items") else [])}
        parts[name] = {"config": cfg, "data": prints}
    if names.is_workspace_suite(ws, suite):  # the files themselves, whatever datasets' fingerprint covers
        d = names.folder(ws, suite)
        parts["_files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_lm(model, tokenizer, should_stop=None, batch_size: int = BATCH_SIZE):
    """lm-eval's HFLM over a model already in memory, with a stop check before each batch and each new token."""
    from lm_eval.models.huggingface import HFLM
    from transformers import LogitsProcessor, LogitsProcessorList

    check = should_stop or (lambda: False)

    class _StopCheck(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if check():
                raise Stopped()
            return scores

    class TunedeckLM(HFLM):
        def _model_call(self, inps, attn_mask=None, labels=None):
            if check():
                raise Stopped()
            return super()._model_call(inps, attn_mask, labels)

        def _model_generate(self, context, max_length, stop, **generation_kwargs):
            if check():
                raise Stopped()
            generation_kwargs["logits_processor"] = LogitsProcessorList([_StopCheck()])
            return super()._model_generate(context, max_length, stop, **generation_kwargs)

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            return super().loglikelihood(requests, disable_tqdm=True)

        def generate_until(self, requests, disable_tqdm: bool = False):
            return super().generate_until(requests, disable_tqdm=True)

    _quiet()
    return TunedeckLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)


def evaluate(lm, tm, tasks: list[str], limit: int, seed: int = 0) -> dict:
    """lm_eval.simple_evaluate on the suite's tasks; the raw result's results, higher_is_better and n-samples."""
    import lm_eval

    out = lm_eval.simple_evaluate(model=lm, tasks=tasks,
                                  task_manager=tm, limit=limit, bootstrap_iters=BOOTSTRAP_ITERS, log_samples=False,
                                  random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                                  fewshot_random_seed=seed)
    if out is None:
        raise RuntimeError("lm-eval returned no result")
    return {"results": out["results"], "higher_is_better": out.get("higher_is_better", {}),
            "n_samples": out.get("n-samples", {})}


def flatten(suite: str, raw: dict) -> dict:
    """{metric: {"value", "stderr", "better"}} from lm-eval's per-task results: the suite's own (group) entry when
    there is one, else every task's, prefixed with the task name when there are several. A filter other than
    "none" is kept in the name: "exact_match (final_number)"."""
    results = raw["results"]
    entries = {suite: results[suite]} if suite in results else results
    out = {}
    for task, res in entries.items():
        hib = raw["higher_is_better"].get(task, {})
        for key, value in res.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, flt = key.split(",", 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            se = res.get(f"{metric}_stderr,{flt}")
            name = metric if flt == "none" else f"{metric} ({flt})"
            if len(entries) > 1:
                name = f"{task}: {name}"
            out[name] = {"value": _round(value), "stderr": _round(se) if isinstance(se, (int, float)) else None,
                         "better": "lower" if hib.get(metric) is False else "higher"}
    return out


def _round(v):
    return None if v is None or not math.isfinite(float(v)) else round(float(v), 6)


def combine(base: dict, tuned: dict) -> dict:
    """{metric: {"base", "tuned", "stderr", "better"}}; stderr is that of the difference, sqrt(se_b² + se_t²)."""
    out = {}
    for m in dict.fromkeys([*base, *tuned]):
        b, t = base.get(m, {}), tuned.get(m, {})
        ses = [x for x in (b.get("stderr"), t.get("stderr")) if isinstance(x, (int, float))]
        out[m] = {"base": b.get("value"), "tuned": t.get("value"),
                  "stderr": _round(math.sqrt(sum(x * x for x in ses))) if ses else None,
                  "base_stderr": b.get("stderr"), "tuned_stderr": t.get("stderr"),
                  "better": t.get("better") or b.get("better") or "higher"}
    return out


def write_results(run_dir: Path, suites: dict, meta: dict, errors: dict) -> None:
    """Merge into evaluation.json (written by the held-out evaluation before this phase, or new), atomically. Suites
    scored earlier (on demand, or by an earlier attempt) stay unless scored again; a suite scored now loses its old
    error, a suite that failed now loses its old scores."""
    path = Path(run_dir) / EVALUATION_FILE
    data = read_json(path, {}) or {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("metrics", {})
    old = data.get("benchmarks") if isinstance(data.get("benchmarks"), dict) else {}
    old_errors = data.get("benchmark_errors") if isinstance(data.get("benchmark_errors"), dict) else {}
    old_meta = data.get("benchmarks_meta") if isinstance(data.get("benchmarks_meta"), dict) else {}
    data["benchmarks"] = {**{k: v for k, v in old.items() if k not in errors}, **suites}
    data["benchmark_errors"] = {**{k: v for k, v in old_errors.items() if k not in suites}, **errors}
    data["benchmarks_meta"] = {**old_meta, **meta,
                               "suites": {**(old_meta.get("suites") or {}), **(meta.get("suites") or {})}}
    atomic_write_json(path, data)


class BenchmarkRun:
    """Scores base and tuned on each suite; `run` is the training job's phase, with the model in memory."""

    def __init__(self, run_dir: Path, ws: Workspace, model_path: Path, params: dict, tokenizer, phases,
                 should_stop):
        self.run_dir, self.ws, self.model_path, self.params = Path(run_dir), ws, model_path, params
        self.tok, self.phases, self.should_stop = tokenizer, phases, should_stop
        self.limit = int(params.get("benchmark_limit") or names.DEFAULT_LIMIT)
        self.seed = int(params.get("seed", 0))
        self.seconds: dict[str, float] = {}

    def _key(self, suite: str, chash: str, version: str) -> str:
        return base_cache.key(self.model_path, self.params.get("load_in_4bit", False),
                              {"benchmark": suite, "config_hash": chash, "limit": self.limit, "lm_eval": version,
                               "seed": self.seed})

    def _base(self, key: str):
        own = read_json(self.run_dir / names.BASE_BENCHMARKS_FILE, {}) or {}
        if isinstance(own, dict) and isinstance(own.get(key), dict):
            log.info("base benchmark scores reused from this run's earlier attempt")
            return own[key]
        return base_cache.load(self.ws.home, names.CACHE_KIND, key)

    def _keep_base(self, key: str, value: dict) -> None:
        path = self.run_dir / names.BASE_BENCHMARKS_FILE
        own = read_json(path, {}) or {}
        own = own if isinstance(own, dict) else {}
        atomic_write_json(path, {**own, key: value})
        base_cache.store(self.ws.home, names.CACHE_KIND, key, value)

    def run(self, model, base_model=None) -> dict:
        """`model` is the tuned model; the base is `base_model`, else `model` with its PEFT adapter disabled."""
        suites = list(dict.fromkeys(self.params.get("benchmarks") or []))
        version = lm_eval_version()
        results: dict = {}
        errors: dict = {}
        meta = {"lm_eval_version": version, "limit": self.limit, "suites": {}}
        loaded_suites = []
        for suite in suites:
            try:
                tm, tasks, loaded = load_suite(self.ws, suite)
                loaded_suites.append((suite, tm, tasks, config_hash(self.ws, suite, loaded)))
            except SuiteError as e:
                log.error("benchmark %s", e)
                errors[suite] = str(e)
        total = 2 * len(loaded_suites)
        done = 0
        self.phases.enter("benchmarks", total=total)
        if not loaded_suites:  # nothing to score: the reasons are the result
            write_results(self.run_dir, results, meta, errors)
            return {"benchmarks": results, "errors": errors}
        lm = make_lm(model, self.tok, self.should_stop)
        base_lm = make_lm(base_model, self.tok, self.should_stop) if base_model is not None else lm
        for suite, tm, tasks, chash in loaded_suites:
            meta["suites"][suite] = {"config_hash": chash, "tasks": tasks}
            key = self._key(suite, chash, version)
            try:
                base = self._base(key)
                if base is None:
                    t0 = time.time()
                    with self._adapter_off(model, base_model):
                        base = flatten(suite, evaluate(base_lm, tm, tasks, self.limit, self.seed))
                    self.seconds[f"{suite}:base"] = round(time.time() - t0, 2)
                    self._keep_base(key, base)
                done += 1
                self.phases.advance(done, total)
                t0 = time.time()
                tuned = flatten(suite, evaluate(lm, tm, tasks, self.limit, self.seed))
                self.seconds[f"{suite}:tuned"] = round(time.time() - t0, 2)
            except Stopped:
                raise
            except Exception as e:  # noqa: BLE001 - a suite that fails is reported; the next one still runs
                text = str(e).strip().splitlines()[0] if str(e).strip() else ""
                errors[suite] = f"suite {suite!r}: scoring failed: {type(e).__name__}: {text[:400]}"
                log.error("benchmark %s", errors[suite])
                done += 1
                continue
            done += 1
            self.phases.advance(done, total)
            results[suite] = combine(base, tuned)
            log.info("benchmark %s: %s", suite, ", ".join(f"{m} {v['base']} → {v['tuned']}"
                                                          for m, v in results[suite].items()))
            meta["seconds"] = self.seconds
            write_results(self.run_dir, results, meta, errors)
        meta["seconds"] = self.seconds
        write_results(self.run_dir, results, meta, errors)
        return {"benchmarks": results, "errors": errors}

    @staticmethod
    def _adapter_off(model, base_model):
        if base_model is not None or not hasattr(model, "disable_adapter"):
            return nullcontext()
        return model.disable_adapter()


def run_benchmarks(r) -> None:
    """The training job's benchmark phase (after the tuned evaluation; skipped after a stop or without suites)."""
    from . import dist
    from . import model as model_mod
    if r.stopped or not (r.params.get("benchmarks") or []) or not dist.is_main():
        return
    model = r.trainer.model
    base_model = None
    if not hasattr(model, "disable_adapter"):  # a full fine-tune: the base is the registered folder
        base_model = model_mod.load_base(r.model_path, r.spec["base_model"], r.params["load_in_4bit"])
    bench = BenchmarkRun(r.rd.path, r.ws, r.model_path, r.params, r.tokenizer, r.phases, r.stop_cb.check)
    try:
        bench.run(model, base_model)
    except Stopped:
        r.stopped = True
        log.info("stopped during the benchmarks; the adapter, the evaluation and the finished suites are kept")


class _Quiet:
    """Phases for a finished run: progress.json keeps the run's own last phase; progress goes to stdout."""
    current = "benchmarks"

    def enter(self, name, total=None):
        print(f"benchmarks: 0/{total}", flush=True)

    def advance(self, done, total):
        print(f"benchmarks: {done}/{total}", flush=True)


def load_finished(rd, ws: Workspace, spec: dict):
    """(tuned model, base model or None, tokenizer, base model folder) for a finished run: a full fine-tune from
    runs/<id>/model/ beside a freshly loaded base, else the base with the run's adapter (4-bit when trained so)."""
    from jobs.models import registry

    from . import model as model_mod
    from .errors import TrainerError
    params = spec["params"]
    model_path = registry.list_models(ws).get(spec["base_model"])
    if model_path is None:
        raise TrainerError(f"base model {spec['base_model']!r} is not registered any more")
    four = bool(params.get("load_in_4bit"))
    full = Path(rd.path) / "model"
    if (full / "config.json").is_file():
        tok = model_mod.load_tokenizer(full)
        return (model_mod.load_base(full, f"{rd.job_id} (full)", four), model_mod.load_base(model_path, spec["base_model"], four),
                tok, model_path)
    if not (rd.adapter / "adapter_config.json").is_file():
        raise TrainerError(f"{rd.job_id} has no adapter (runs/{rd.job_id}/adapter/) and no model folder: nothing "
                           "trained to score")
    from peft import PeftModel
    tok = model_mod.load_tokenizer(model_path)
    return PeftModel.from_pretrained(model_mod.load_base(model_path, spec["base_model"], four), str(rd.adapter)), \
        None, tok, model_path


def main(argv: list[str] | None = None) -> int:
    """python -m trainer.benchmarks RUN_DIR --suite NAME [--suite NAME ...] [--limit N]: score a finished run's base
    and tuned model on suites and merge them into its evaluation.json (the worker a queued benchmark job runs)."""
    import argparse
    import signal
    import sys

    from jobs.rundir import RunDir
    ap = argparse.ArgumentParser(prog="python -m trainer.benchmarks")
    ap.add_argument("run_dir")
    ap.add_argument("--suite", action="append", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--request", help="the queued benchmark request this answers: its status goes to "
                                      "runs/<id>/benchmark/status.json")
    args = ap.parse_args(argv)
    rd = RunDir(Path(args.run_dir).resolve())
    spec = read_json(rd.spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict):
        print(f"error: {rd.path} has no readable spec.json; pass a run folder (workspace/runs/<job_id>)", file=sys.stderr)
        return 2
    ws = Workspace.of_run(rd.path)
    stop = {"now": False}
    prev = signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        if args.request:
            return _answer_request(rd, ws, spec, args, stop)
        return _score_finished(rd, ws, spec, args, stop)
    finally:
        signal.signal(signal.SIGTERM, prev)


def _answer_request(rd, ws: Workspace, spec: dict, args, stop: dict) -> int:
    """A queued benchmark request (`python -m spooler benchmark`): its status through benchmark/status.json."""
    import psutil

    from jobs import benchmarks_requests as rq
    from jobs.state import now_iso
    me = psutil.Process()
    rq.write_benchmark_state(rd.path, status=rq.BenchStatus.SCORING.value, pid=me.pid,
                             pid_create_time=me.create_time(), error=None)
    out: dict = {}
    try:
        code = _score_finished(rd, ws, spec, args, stop, out)
    except Exception as e:  # noqa: BLE001 - whatever happens, the request ends failed with the reason
        rq.write_benchmark_state(rd.path, status=rq.BenchStatus.FAILED.value, finished_at=now_iso(),
                                 error=f"{type(e).__name__}: {e}"[:600])
        raise
    errors = out.get("errors") or {}
    error = out.get("error") or ("; ".join(errors.values()) if errors else None)
    rq.write_benchmark_state(rd.path, status=rq.BenchStatus.DONE.value if code == 0 else rq.BenchStatus.FAILED.value,
                             finished_at=now_iso(), scored=sorted(out.get("benchmarks") or {}), error=error)
    return code


def _score_finished(rd, ws: Workspace, spec: dict, args, stop: dict, result: dict | None = None) -> int:
    import sys
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .errors import TrainerError
    try:
        model, base_model, tok, model_path = load_finished(rd, ws, spec)
        params = {**spec["params"], "benchmarks": args.suite,
                  "benchmark_limit": args.limit or spec["params"].get("benchmark_limit") or names.DEFAULT_LIMIT}
        out = BenchmarkRun(rd.path, ws, model_path, params, tok, _Quiet(), lambda: stop["now"]).run(model, base_model)
    except Stopped:
        print("stopped on request; the suites already scored are kept", file=sys.stderr)
        if result is not None:
            result["error"] = "stopped on request (the spooler stopped); the suites already scored are kept"
        return 3
    except TrainerError as e:
        print(f"error: {e}", file=sys.stderr)
        if result is not None:
            result["error"] = str(e)
        return 1
    if result is not None:
        result.update(out)
    for reason in out["errors"].values():
        print(f"error: {reason}", file=sys.stderr)
    for suite, metrics in out["benchmarks"].items():
        for m, e in metrics.items():
            print(f"{suite} {m}: base {e['base']} → tuned {e['tuned']} (± {e['stderr']})")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
