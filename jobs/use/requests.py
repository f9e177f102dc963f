"""Requests to use a trained model: "try it" prompts and merged-model exports.

The dashboard and the CLI write a request; the spooler runs it on a slot, ahead of queued trainings; a process in
trainer/ answers it. They meet only on disk, through the names declared here:

    runs/<job_id>/try/<request_id>.json          the request (prompt, settings, which models answer); never changed
    runs/<job_id>/try/<request_id>.answer.json   the answers, rewritten atomically as the status moves on
    runs/<job_id>/export/status.json             the export's status; merged/, Modelfile, vllm.sh, load_with_peft.py
    spool/requests/<request_id>.json             a pointer per open request: what the spooler schedules
    spool/requests/taken/<request_id>.json       the pointer once a worker or exporter has claimed it
    spool/workers/slot-<n>.json                  a warm try worker: pid, base model, state, memory held
"""
from __future__ import annotations

import json
import math
import os
import shutil
from enum import Enum
from pathlib import Path

from jobs.atomic import atomic_write_json, read_json
from jobs.job_ids import BadJobId, NotARunFolder
from jobs.rundir import RunDir
from jobs.state import is_job_id, new_job_id, now_iso, read_spec, read_state
from jobs.workspace import Workspace

TRY_DIR = "try"
EXPORT_DIR = "export"
EXPORT_STATUS = "status.json"
MERGED_DIR = "merged"
MODELFILE = "Modelfile"
VLLM_SCRIPT = "vllm.sh"
PEFT_SNIPPET = "load_with_peft.py"
ANSWER_SUFFIX = ".answer.json"
GGUF_DIR = "gguf"             # export/gguf/<name>-<quant>.gguf: llama.cpp / Ollama files, one per quantization
# Quantizations an export can write, in the order they are made: f16 is llama.cpp's conversion of the merged
# model, the others are quantized from it. The Modelfile points at the first of GGUF_PREFERRED that was written.
GGUF_QUANTS = ("f16", "q8_0", "q4_k_m")
GGUF_PREFERRED = ("q4_k_m", "q8_0", "f16")
GGUF_SMOKE_PROMPTS = 3        # the run's first sample prompts that each GGUF answers after it is written
GGUF_SMOKE_TOKENS = 32        # greedy tokens compared with the merged model's answer
BASE = "base"                 # the target that means "the base model, without any adapter"
PRECISION_4BIT = "4-bit NF4"  # an answer's precision when the base was loaded in 4-bit, as a QLoRA run trained
# Limits of a try request, checked where it is written (the CLI and the page, build_try) and again where it is read
# (the try worker, load_try_request), since a file written straight into runs/<id>/try/ never went through the first.
MAX_PROMPT_CHARS = 20_000     # the prompt, and the system prompt, each
MAX_TARGETS = 10              # models that answer one prompt (the base model counts)
# The request file itself: both prompts at the limit, every character JSON-escaped (\uXXXX: 6 bytes), and room for
# the rest. A larger file is refused before it is read.
MAX_REQUEST_BYTES = 2 * MAX_PROMPT_CHARS * 6 + 64 * 1024
MAX_COMPLETIONS = 2           # answers a reward model scores in one request: one, or two to compare
CANCEL_SUFFIX = ".cancel"     # runs/<job_id>/try/<request_id>.cancel: stop this request (the worker checks per token)
WAITING_FOR_TRAINING = "training"   # an answer's `waiting_for` while a queued training goes first


class TryStatus(str, Enum):
    WAITING = "waiting"        # no worker has it yet: waiting for a free slot
    LOADING = "loading"        # a worker is loading the base model or an adapter
    GENERATING = "generating"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"    # by `python -m spooler try --cancel` or the page's Cancel


class ExportStatus(str, Enum):
    WAITING = "waiting"
    EXPORTING = "exporting"
    DONE = "done"
    FAILED = "failed"


class WorkerState(str, Enum):
    STARTING = "starting"      # handed to a cluster (Slurm): waiting for it to start the worker
    LOADING = "loading"
    IDLE = "idle"
    BUSY = "busy"


FINAL_TRY = (TryStatus.DONE.value, TryStatus.FAILED.value, TryStatus.CANCELLED.value)
FINAL_EXPORT = (ExportStatus.DONE.value, ExportStatus.FAILED.value)

