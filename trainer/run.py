"""Run one job: spec.json in, metrics/progress/samples/summary/adapter out.

The run is a list of named phases (PHASES: setup, base samples, build trainer, train steps, save, tuned samples,
write summary) over one Run object; cleanup() always runs after them and restores the signal handlers.

Exit codes (outcome.json carries the same one; the spooler reads it when outcome.json could not be written):
  0   succeeded (EXIT_OK); also a stopped torchrun job, whose real code is in outcome.json
  1   failed: the reason is in state.json and the traceback in train.log
  2   usage: the run folder has no spec.json
  20  stopped on request (jobs.state.EXIT_STOPPED, cancelled): the adapter and a checkpoint are kept when any exist
  21  another trainer process holds this job's lock (jobs.state.EXIT_BUSY)
  28  no space left on the device (jobs.disk.EXIT_NO_SPACE, errno ENOSPC): free space, then retry (resumes)
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import Timeout

from jobs import logformat
from jobs.atomic import atomic_write_json, read_json
from jobs.disk import EXIT_NO_SPACE, NO_SPACE, NoSpace, is_no_space
from jobs.methods import SAMPLES_NONE, Method, list_methods, list_rewards, method_of
from jobs.models import registry
from jobs.params import P
from jobs.rundir import RunDir
from jobs.spec import validate
from jobs.state import EXIT_BUSY, EXIT_OK, EXIT_STOPPED, latest_checkpoint, now_iso, read_state, update_state
from jobs.status import JobStatus
from jobs.workspace import Workspace

from . import benchmarks, data, dist, full_model, samples, summary
from . import model as model_mod
from .errors import Stopped, TrainerError
from .methods import custom

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

    from .callbacks import MetricsCallback, StopCallback
    from .data import Prepared
    from .eval_run import EvalRun
    from .job import Job
    from .phases import Phases

log = logging.getLogger("tunedeck")


def setup_logging(run_dir: Path) -> list:
    fmt = logformat.formatter()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    log_path = RunDir(run_dir).log
    same = False
    try:  # the spooler already points stderr at train.log; don't write every line twice
        same = log_path.exists() and os.path.samestat(os.fstat(sys.stderr.fileno()), os.stat(log_path))
    except (OSError, ValueError):
        pass
    handlers = [logging.StreamHandler(sys.stderr)]
    if not same:
        handlers.append(logging.FileHandler(log_path, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        if not dist.is_main():
            h.addFilter(dist.RankPrefix(dist.rank()))
        root.addHandler(h)
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handlers


def recipe_module(method_name: str) -> ModuleType | None:
    """The recipe of a built-in method: trainer/methods/<name>.py, named as its declaration (None for a custom one)."""
    import importlib

    from jobs.methods import BUILTINS
    if method_name not in BUILTINS:
        return None
    return importlib.import_module(f"{__package__}.methods.{method_name}")


def recipe_for(method_name: str, ws: Workspace):
    """(data kind, build(job) -> Trainer) for a built-in method's recipe, or for a custom method's file."""
    mod = recipe_module(method_name)
    if mod is not None:
        return mod.DATA, mod.build
    method = list_methods(ws.methods).get(method_name)
    if method is None:
        raise TrainerError(f"method {method_name!r} is not registered any more (workspace/methods/{method_name}.py)")
    if not method.ok:
        raise TrainerError(f"custom method {method_name!r} failed to import: {method.error}")
    return custom.data_kind(method), custom.builder(method)


def save_adapter(model, tokenizer, run_dir: Path) -> Path:
    """Write the adapter beside the final one, then rename: a half-written adapter is never presented."""
    rd = RunDir(run_dir)
    tmp, final = rd.adapter_tmp, rd.adapter
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if final.exists():
        old = rd.adapter_old
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, final)
    return final


@dataclass
class Run:
    """What the phases of one training run hand on to each other."""
    rd: RunDir
    ws: Workspace
    resume: bool
    stop_cb: StopCallback
    spec: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    method: Method | None = None            # the declaration: its traits decide data, evaluation and samples
    recipe: ModuleType | None = None        # trainer/methods/<name>.py (None for a custom method)
    kind: str = ""
    build: Callable[[Job], Trainer] | None = None
    model_path: Path | None = None
    ds_path: Path | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    prepared: Prepared | None = None
    device: str = "cpu"
    base: PreTrainedModel | None = None
    ckpt: Path | None = None
    phases: Phases | None = None
    evals: EvalRun | None = None
    trainer: Trainer | None = None
    metrics: MetricsCallback | None = None
    runtime: float = 0.0
    stopped: bool = False
    adapter: Path | None = None
    rank_done: bool = False   # a torchrun rank other than 0 stops after training: rank 0 saves and evaluates

    @property
    def prompts(self) -> list[str | dict]:
        """The sample prompts as the model sees them: the prompt conversation with the system turn and tools."""
        from .prompt_context import of_item
        if self.method is not None and self.method.samples == SAMPLES_NONE:
            return []
        return [of_item(s) for s in self.prepared.samples]



def setup(r: Run) -> None:
    """Re-validate the spec, pick the recipe, read and prepare the data, load the base model."""
    v = validate(read_json(r.rd.spec), r.ws)
    if not v.ok:
        raise TrainerError("the spec is not valid any more: " + "; ".join(map(str, v.errors)))
    r.spec, r.params = v.spec, v.spec["params"]
    r.method = method_of(r.spec["method"], r.ws.methods)
    r.recipe = recipe_module(r.spec["method"])
    r.kind, r.build = recipe_for(r.spec["method"], r.ws)

    from transformers import set_seed

    from .phases import Phases

    r.phases = Phases(r.rd.path, main=dist.is_main())
    r.phases.enter("preparing_data")
    set_seed(r.params["seed"])
    r.model_path = registry.list_models(r.ws)[r.spec["base_model"]]
    r.ds_path = registry.list_datasets(r.ws)[r.spec["dataset"]]
    problem = registry.model_problem(r.model_path)
    if problem:
        raise TrainerError(f"base model {r.spec['base_model']!r} is not a loadable model folder: {problem}. "
                           "Register a Hugging Face model folder on the Base models page")
    r.tokenizer = model_mod.load_tokenizer(r.model_path)
    rows = data.read_jsonl(r.ds_path, r.params["max_samples"], r.spec["dataset"])
    from jobs.data.format_check import effective_format
    fmt = effective_format(r.params.get("dataset_format"), r.ds_path)
    prepare = getattr(r.recipe, "prepare", None)
    if prepare is not None:
        r.prepared = prepare(rows, r.params, r.tokenizer, fmt, r.spec["dataset"], should_stop=r.stop_cb.check)
    else:
        r.prepared = data.prepare(rows, r.params, r.tokenizer, r.kind, r.spec["dataset"], fmt,
                                  should_stop=r.stop_cb.check)
    log.info("train rows %d, eval rows %d, sample prompts %d", len(r.prepared.train), len(r.prepared.eval),
             len(r.prepared.samples))
    r.device, _ = model_mod.device_and_dtype()
    r.phases.enter("loading_model")
    load = getattr(r.recipe, "load_model", None)
    r.base = (load(r.model_path, r.spec["base_model"], r.params) if load is not None
              else model_mod.load_base(r.model_path, r.spec["base_model"], r.params["load_in_4bit"]))
    ctx = getattr(r.base.config, "max_position_embeddings", None)
    if ctx and r.params["max_seq_length"] > ctx:
        log.warning("max_seq_length %d is longer than the model's context (%d tokens); longer sequences may "
                    "degrade or fail", r.params["max_seq_length"], ctx)
    r.ckpt = latest_checkpoint(r.rd) if r.resume else None


def base_samples(r: Run) -> None:
    """The base model's evaluation and answers to the held-out prompts (rank 0 alone writes them)."""
    from .eval_run import EvalRun

    r.evals = EvalRun(r.rd.path, r.ws.home, r.model_path, r.params, r.tokenizer, r.phases, r.stop_cb.check,
                      eval_setup(r.spec, r.params, r.prepared, r.ws), r.prompts)
    if dist.is_main():
        r.evals.run_base(r.base)


