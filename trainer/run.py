"""Run one job: spec.json in, metrics/progress/samples/summary/adapter out.

Exit codes: 0 succeeded, jobs.state.EXIT_STOPPED stopped on request (cancelled),
jobs.state.EXIT_BUSY another process runs this job, 1 failed (reason in state.json).
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
from pathlib import Path

from filelock import FileLock, Timeout

from jobs import registry
from jobs.atomic import atomic_write_json, read_json
from jobs.disk import EXIT_NO_SPACE, NO_SPACE, NoSpace, is_no_space
from jobs.methods import BUILTINS, list_methods, list_rewards
from jobs.spec import validate
from jobs.state import EXIT_BUSY, EXIT_OK, EXIT_STOPPED, latest_checkpoint, now_iso, read_state, update_state
from jobs.workspace import Workspace

from . import dist
from .errors import Stopped, TrainerError

log = logging.getLogger("tunedeck")


def setup_logging(run_dir: Path) -> list:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    log_path = run_dir / "train.log"
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


def recipe_for(method_name: str, ws: Workspace):
    if method_name in BUILTINS:
        import importlib
        mod = importlib.import_module(f"trainer.methods.{method_name}")
        return mod.DATA, mod.build
    method = list_methods(ws.methods).get(method_name)
    if method is None:
        raise TrainerError(f"method {method_name!r} is not registered any more (workspace/methods/{method_name}.py)")
    if not method.ok:
        raise TrainerError(f"custom method {method_name!r} failed to import: {method.error}")
    from .methods import custom
    return custom.DATA, custom.builder(method)


def save_adapter(model, tokenizer, run_dir: Path) -> Path:
    """Write the adapter beside the final one, then rename: a half-written adapter is never presented."""
    tmp, final = run_dir / ".adapter.tmp", run_dir / "adapter"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if final.exists():
        old = run_dir / ".adapter.old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, final)
    return final


def train(run_dir: Path, ws: Workspace, resume: bool, stop_cb) -> int:
    spec = read_json(run_dir / "spec.json")
    v = validate(spec, ws)
    if not v.ok:
        raise TrainerError("the spec is not valid any more: " + "; ".join(map(str, v.errors)))
    spec, params = v.spec, v.spec["params"]
    kind, build = recipe_for(spec["method"], ws)

    from transformers import set_seed

    from . import data, model as model_mod, samples, summary
    from .callbacks import MetricsCallback
    from .disk_guard import DiskSpaceCallback, check_adapter_space
    from .eval_run import EvalRun
    from .job import Job
    from .phases import Phases

    phases = Phases(run_dir, main=dist.is_main())
    phases.enter("preparing_data")
    set_seed(params["seed"])
    model_path = registry.list_models(ws)[spec["base_model"]]
    ds_path = registry.list_datasets(ws)[spec["dataset"]]
    problem = registry.model_problem(model_path)
    if problem:
        raise TrainerError(f"base model {spec['base_model']!r} is not a loadable model folder: {problem}. "
                           "Register a Hugging Face model folder on the Base models page")
    tokenizer = model_mod.load_tokenizer(model_path)
    rows = data.read_jsonl(ds_path, params["max_samples"], spec["dataset"])
    from jobs.format_check import effective_format
    fmt = effective_format(params.get("dataset_format"), ds_path)
    prepared = data.prepare(rows, params, tokenizer, kind, spec["dataset"], fmt, should_stop=stop_cb.check)
    log.info("train rows %d, eval rows %d, sample prompts %d", len(prepared.train), len(prepared.eval),
             len(prepared.samples))
    device, _ = model_mod.device_and_dtype()
    phases.enter("loading_model")
    base = model_mod.load_base(model_path, spec["base_model"], params["load_in_4bit"])
    ctx = getattr(base.config, "max_position_embeddings", None)
    if ctx and params["max_seq_length"] > ctx:
        log.warning("max_seq_length %d is longer than the model's context (%d tokens); longer sequences may "
                    "degrade or fail", params["max_seq_length"], ctx)

    prompts = [s["prompt"] for s in prepared.samples]
    ckpt = latest_checkpoint(run_dir) if resume else None
    evals = EvalRun(run_dir, ws.home, model_path, params, tokenizer, phases, stop_cb.check,
                    eval_setup(spec, params, prepared, ws), prompts)
    if dist.is_main():  # rank 0 alone answers the sample prompts and writes the files
        evals.run_base(base)

    model = model_mod.add_lora(base, params)
    job = Job(run_dir, spec, params, model, tokenizer, prepared, kind, device,
              custom_rewards={k: f for k, f in list_rewards(ws.methods).items() if callable(f)})
    set_seed(params["seed"])
    try:
        trainer = build(job)
    except TrainerError:
        raise
    except Exception as e:
        if spec["method"] not in BUILTINS:
            raise TrainerError(f"custom method {spec['method']!r} raised {type(e).__name__}: {e}") from e
        raise
    resume_step = None
    if ckpt is not None:
        resume_step = (read_json(ckpt / "trainer_state.json", {}) or {}).get("global_step", 0)
        log.info("resuming from %s (step %s)", ckpt.name, resume_step)
    elif resume:
        log.info("no checkpoint yet: starting from the beginning")
    metrics = MetricsCallback(run_dir, resume_step, main=dist.is_main())
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)  # our metrics callback logs level-tagged lines instead
    trainer.add_callback(metrics)
    trainer.add_callback(stop_cb)
    trainer.add_callback(DiskSpaceCallback(run_dir, model, model_path))  # after stop_cb: sees its save request

    t0 = time.time()
    phases.enter("training")
    if not finished_checkpoint(trainer, ckpt):  # a resume from the final checkpoint trains no extra step
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    runtime = time.time() - t0
    if metrics.nan_step is not None:
        raise TrainerError(f"loss became NaN at step {metrics.nan_step}; lower learning_rate "
                           f"(now {params['learning_rate']}) or max_grad_norm, or check the data")
    stopped = stop_cb.requested  # the stop callback already had the Trainer save a checkpoint
    final_eval = prepared.eval and spec["method"] != "grpo" and metrics.last_eval_step != trainer.state.global_step
    if not stopped and final_eval:
        trainer.evaluate()
    metrics.writer.close()
    if not dist.is_main():
        return EXIT_STOPPED if stopped else EXIT_OK
    check_adapter_space(run_dir, trainer.model, model_path)
    adapter = save_adapter(trainer.model, tokenizer, run_dir)
    log.info("adapter saved: %s", adapter)

    if not stopped:  # the adapter and the final checkpoint are on disk: a stop from here on keeps both
        try:
            after = evals.run_tuned(trainer.model)
            samples.write(run_dir / "samples.jsonl", prepared.samples, evals.before, after)
        except Stopped:
            stopped = True
            log.info("stopped during the tuned evaluation; the adapter and the final checkpoint are kept")
    phases.enter("saving")
    summary.write(run_dir / "summary.json", trainer.state, metrics, prepared, spec, ds_path, device, adapter,
                  runtime, stopped, evals.seconds, world_size=dist.world_size())
    return EXIT_STOPPED if stopped else EXIT_OK


def eval_setup(spec: dict, params: dict, prepared, ws: Workspace):
    """What the base and tuned evaluation measure for this method (None when eval_max_rows is 0)."""
    from . import evaluate

    module = None
    if spec["method"] not in BUILTINS:
        module = list_methods(ws.methods)[spec["method"]].module
    rewards = {k: f for k, f in list_rewards(ws.methods).items() if callable(f)}
    # the sample prompts first: their greedy answers then come from the evaluation instead of a second generation
    first = [s for s in prepared.samples if any(s is e for e in prepared.eval)]
    rows = first + [e for e in prepared.eval if not any(e is s for s in first)]
    return evaluate.setup_for(spec["method"], params, rows, module, rewards)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer", description="Run one Tunedeck job.")
    ap.add_argument("run_dir")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    if not (run_dir / "spec.json").is_file():
        print(f"error: {run_dir} has no spec.json; pass a run folder (workspace/runs/<job_id>)", file=sys.stderr)
        return 2
    lock = FileLock(str(run_dir / "run.lock"))
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
    ws = Workspace(run_dir.parent.parent)

    main = dist.is_main()
    ident = {**dist.launcher_ident(), "host": socket.gethostname()}
    if main:
        atomic_write_json(run_dir / "trainer.json", ident)
        started_at = (read_state(run_dir) or {}).get("started_at") or now_iso()
        update_state(run_dir, status="running", error=None, started_at=started_at, **ident)
        (run_dir / "outcome.json").unlink(missing_ok=True)

    from .callbacks import StopCallback
    stop_cb = StopCallback(run_dir)
    import threading
    prev_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev_handlers[sig] = signal.signal(sig, stop_cb.request)

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
    status = {EXIT_OK: "succeeded", EXIT_STOPPED: "cancelled"}.get(code, "failed")
    if status == "cancelled":
        error = stopped_reason(run_dir)
    try:
        if main:
            atomic_write_json(run_dir / "outcome.json", {"exit_code": code, "status": status, "error": error,
                                                         "finished_at": now_iso(), "world_size": dist.world_size()})
            update_state(run_dir, status=status, error=error, finished_at=now_iso())
    except OSError as e:
        if not is_no_space(e):
            raise
        log.error("%s: could not record the outcome; the spooler records it from the exit code", NO_SPACE)
        return EXIT_NO_SPACE if code not in (EXIT_OK, EXIT_STOPPED) else code
    log.info("job %s %s%s", run_dir.name, status, f": {error}" if error else "")
    for sig, handler in prev_handlers.items():
        signal.signal(sig, handler)
    if dist.world_size() > 1 and code == EXIT_STOPPED:
        return EXIT_OK  # torchrun reads any other code as a crash; outcome.json carries the real one
    return code


def stopped_reason(run_dir: Path) -> str:
    if (run_dir / "adapter").is_dir():
        return "stopped on request; the adapter and a checkpoint were saved (retry resumes)"
    if latest_checkpoint(run_dir) is not None:
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