# Generation settings of a try request: name -> (default, lo, hi, kind).
SETTINGS = {
    "max_new_tokens": (128, 1, 4096, int),
    "temperature": (0.7, 0.0, 2.0, float),
    "top_p": (0.95, 0.0, 1.0, float),
    "seed": (42, 0, 2**31 - 1, int),
}


class RequestError(ValueError):
    """A request that cannot be accepted; the message names the field, the value and what is allowed."""


def inbox(ws: Workspace) -> Path:
    return ws.spool / "requests"


def taken_dir(ws: Workspace) -> Path:
    return inbox(ws) / "taken"


def workers_dir(ws: Workspace) -> Path:
    return ws.spool / "workers"


def try_dir(run_dir: Path) -> Path:
    return Path(run_dir) / TRY_DIR


def export_dir(run_dir: Path) -> Path:
    return Path(run_dir) / EXPORT_DIR


def adapter_dir(run_dir: Path) -> Path:
    return RunDir(run_dir).adapter


def has_adapter(run_dir: Path) -> bool:
    """A trained result to answer from or export: the LoRA adapter, or a full fine-tune's model folder."""
    return RunDir(run_dir).has_trained


# ---------------------------------------------------------------- try it
def normalize_settings(raw: dict | None) -> dict:
    """Fill defaults and check ranges; `greedy` true means no sampling (temperature and top_p are unused)."""
    raw = dict(raw or {})
    out: dict = {"greedy": raw.pop("greedy", False)}
    if not isinstance(out["greedy"], bool):
        raise RequestError(f"greedy: must be true or false (got {out['greedy']!r})")
    for name, (default, lo, hi, kind) in SETTINGS.items():
        val = raw.pop(name, default)
        ok = isinstance(val, (int, float)) and not isinstance(val, bool) and math.isfinite(val) and lo <= val <= hi
        if ok and kind is int and float(val) != int(val):
            ok = False
        if not ok:
            what = "an integer" if kind is int else "a number"
            raise RequestError(f"{name}: must be {what} from {lo:g} to {hi:g} (got {val!r})")
        out[name] = kind(val)
    if not out["greedy"] and out["temperature"] == 0:
        raise RequestError("temperature: must be above 0 when sampling; turn on greedy for deterministic answers (got 0)")
    if raw:
        raise RequestError(f"{sorted(raw)[0]}: unknown generation setting; allowed: greedy, " + ", ".join(SETTINGS))
    return out


def existing_run(ws: Workspace, job_id: str) -> Path:
    """The run's folder, a real folder in runs/ (never a symlink planted there); RequestError saying why not."""
    try:
        return ws.existing_run(job_id)
    except (BadJobId, NotARunFolder) as e:  # their message is the one-line reason
        raise RequestError(str(e.args[0])) from e
    except KeyError as e:
        raise RequestError(f"job {job_id}: no such job") from e


def answerable(ws: Workspace, job_id: str) -> tuple[dict, str | None]:
    """The run's spec and why it cannot answer prompts (None when it can)."""
    if not is_job_id(job_id):
        return {}, f"job id {job_id!r} is not a job id"
    try:
        run_dir = existing_run(ws, job_id)
    except RequestError as e:
        return {}, str(e)
    spec = read_spec(run_dir)
    if spec is None:
        return {}, f"job {job_id}: no such job"
    if not has_adapter(run_dir):
        status = (read_state(run_dir) or {}).get("status", "unknown")
        return spec, f"job {job_id} has no adapter yet (it is {status}); only finished or stopped runs can answer"
    return spec, None


def scores(ws: Workspace, spec: dict) -> bool:
    """Whether the run's method scores answers (its output trait: a reward model) instead of writing them."""
    from jobs.methods import method_of
    method = method_of(str(spec.get("method") or ""), ws.methods)
    return method is not None and not method.generates