def build_trainer(r: Run) -> None:
    """LoRA on the base model, the method's TRL trainer, and our metrics and stop callbacks."""
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback

    from .callbacks import MetricsCallback
    from .disk_guard import DiskSpaceCallback
    from .job import Job

    add_adapter = getattr(r.recipe, "add_adapter", None)
    model = add_adapter(r.base, r.params) if add_adapter is not None else model_mod.add_lora(r.base, r.params)
    job = Job(r.rd.path, r.spec, r.params, model, r.tokenizer, r.prepared, r.kind, r.device,
              custom_rewards={k: f for k, f in list_rewards(r.ws.methods).items() if callable(f)}, method=r.method,
              ws=r.ws)
    set_seed(r.params["seed"])
    try:
        r.trainer = r.build(job)
    except TrainerError:
        raise
    except Exception as e:
        if r.recipe is None:
            raise TrainerError(f"custom method {r.spec['method']!r} raised {type(e).__name__}: {e}") from e
        raise
    resume_step = None
    if r.ckpt is not None:
        resume_step = (read_json(r.ckpt / "trainer_state.json", {}) or {}).get("global_step", 0)
        log.info("resuming from %s (step %s)", r.ckpt.name, resume_step)
    elif r.resume:
        log.info("no checkpoint yet: starting from the beginning")
    r.metrics = MetricsCallback(r.rd.path, resume_step, main=dist.is_main())
    r.trainer.remove_callback(PrinterCallback)  # our metrics callback logs level-tagged lines instead
    r.trainer.add_callback(r.metrics)
    r.trainer.add_callback(r.stop_cb)
    r.evals.use_eval_loss(r.trainer, r.method, r.prepared.eval)  # its last pass: the tuned perplexity
    r.trainer.add_callback(DiskSpaceCallback(r.rd.path, model, r.model_path))  # after stop_cb: sees its save request


