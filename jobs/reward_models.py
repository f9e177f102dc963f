"""A finished reward-model run as a GRPO reward function, named "rm:<job id>": which runs qualify, and why not.

The trainer loads the run's base model with its score head and adapter (trainer/rm_reward.py); here only files
are read, so validation and the form can check a choice without loading a model.
"""
from __future__ import annotations

from pathlib import Path

from jobs.atomic import read_json
from jobs.contract import Unreadable
from jobs.job_ids import JOB_ID_FORM, BadJobId
from jobs.methods import RM_REWARD_PREFIX, SCORER, method_of
from jobs.rundir import RunDir
from jobs.state import read_spec, read_state
from jobs.status import JobStatus


def job_id_of(name: str) -> str:
    return name[len(RM_REWARD_PREFIX):].strip()


def _tokenizer_identity(model_path: Path) -> tuple:
    """What must match for two models to read the same tokens: model family and vocabulary size."""
    cfg = read_json(Path(model_path) / "config.json", {}) or {}
    return cfg.get("model_type"), cfg.get("vocab_size")


def problem(name: str, ws, base_model: str | None) -> str | None:
    """Why "rm:<job id>" cannot score this GRPO job's completions, or None when it can."""
    from jobs.models import registry

    job_id = job_id_of(name)
    try:
        run_dir = ws.run_dir(job_id)
    except BadJobId:
        return f"{job_id!r} is not a job id (the form is {JOB_ID_FORM}); name a finished reward-model run " \
               f"as {RM_REWARD_PREFIX}<job id>"
    spec = read_spec(run_dir) if run_dir.is_dir() else None
    if not spec:
        return f"no run {job_id!r} in this workspace; name a finished reward-model run as {RM_REWARD_PREFIX}<job id>"
    method = method_of(spec.get("method", ""), ws.methods)
    if method is None or method.output != SCORER:
        return f"run {job_id} trained {spec.get('method')!r}, which is not a reward model; train one with method rm"
    status = (read_state(run_dir) or {}).get("status")
    if status != JobStatus.SUCCEEDED or not RunDir(run_dir).has_trained:
        return f"run {job_id} is {status}, not a finished reward model with a saved head; wait for it or retry it"
    models = registry.list_models(ws)
    rm_base, base = spec.get("base_model"), base_model
    if base is None or rm_base == base:
        return None
    if rm_base not in models:
        return f"the base model {rm_base!r} of run {job_id} is not registered any more"
    if base in models and _tokenizer_identity(models[rm_base]) != _tokenizer_identity(models[base]):
        (t1, v1), (t2, v2) = _tokenizer_identity(models[rm_base]), _tokenizer_identity(models[base])
        return (f"run {job_id} scores with base {rm_base!r} ({t1}, vocabulary {v1}) but this job trains {base!r} "
                f"({t2}, vocabulary {v2}); a reward model must share the policy's tokenizer and base family")
    return None


def finished(ws, base_model: str | None = None) -> list[str]:
    """"rm:<job id>" of every finished reward-model run usable with this base model, newest first."""
    from jobs.state import list_run_dirs

    out = []
    for run_dir in sorted(list_run_dirs(ws), key=lambda p: p.name, reverse=True):
        try:
            spec = read_spec(run_dir) or {}
        except Unreadable:  # a broken run is shown as unreadable elsewhere; it is no reward model to offer
            continue
        method = method_of(spec.get("method", ""), ws.methods)
        if method is None or method.output != SCORER:
            continue
        name = RM_REWARD_PREFIX + run_dir.name
        if problem(name, ws, base_model) is None:
            out.append(name)
    return out