def build_try(ws: Workspace, job_ids: list[str], prompt: str, system: str = "", include_base: bool = True,
              settings: dict | None = None, owner: str | None = None, completions: list[str] | None = None) -> dict:
    """Check a try request and return it, ready to submit. Raises RequestError with a one-line reason.

    With `completions` (one answer, or two to compare) the request asks reward-model runs for their score of each
    answer after the prompt instead of an answer; every job must then be a reward model, and the base model (an
    untrained score head) does not take part."""
    job_ids = list(dict.fromkeys(job_ids))
    if not job_ids and not owner:
        raise RequestError("jobs: name at least one job (got none)")
    _check_prompts(prompt, system or "")
    if completions is not None:
        _check_completions(completions)
        if include_base:
            raise RequestError("base: a reward model's base is its untrained score head, so it gives no score; "
                               "score with trained reward-model runs only (got the base model)")
    if len(job_ids) + include_base > MAX_TARGETS:
        raise RequestError(f"jobs: at most {MAX_TARGETS} models answer one prompt (got {len(job_ids) + include_base})")
    base_model = None
    for job_id in job_ids or [owner]:
        spec, why = answerable(ws, job_id)
        if why and (job_ids or not spec):
            raise RequestError(why)
        if spec and scores(ws, spec) != (completions is not None):
            raise RequestError(
                f"job {job_id}: a reward model (method {spec.get('method')!r}) scores answers; send the answers to "
                f"score (1 to {MAX_COMPLETIONS})" if completions is None else
                f"completions: job {job_id} (method {spec.get('method')!r}) writes answers instead of scoring them; "
                "only reward-model runs (method rm) score completions")
        if base_model is None:
            base_model = spec.get("base_model")
        elif spec.get("base_model") != base_model:
            raise RequestError(f"job {job_id}: trained on base model {spec.get('base_model')!r}, not {base_model!r}; "
                               "one prompt goes to runs of the same base model")
    targets = ([BASE] if include_base else []) + job_ids
    if not targets:
        raise RequestError("targets: choose the base model or at least one run (got none)")
    req = {"request_id": new_job_id(), "kind": "try", "job_id": owner or job_ids[0], "base_model": base_model,
           "targets": targets, "prompt": prompt, "system": system or "", "settings": normalize_settings(settings),
           "created_at": now_iso()}
    if completions is not None:
        req["completions"] = list(completions)
    return req


def _check_completions(completions) -> None:
    if not isinstance(completions, list) or not 1 <= len(completions) <= MAX_COMPLETIONS:
        shown = len(completions) if isinstance(completions, list) else repr(completions)[:40]
        raise RequestError(f"completions: from 1 to {MAX_COMPLETIONS} answers to score (got {shown})")
    for i, c in enumerate(completions):
        if not isinstance(c, str) or not c.strip():
            raise RequestError(f"completions[{i}]: must be a non-empty text (got {str(c)[:40]!r})")
        if len(c) > MAX_PROMPT_CHARS:
            raise RequestError(f"completions[{i}]: at most {MAX_PROMPT_CHARS} characters (got {len(c)})")


def _check_prompts(prompt, system) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError("prompt: must be a non-empty text (got an empty prompt)")
    if not isinstance(system, str):
        raise RequestError(f"system: must be a text (got {type(system).__name__})")
    if len(prompt) > MAX_PROMPT_CHARS or len(system) > MAX_PROMPT_CHARS:
        raise RequestError(f"prompt: at most {MAX_PROMPT_CHARS} characters (got {max(len(prompt), len(system))})")


def check_try_request(req: object) -> dict:
    """The limits of build_try, applied to a request as read from disk: the prompts, the targets (the base model or
    job ids, at most MAX_TARGETS) and the generation settings. Returns it with its settings normalized; RequestError
    with the field, the value and what is allowed otherwise."""
    if not isinstance(req, dict):
        raise RequestError(f"request: must be a JSON object (got {type(req).__name__})")
    _check_prompts(req.get("prompt"), req.get("system") or "")
    targets = req.get("targets")
    if not isinstance(targets, list) or not targets or len(targets) > MAX_TARGETS:
        shown = len(targets) if isinstance(targets, list) else repr(targets)[:40]
        raise RequestError(f"targets: from 1 to {MAX_TARGETS} models answer one prompt (got {shown})")
    bad = next((t for t in targets if t != BASE and not is_job_id(t)), None)
    if bad is not None:
        raise RequestError(f"targets: {str(bad)[:80]!r} is neither {BASE!r} nor a job id")
    if len(set(targets)) != len(targets):
        raise RequestError("targets: each model once (got a repeated one)")
    if req.get("completions") is not None:
        _check_completions(req["completions"])
        if BASE in targets:
            raise RequestError(f"targets: {BASE!r} has no trained score head; completions are scored by runs only")
    return {**req, "system": req.get("system") or "", "settings": normalize_settings(req.get("settings"))}