def train_steps(r: Run) -> None:
    """TRL's training loop, from the checkpoint when resuming; a NaN loss ends the job with advice."""
    t0 = time.time()
    r.phases.enter("training")
    if not finished_checkpoint(r.trainer, r.ckpt):  # a resume from the final checkpoint trains no extra step
        r.trainer.train(resume_from_checkpoint=str(r.ckpt) if r.ckpt else None)
    r.runtime = time.time() - t0
    if r.metrics.nan_step is not None:
        raise TrainerError(f"loss became NaN at step {r.metrics.nan_step}; lower learning_rate "
                           f"(now {r.params[P.learning_rate]}) or max_grad_norm, or check the data")
    r.stopped = r.stop_cb.requested  # the stop callback already had the Trainer save a checkpoint


def save(r: Run) -> None:
    """A last eval when the final step had none, then the adapter (written aside and renamed into place), once the
    disk has room for it."""
    from .disk_guard import check_adapter_space

    final_eval = r.prepared.eval and r.method.eval_loss and r.metrics.last_eval_step != r.trainer.state.global_step
    if not r.stopped and final_eval:
        r.trainer.evaluate()
    r.metrics.writer.close()
    if full_model.save(r):  # a full run's model/ or a sharded run's adapter, and every rank's peak memory
        return
    if not dist.is_main():
        r.rank_done = True
        return
    check_adapter_space(r.rd.path, r.trainer.model, r.model_path)
    r.adapter = save_adapter(r.trainer.model, r.tokenizer, r.rd.path)
    log.info("adapter saved: %s", r.adapter)


def tuned_samples(r: Run) -> None:
    """The tuned model's evaluation and answers beside the base model's and the reference (skipped after a stop).
    The adapter and the final checkpoint are on disk by now: a stop from here on keeps both."""
    if r.stopped:
        return
    try:
        after = r.evals.run_tuned(full_model.tuned_model(r))
        samples.write(r.rd.samples, r.prepared.samples, r.evals.before, after)
    except Stopped:
        r.stopped = True
        log.info("stopped during the tuned evaluation; the adapter and the final checkpoint are kept")


def write_summary(r: Run) -> None:
    r.phases.enter("saving")
    summary.write(r.rd.summary, r.trainer.state, r.metrics, r.prepared, r.spec, r.ds_path, r.device, r.adapter,
                  r.runtime, r.stopped, r.evals.seconds, world_size=dist.world_size(),
                  extra=full_model.summary_fields(r))


def eval_setup(spec: dict, params: dict, prepared, ws: Workspace):
    """What the base and tuned evaluation measure for this method (None when eval_max_rows is 0)."""
    from . import evaluate

    method = method_of(spec["method"], ws.methods)
    rewards = {k: f for k, f in list_rewards(ws.methods).items() if callable(f)}
    # the sample prompts first: their greedy answers then come from the evaluation instead of a second generation
    first = [s for s in prepared.samples if any(s is e for e in prepared.eval)]
    rows = first + [e for e in prepared.eval if not any(e is s for s in first)]
    return evaluate.setup_for(spec["method"], params, rows, method.module, rewards, method_decl=method, ws=ws)


def finished_checkpoint(trainer, ckpt: Path | None) -> bool:
    """True when the checkpoint is the run's last step: load its weights and state instead of training again."""
    if ckpt is None:
        return False
    from transformers.trainer_callback import TrainerState

    state = TrainerState.load_from_json(str(ckpt / "trainer_state.json"))
    if not state.max_steps or state.global_step < state.max_steps:
        return False
    trainer._load_from_checkpoint(str(ckpt))
    trainer.state = state
    log.info("the checkpoint is the final step (%d/%d): no further training", state.global_step, state.max_steps)
    return True


PHASES = (setup, base_samples, build_trainer, train_steps, save, tuned_samples, benchmarks.run_benchmarks, write_summary)


def train(run_dir: Path, ws: Workspace, resume: bool, stop_cb) -> int:
    """Run the phases in order; each is named in train.log, so it shows where a job spent its time or failed."""
    r = Run(RunDir(run_dir), ws, resume, stop_cb)
    for phase in PHASES:
        if r.rank_done:
            break
        log.info("phase: %s", phase.__name__.replace("_", " "))
        phase(r)
    return EXIT_STOPPED if r.stopped else EXIT_OK