def load_try_request(run_dir: Path, request_id: str) -> dict | None:
    """runs/<job_id>/try/<request_id>.json, checked by check_try_request; None when there is no such file.
    A file over MAX_REQUEST_BYTES is refused before it is read, so a forged one cannot fill the reader's memory."""
    path = try_dir(run_dir) / f"{request_id}.json"
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return None
    if size > MAX_REQUEST_BYTES:
        raise RequestError(f"request: the file is {size:,} bytes; at most {MAX_REQUEST_BYTES:,} are read "
                           f"(prompts of at most {MAX_PROMPT_CHARS} characters)")
    req = read_json(path)
    if req is None:
        raise RequestError("request: the file is not valid JSON")
    return check_try_request(req)


def submit_try(ws: Workspace, job_ids: list[str], prompt: str, system: str = "", include_base: bool = True,
               settings: dict | None = None, owner: str | None = None, completions: list[str] | None = None) -> str:
    """Write the request into runs/<owner>/try/ and its pointer into the spool; returns the request id."""
    req = build_try(ws, job_ids, prompt, system, include_base, settings, owner, completions)
    atomic_write_json(try_dir(ws.run_dir(req["job_id"])) / f"{req['request_id']}.json", req)
    _point(ws, req)
    return req["request_id"]


def _point(ws: Workspace, req: dict) -> None:
    # Written after the request itself, so a pointer always finds its request.
    atomic_write_json(inbox(ws) / f"{req['request_id']}.json",
                      {k: req[k] for k in ("request_id", "kind", "job_id", "base_model", "created_at")})


def read_try(ws: Workspace, job_id: str, request_id: str) -> dict | None:
    """The request with its answers and current status merged in; None when there is no such request."""
    d = try_dir(ws.run_dir(job_id))
    req = read_json(d / f"{request_id}.json")
    if not isinstance(req, dict):
        return None
    ans = read_json(d / f"{request_id}{ANSWER_SUFFIX}") or {}
    return {**req, "status": ans.get("status", TryStatus.WAITING.value), "answers": ans.get("answers", []),
            "error": ans.get("error"), "waiting_for": ans.get("waiting_for"), "worker": ans.get("worker"),
            "loaded_model": ans.get("loaded_model"),
            "load_seconds": ans.get("load_seconds"), "answered_at": ans.get("finished_at")}


def write_answer(run_dir: Path, request_id: str, **fields) -> None:
    path = try_dir(run_dir) / f"{request_id}{ANSWER_SUFFIX}"
    cur = read_json(path) or {}
    cur.update(fields, updated_at=now_iso())
    atomic_write_json(path, cur)


def try_history(ws: Workspace, job_id: str) -> list[dict]:
    """Every try request of a run, newest first, with its answers."""
    d = try_dir(ws.run_dir(job_id))
    if not d.is_dir():
        return []
    ids = sorted((p.name[:-5] for p in d.glob("*.json") if not p.name.endswith(ANSWER_SUFFIX)
                  and not p.name.startswith(".")), reverse=True)
    return [r for r in (read_try(ws, job_id, i) for i in ids) if r]


def history_jsonl(ws: Workspace, job_id: str) -> str:
    """One line per request, newest first: prompt, settings and every model's answer with its time."""
    keep = ("request_id", "created_at", "base_model", "targets", "system", "prompt", "completions", "settings",
            "status", "answers", "error")
    return "".join(json.dumps({k: r.get(k) for k in keep if k in r}, ensure_ascii=False) + "\n"
                   for r in try_history(ws, job_id))


# ---------------------------------------------------------------- export
def normalize_gguf(value) -> list[str]:
    """The GGUF quantizations asked for ("f16,q8_0" or a list), in GGUF_QUANTS order; RequestError otherwise."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise RequestError(f"gguf: must be a list of quantizations (got {value!r}); allowed: {', '.join(GGUF_QUANTS)}")
    out = []
    for q in items:
        name = q.strip().lower() if isinstance(q, str) else q
        if name not in GGUF_QUANTS:
            raise RequestError(f"gguf: unknown quantization {q!r}; allowed: {', '.join(GGUF_QUANTS)}")
        out.append(name)
    return [q for q in GGUF_QUANTS if q in out]


def gguf_size_estimate(base: Path, quants: list[str]) -> int:
    """Disk the GGUF files need: f16 is 2 bytes a weight (always written: the others are quantized from it),
    q8_0 about 8.5 bits and q4_k_m about 5 bits a weight (small models keep more tensors at 8 bits)."""
    if not quants:
        return 0
    cfg = read_json(Path(base) / "config.json") or {}
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "float32")
    per_weight = 4 if "32" in dtype else 2
    weights = sum(p.stat().st_size for pat in ("*.safetensors", "*.bin") for p in Path(base).glob(pat)) / per_weight
    bits = {"f16": 16, "q8_0": 8.5, "q4_k_m": 6}
    return int(weights * (16 + sum(bits[q] for q in quants if q != "f16")) / 8 * 1.05) + 16 * 2**20


def gguf_file(run_dir: Path, name: str, quant: str) -> Path:
    return export_dir(run_dir) / GGUF_DIR / f"{name}-{quant}.gguf"


def offered_gguf(run_dir: Path) -> list[dict]:
    """The GGUF files an export finished: listed in status.json with no error, and present on disk (a file being
    written has a hidden temporary name, so a killed export never offers half a file)."""
    out = []
    for g in export_state(run_dir).get("gguf") or []:
        if isinstance(g, dict) and not g.get("error") and g.get("file") and Path(g["file"]).is_file():
            out.append(g)
    return out


def export_problem(ws: Workspace, job_id: str, free_bytes: int | None = None, gguf=()) -> str | None:
    """Why the run cannot be exported now (no adapter, no room on disk, one already under way), or None."""
    spec, why = answerable(ws, job_id)
    if why:
        return why.replace("can answer", "can be exported").replace("answer prompts", "be exported")
    run_dir = ws.run_dir(job_id)
    cur = export_state(run_dir)
    if cur.get("status") in (ExportStatus.WAITING.value, ExportStatus.EXPORTING.value):
        return f"job {job_id}: an export is already {cur['status']}"
    from jobs.models.registry import list_models
    base = list_models(ws).get(spec.get("base_model"))
    if base is None or not Path(base).is_dir():
        return f"job {job_id}: its base model {spec.get('base_model')!r} is not registered any more"
    quants = normalize_gguf(gguf)
    need = merged_size_estimate(Path(base)) + gguf_size_estimate(Path(base), quants)
    free = shutil.disk_usage(run_dir).free if free_bytes is None else free_bytes
    if free < need:
        what = "the merged model" + (f" and its GGUF files ({', '.join(quants)})" if quants else "")
        return (f"not enough disk space for {what}: it needs about {need / 2**20:,.0f} MiB and "
                f"{free / 2**20:,.0f} MiB are free on {run_dir.anchor or '/'}")
    return None


def merged_size_estimate(base: Path) -> int:
    """The merged model is the base's weights in their original dtype, plus tokenizer files; 10 % headroom."""
    weights = sum(p.stat().st_size for pat in ("*.safetensors", "*.bin") for p in base.glob(pat))
    return int(weights * 1.1) + 32 * 2**20


def submit_export(ws: Workspace, job_id: str, free_bytes: int | None = None, gguf=()) -> str:
    """Queue an export; `gguf`: the GGUF quantizations to write too (see GGUF_QUANTS), read by the exporter from
    export/status.json."""
    quants = normalize_gguf(gguf)
    why = export_problem(ws, job_id, free_bytes, quants)
    if why:
        raise RequestError(why)
    spec = read_spec(ws.run_dir(job_id)) or {}
    req = {"request_id": new_job_id(), "kind": "export", "job_id": job_id, "base_model": spec.get("base_model"),
           "created_at": now_iso()}
    write_export_state(ws.run_dir(job_id), reset=True, status=ExportStatus.WAITING.value,
                       request_id=req["request_id"], requested_at=req["created_at"], gguf_requested=quants)
    _point(ws, req)
    return req["request_id"]