def install_signal_handlers(stop_cb: StopCallback) -> dict:
    """SIGTERM and SIGINT ask the run to stop at the next step (main thread only); returns the handlers replaced."""
    import threading
    prev = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev[sig] = signal.signal(sig, stop_cb.request)
    return prev


def cleanup(prev_handlers: dict) -> None:
    """The last step on every path, a raise included: the process's own signal handlers come back."""
    for sig, handler in prev_handlers.items():
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer", description="Run one Tunedeck job.")
    ap.add_argument("run_dir")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    if not RunDir(run_dir).spec.is_file():
        print(f"error: {run_dir} has no spec.json; pass a run folder (workspace/runs/<job_id>)", file=sys.stderr)
        return 2
    lock = RunDir(run_dir).run_lock()
    try:
        if dist.is_main():  # one lock per job: rank 0 holds it for the torchrun job
            lock.acquire(timeout=0)
    except Timeout:
        print(f"error: another trainer is already running {run_dir.name}", file=sys.stderr)
        return EXIT_BUSY
    handlers = setup_logging(run_dir)
    try:
        return _run(run_dir, args.resume)
    finally:
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()
        if lock.is_locked:
            lock.release()


def _run(run_dir: Path, resume: bool) -> int:
    ws = Workspace.of_run(run_dir)
    rd = RunDir(run_dir)

    main = dist.is_main()
    ident = {**dist.launcher_ident(), "host": socket.gethostname()}
    if main:
        atomic_write_json(rd.trainer_info, ident)
        started_at = (read_state(run_dir) or {}).get("started_at") or now_iso()
        update_state(run_dir, status=JobStatus.RUNNING, error=None, started_at=started_at, **ident)
        rd.outcome.unlink(missing_ok=True)

    from .callbacks import StopCallback
    stop_cb = StopCallback(run_dir)
    prev_handlers = install_signal_handlers(stop_cb)
    try:
        return _run_and_record(run_dir, rd, ws, resume, stop_cb, main)
    finally:
        cleanup(prev_handlers)


def _run_and_record(run_dir: Path, rd: RunDir, ws: Workspace, resume: bool, stop_cb: StopCallback,
                    main: bool) -> int:
    """Train, then record the outcome (outcome.json and state.json) and return the exit code."""
    error = None
    code = 1
    try:
        code = train(run_dir, ws, resume, stop_cb)
    except Stopped:
        code = EXIT_STOPPED
    except TrainerError as e:
        error = str(e)
        log.error("%s\n%s", error, traceback.format_exc())
    except Exception as e:  # noqa: BLE001 - any failure must end as a clear one-line reason
        error = _explain(e)
        log.error("%s\n%s", error, traceback.format_exc())
    if error is not None:
        code = EXIT_NO_SPACE if error.startswith(NO_SPACE) else 1
    status = {EXIT_OK: JobStatus.SUCCEEDED, EXIT_STOPPED: JobStatus.CANCELLED}.get(code, JobStatus.FAILED)
    if status == JobStatus.CANCELLED:
        error = stopped_reason(rd)
    try:
        if main:
            atomic_write_json(rd.outcome, {"exit_code": code, "status": status, "error": error,
                                           "finished_at": now_iso(), "world_size": dist.world_size()})
            update_state(run_dir, status=status, error=error, finished_at=now_iso())
    except OSError as e:
        if not is_no_space(e):
            raise
        log.error("%s: could not record the outcome; the spooler records it from the exit code", NO_SPACE)
        return EXIT_NO_SPACE if code not in (EXIT_OK, EXIT_STOPPED) else code
    log.info("job %s %s%s", run_dir.name, status, f": {error}" if error else "")
    if dist.world_size() > 1 and code == EXIT_STOPPED:
        return EXIT_OK  # torchrun reads any other code as a crash; outcome.json carries the real one
    return code


def stopped_reason(rd: RunDir) -> str:
    if rd.trained.is_dir():
        return "stopped on request; the adapter and a checkpoint were saved (retry resumes)"
    if latest_checkpoint(rd) is not None:
        return "stopped on request before training went on; the checkpoint was kept (retry resumes)"
    return "stopped on request before training started; nothing to keep (retry starts again)"


def _explain(e: Exception) -> str:
    if isinstance(e, NoSpace):
        return str(e)
    if is_no_space(e):
        return f"{NO_SPACE}: {getattr(e, 'filename', None) or 'a write'} failed; free some space, then retry"
    name = type(e).__name__
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if "OutOfMemoryError" in name or "out of memory" in text.lower():
        return ("CUDA out of memory: lower batch_size or max_seq_length, or set load_in_4bit=true "
                "(and raise grad_accum_steps to keep the effective batch)")
    return f"{name}: {text}" if text else name