def read_status(path: Path) -> dict:
    """A request's status file (an export's or a benchmark's), or {} when it is missing or not an object."""
    st = read_json(path)
    return st if isinstance(st, dict) else {}


def write_status(path: Path, reset: bool = False, **fields) -> dict:
    """Update (or, with reset, replace) a request's status file atomically, stamping updated_at."""
    cur = {} if reset else read_status(path)
    cur.update(fields, updated_at=now_iso())
    atomic_write_json(path, cur)
    return cur


def export_state(run_dir: Path) -> dict:
    return read_status(export_dir(run_dir) / EXPORT_STATUS)


def write_export_state(run_dir: Path, reset: bool = False, **fields) -> dict:
    return write_status(export_dir(run_dir) / EXPORT_STATUS, reset, **fields)


# ---------------------------------------------------------------- the spool side
def pointer_problem(ws: Workspace, path: Path, ptr: object) -> str | None:
    """Why a pointer file cannot be followed (None when it can): it must be a JSON object whose request_id is its
    file name and whose job_id names a real run folder directly in runs/ (jobs.job_ids, the one check)."""
    if not isinstance(ptr, dict):
        return "not a request pointer (a JSON object with request_id, kind and job_id)"
    if ptr.get("request_id") != path.stem:
        return f"request_id: must be the file's name {path.stem!r} (got {str(ptr.get('request_id'))[:80]!r})"
    if not is_job_id(ptr.get("job_id")):
        return f"job_id: {str(ptr.get('job_id'))[:80]!r} is not a job id"
    try:
        ws.existing_run(ptr["job_id"])
    except KeyError as e:
        return e.args[0] if isinstance(e, NotARunFolder) else f"job_id: no job {ptr['job_id']}"
    return None


def _pointers(ws: Workspace, d: Path) -> list[dict]:
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob("*.json")):
        ptr = read_json(p)
        # A forged or broken pointer is never followed; the daemon moves it to spool/rejected/ (bad_pointers).
        if pointer_problem(ws, p, ptr) is None:
            out.append(ptr)
    return out


def pending(ws: Workspace) -> list[dict]:
    """Open request pointers, oldest first."""
    return _pointers(ws, inbox(ws))


def taken(ws: Workspace) -> list[dict]:
    return _pointers(ws, taken_dir(ws))


def bad_pointers(ws: Workspace, min_age: float = 0.0) -> list[tuple[Path, str]]:
    """Pointer files (open or taken) that cannot be followed, with the reason, once older than `min_age` seconds
    (a file is written atomically, so a partial one is never seen; the age only spares one being renamed)."""
    import time
    out = []
    for d in (inbox(ws), taken_dir(ws)):
        for p in sorted(d.glob("*.json")) if d.is_dir() else []:
            try:
                if time.time() - p.stat().st_mtime < min_age:
                    continue
            except FileNotFoundError:
                continue
            why = pointer_problem(ws, p, read_json(p))
            if why:
                out.append((p, why))
    return out


def reject_pointer(ws: Workspace, path: Path, reason: str) -> Path | None:
    """Move a pointer that cannot be followed out of the spool into spool/rejected/request-<name>, with the reason
    beside it (<name>.error.txt), as a rejected spec is; None when it was gone already."""
    from jobs.atomic import atomic_write_text
    from jobs.queue.spool_view import ERROR_SUFFIX
    ws.rejected.mkdir(parents=True, exist_ok=True)
    base = f"request-{path.name}"[:200]
    target, n = ws.rejected / base, 1
    while target.exists() or target.is_symlink() or (ws.rejected / f"{target.name}{ERROR_SUFFIX}").exists():
        target, n = ws.rejected / f"{base}.{n}", n + 1
    if not path.exists():
        return None
    atomic_write_text(ws.rejected / f"{target.name}{ERROR_SUFFIX}",
                      f"request pointer spool/requests/{path.relative_to(inbox(ws))} was rejected:\n{reason}\n")
    try:
        os.rename(path, target)
    except FileNotFoundError:
        (ws.rejected / f"{target.name}{ERROR_SUFFIX}").unlink(missing_ok=True)
        return None
    return target


def claim(ws: Workspace, request_id: str) -> bool:
    """Take a pointer out of the inbox; exactly one claimant wins (rename is atomic)."""
    taken_dir(ws).mkdir(parents=True, exist_ok=True)
    try:
        os.rename(inbox(ws) / f"{request_id}.json", taken_dir(ws) / f"{request_id}.json")
        return True
    except OSError:
        return False


def close(ws: Workspace, request_id: str) -> None:
    (taken_dir(ws) / f"{request_id}.json").unlink(missing_ok=True)
    (inbox(ws) / f"{request_id}.json").unlink(missing_ok=True)


def cancel_file(run_dir: Path, request_id: str) -> Path:
    return try_dir(run_dir) / f"{request_id}{CANCEL_SUFFIX}"


def cancel_requested(run_dir: Path, request_id: str) -> bool:
    return cancel_file(run_dir, request_id).exists()


def _find_try(ws: Workspace, request_id: str) -> tuple[Path, str] | None:
    """(run folder, where) of a try request: its pointer says which run holds it; a closed one is looked for in
    the run folders (real ones only: jobs.state.list_run_dirs)."""
    for where, d in (("open", inbox(ws)), ("taken", taken_dir(ws))):
        p = d / f"{request_id}.json"
        ptr = read_json(p)
        if ptr is not None and pointer_problem(ws, p, ptr) is None and ptr.get("kind") == "try":
            return ws.existing_run(ptr["job_id"]), where
    from jobs.state import list_run_dirs
    for run_dir in list_run_dirs(ws):
        if (try_dir(run_dir) / f"{request_id}.json").is_file():
            return run_dir, "closed"
    return None


def cancel_try(ws: Workspace, request_id: str) -> str:
    """Cancel a try request: one still waiting is closed at once (no worker ever sees it); one a worker is
    answering stops at its next token, keeping the answers already written. Returns what happened, in one line;
    RequestError when there is nothing to cancel."""
    if not is_job_id(request_id):
        raise RequestError(f"request id {str(request_id)[:80]!r} is not a request id; "
                           "expected YYYYMMDD-HHMMSS-ffffff-xxxxxx, as `try` printed it")
    found = _find_try(ws, request_id)
    if found is None:
        raise RequestError(f"request {request_id}: no such try request")
    run_dir, where = found
    status = (read_json(try_dir(run_dir) / f"{request_id}{ANSWER_SUFFIX}") or {}).get("status")
    if status in FINAL_TRY:
        raise RequestError(f"request {request_id} is already {status}; nothing to cancel")
    if where == "open" and claim(ws, request_id):   # taken away from every worker: it is never answered
        write_answer(run_dir, request_id, status=TryStatus.CANCELLED.value, finished_at=now_iso(),
                     waiting_for=None, error="cancelled before a worker took it")
        close(ws, request_id)
        return f"request {request_id}: cancelled before a worker took it"
    if where == "closed":
        raise RequestError(f"request {request_id} is {status or 'closed'}; nothing to cancel")
    atomic_write_json(cancel_file(run_dir, request_id), {"requested_at": now_iso()})
    return f"request {request_id}: cancel requested; the worker stops it at its next token"


def mark_waiting(ws: Workspace, ptr: dict, waiting_for: str | None) -> None:
    """Say why an open request waits (WAITING_FOR_TRAINING), or that it no longer does (None); only while it is
    still open and nobody answers it, so a worker's own status is never overwritten."""
    run_dir = ws.run_dir(ptr["job_id"])
    ans = read_json(try_dir(run_dir) / f"{ptr['request_id']}{ANSWER_SUFFIX}") or {}
    if ans.get("status", TryStatus.WAITING.value) != TryStatus.WAITING.value or \
            not (inbox(ws) / f"{ptr['request_id']}.json").exists():
        return
    write_answer(run_dir, ptr["request_id"], status=TryStatus.WAITING.value, waiting_for=waiting_for)


def worker_file(ws: Workspace, slot: int) -> Path:
    return workers_dir(ws) / f"slot-{slot}.json"


def list_workers(ws: Workspace) -> list[dict]:
    d = workers_dir(ws)
    return [w for w in (read_json(p) for p in sorted(d.glob("slot-*.json"))) if isinstance(w, dict)] if d.is_dir() else []


# ---------------------------------------------------------------- a merged model as a new base model
LINEAGE_FILE = "tunedeck_lineage.json"   # in models/<name>/: the training a registered merged model came from


def register_merged(ws: Workspace, job_id: str, name: str) -> Path:
    """Register runs/<job_id>/export/merged as base model `name`, stored as workspace/models/<name>/ with its
    lineage, so it outlives the job: its files are hard links to the export (no second copy on disk), copies
    where the filesystem cannot link. Deleting the job, or exporting it again, leaves the model as it was."""
    from jobs.models.registry import RegistryError, list_models, loading_problem, model_problem, valid_name
    try:
        run_dir = existing_run(ws, job_id)
    except RequestError as e:  # the registry speaks RegistryError; the reason is the same one-line one
        raise RegistryError(str(e)) from None
    st = export_state(run_dir)
    if st.get("status") != ExportStatus.DONE.value:
        raise RegistryError(f"job {job_id}: export it first (its export is {st.get('status') or 'not started'})")
    if not valid_name(name):
        raise RegistryError(f"model name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (max 64)")
    if name in list_models(ws) or (ws.models / name).exists() or (ws.models / f"{name}.json").exists():
        raise RegistryError(f"a model named {name!r} is already registered")
    from jobs.models.registry import model_name_taken
    if model_name_taken(ws, name):  # the same name in another case
        raise RegistryError(model_name_taken(ws, name))
    src = export_dir(run_dir) / MERGED_DIR
    problem = model_problem(src) or loading_problem(src)
    if problem:
        raise RegistryError(problem)
    spec = read_spec(run_dir) or {}
    lineage = {"job_id": job_id, "job_name": spec.get("name"), "method": spec.get("method"),
               "base_model": spec.get("base_model"), "dataset": spec.get("dataset"),
               "exported_at": st.get("finished_at"), "registered_at": now_iso()}
    tmp = ws.models / f".{name}.new-{new_job_id()[-6:]}"   # hidden: never listed while it is being built
    linked = _link_tree(src, tmp)
    atomic_write_json(tmp / LINEAGE_FILE, {**lineage, "stored": "hard links" if linked else "copy"})
    try:
        os.rename(tmp, ws.models / name)   # fails if the name was taken meanwhile: never two models in one folder
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RegistryError(f"a model named {name!r} is already registered") from None
    return ws.models / name


def _link_tree(src: Path, dst: Path) -> bool:
    """Hard-link every file of src into dst (a copy when a link is refused); True when all were linked."""
    linked = True
    for f in sorted(src.rglob("*")):
        target = dst / f.relative_to(src)
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:  # another filesystem, or links not allowed: a real copy
            shutil.copy2(f, target)
            linked = False
    return linked


def _lineage_entry(ws: Workspace, name: str) -> dict | None:
    """A registered model's lineage: models/<name>/tunedeck_lineage.json, or the lineage in models/<name>.json
    (registrations made before merged models were stored in the workspace)."""
    folder = read_json(ws.models / name / LINEAGE_FILE) if (ws.models / name).is_dir() else None
    entry = folder if isinstance(folder, dict) else (read_json(ws.models / f"{name}.json") or {}).get("lineage")
    return entry if isinstance(entry, dict) else None


def registered_from(ws: Workspace, job_id: str) -> list[str]:
    """Names of the base models registered from this job's export."""
    from jobs.models.registry import list_models
    return [n for n in list_models(ws) if (_lineage_entry(ws, n) or {}).get("job_id") == job_id]


def models_inside(ws: Workspace, folder: Path) -> list[str]:
    """Registered models whose files live inside `folder` (a registration by path into a run folder)."""
    from jobs.models.registry import list_models
    root = Path(folder).resolve()
    return [n for n, p in list_models(ws).items() if Path(p).resolve().is_relative_to(root)]


def model_lineage(ws: Workspace, name: str) -> list[dict]:
    """The chain of trainings behind a registered model, newest first (empty for an original base model)."""
    chain, seen = [], set()
    while name and name not in seen:
        seen.add(name)
        step = _lineage_entry(ws, name)
        if step is None:
            break
        chain.append({"model": name, **step})
        name = step.get("base_model")
    return chain
