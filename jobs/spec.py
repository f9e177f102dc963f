"""The job spec: validation and normalization.

`validate(raw, ws)` reports every problem at once. The normalized spec it returns
(defaults filled, aliases resolved) is what gets stored, shown and copied.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from jobs import finetune
from jobs.capacity import capacity_problems
from jobs.data import format_check
from jobs.display_text import escape_invisible, name_problem
from jobs.job_ids import JOB_ID_FORM, is_job_id
from jobs.methods import BUILTINS, Method, MethodContext, list_methods, list_rewards
from jobs.models import registry
from jobs.params import COMMON_PARAMS, MANAGED_KEYS, Param
from jobs.settings import trackers
from jobs.workspace import Workspace

TOP_KEYS = ("name", "method", "base_model", "dataset", "priority", "params", "parent_job", "notes", "group", "owner")
TOP_ALIASES = {"model_path": "base_model", "dataset_path": "dataset", "model": "base_model"}
MAX_SPEC_BYTES = 1 << 20


@dataclass
class Problem:
    field: str
    value: Any
    message: str

    def __str__(self) -> str:
        try:
            shown = escape_invisible(json.dumps(self.value, ensure_ascii=False, default=str))
        except ValueError:  # an integer with more digits than Python will print
            shown = "(a number too large to show)"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.field}: {self.message} (got {shown})"


@dataclass
class Validation:
    spec: dict | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_by_field(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.errors:
            out.setdefault(p.field.split(".")[-1], []).append(p.message)
        return out


def _squash(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _suggest(key: str, known: list[str]) -> str:
    squashed = {_squash(k): k for k in known}
    hits = difflib.get_close_matches(_squash(key), list(squashed), n=1, cutoff=0.75)
    return f"; did you mean {squashed[hits[0]]!r}?" if hits else ""


def params_for(method: Method | None) -> list[Param]:
    extra = list(method.params) if method else []
    names = {p.name for p in extra}
    return [p for p in COMMON_PARAMS if p.name not in names] + extra


def validate(raw: Any, ws: Workspace, *, check_refs: bool = True) -> Validation:
    """Every problem of a spec at once, and the normalized spec when there are none. The phases run in order."""
    v = Validation(spec=None)
    err = lambda f, val, msg: v.errors.append(Problem(f, val, msg))  # noqa: E731
    warn = lambda f, val, msg: v.warnings.append(Problem(f, val, msg))  # noqa: E731

    raw = parse_spec(raw, err)
    if raw is None:
        return v
    top = top_level(raw, err)
    method, method_name = resolve_method(top, ws, err)
    check_references(top, ws, err, check_refs)
    name, priority, parent, notes, group = identity(top, method_name, err)
    decl, given = given_params(top, method, err)
    params = resolve_params(decl, given, method, err, warn)
    cross_field_rules(params, given, method, err, warn, ws, check_refs, top, v)
    method_check(method, params, ws, err, top.get("base_model"))
    if check_refs and params.get("benchmarks"):
        from jobs.benchmarks import suite_warnings
        suite_warnings(params["benchmarks"], ws, warn)
    if check_refs:
        dataset_columns(top, decl, params, ws, err, method)

    if v.errors:
        return v
    for unused in unused_params(params, top, ws, check_refs):
        params.pop(unused, None)
    v.spec = {
        "name": name.strip(), "method": method.name, "base_model": top["base_model"], "dataset": top["dataset"],
        "priority": priority, "parent_job": parent, "notes": notes, "params": params,
        **({"group": group} if group is not None else {}),
        **({"owner": top["owner"].strip()} if isinstance(top.get("owner"), str) else {}),
    }
    return v


def parse_spec(raw: Any, err) -> dict | None:
    """Bytes or text to a JSON object (a key given twice is an error); None when there is no object to check."""
    dupes: list[str] = []
    if isinstance(raw, (bytes, str)):
        if len(raw) > MAX_SPEC_BYTES:
            err("spec", f"{len(raw)} bytes", "a spec may be at most 1 MiB")
            return None
        def pairs(items):  # a key given twice in the file must not silently win
            seen = {}
            for k, val in items:
                if k in seen:
                    dupes.append(k)
                seen[k] = val
            return seen
        try:
            raw = json.loads(raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw, object_pairs_hook=pairs)
        except RecursionError:
            err("spec", "(deeply nested)", "not valid JSON: nested too deeply")
            return None
        except (ValueError, UnicodeDecodeError) as e:
            shown = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            err("spec", shown[:60], f"not valid JSON: {e}" if shown.strip() else "the spec is empty")
            return None
    if not isinstance(raw, dict):
        err("spec", raw, "a spec must be a JSON object")
        return None
    for k in dict.fromkeys(dupes):
        err(k, None, "appears more than once in the file; keep one")
    return raw


def top_level(raw: dict, err) -> dict[str, Any]:
    """Resolve aliases and spellings of the top-level keys; reject unknown and managed ones."""
    top: dict[str, Any] = {}
    for key, value in raw.items():
        k = str(key)
        canon = k.lower() if k.lower() in TOP_KEYS else TOP_ALIASES.get(k.lower())
        if canon is None and _squash(k) in {_squash(t) for t in TOP_KEYS}:
            canon = next(t for t in TOP_KEYS if _squash(t) == _squash(k))
        if _squash(k) == "outputdir":
            err(k, value, MANAGED_KEYS["output_dir"])
            continue
        if canon is None:
            pnames = [p.name for p in COMMON_PARAMS]
            if _squash(k) in {_squash(p) for p in pnames}:
                err(k, value, "training parameters belong inside \"params\"")
            else:
                err(k, value, "unknown key; allowed: " + ", ".join(TOP_KEYS) + _suggest(k, list(TOP_KEYS)))
            continue
        if canon in top:
            err(k, value, f"given twice (as an alias of {canon!r})")
            continue
        top[canon] = value
    return top


def resolve_method(top: dict, ws: Workspace, err) -> tuple[Method | None, Any]:
    """The registered method the spec names (None when it names none that loads), and the name as given."""
    methods = list_methods(ws.methods)
    method_name = top.get("method")
    method: Method | None = None
    if not isinstance(method_name, str) or not method_name.strip():
        err("method", method_name, "required: one of " + ", ".join(methods))
    else:
        method_name = method_name.strip()
        method = methods.get(method_name) or methods.get(method_name.lower())
        if method is None:
            err("method", method_name, "not a registered method; registered: " + ", ".join(methods)
                + _suggest(method_name, list(methods)))
        elif not method.ok:
            err("method", method_name, f"the custom method failed to load: {method.error}")
            method = None
    return method, method_name


def check_references(top: dict, ws: Workspace, err, check_refs: bool) -> None:
    """base_model and dataset name registered entries, never paths."""
    for key, kind in (("base_model", "model"), ("dataset", "dataset")):
        val = top.get(key)
        if not isinstance(val, str) or not val.strip():
            err(key, val, f"required: the name of a registered {kind}")
            continue
        top[key] = val.strip()
        if not check_refs:
            continue
        known = registry.list_models(ws) if kind == "model" else registry.list_datasets(ws)
        if top[key] not in known:
            looks_like_path = "/" in val or "\\" in val or val.startswith((".", "~"))
            how = registry.HOW_TO_REGISTER_MODEL if kind == "model" else registry.HOW_TO_REGISTER_DATASET
            msg = (f"a spec names a registered {kind}, never a path; " if looks_like_path
                   else f"no {kind} is registered under this name; ")
            err(key, val, msg + "registered: " + (", ".join(known) or "none") + f". To add one, {how}")


def identity(top: dict, method_name: Any, err) -> tuple[Any, Any, Any, Any, Any]:
    """name (defaulted from method and dataset), priority, parent_job, notes and the sweep group record."""
    name = top.get("name")
    if name is None:
        name = f"{method_name or 'job'}-{top.get('dataset') or 'data'}"
    why = name_problem(name)
    if why is None and not name.strip():
        why = "must not be empty"
    if why:
        err("name", name, why)

    priority = top.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
        if isinstance(priority, float) and priority.is_integer() and -1000 <= priority <= 1000:
            priority = int(priority)
        else:
            err("priority", priority, "must be an integer from -1000 to 1000 (higher runs sooner)")
    parent = top.get("parent_job")
    if parent is not None and not is_job_id(parent):
        err("parent_job", parent, f"must be a job id ({JOB_ID_FORM}) or null")
    notes = top.get("notes", "")
    if not isinstance(notes, str):
        err("notes", notes, "must be a string")
    owner = top.get("owner")  # set at acceptance from the dropping user; naming another is checked there
    if owner is not None and (not isinstance(owner, str) or not owner.strip() or name_problem(owner)):
        err("owner", owner, "must be a user name (the job's owner is set at acceptance from who submitted it)")
    group = top.get("group")  # set by sweep expansion (jobs/sweep.py); kept so a run knows its sweep
    if group is not None and not (isinstance(group, dict) and isinstance(group.get("id"), str)):
        err("group", group, "must be the sweep record written by the spooler; submit a \"sweep\" instead")
    return name, priority, parent, notes, group


def given_params(top: dict, method: Method | None, err) -> tuple[list[Param], dict[str, Any]]:
    """The method's declared params, and the given ones under their declared names (any spelling accepted)."""
    raw_params = top.get("params", {})
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        err("params", raw_params, "must be a JSON object of parameter names to values")
        raw_params = {}
    decl = params_for(method)
    by_squash = {_squash(p.name): p for p in decl}
    if method is None:  # keep checking params against every known method's names
        for m in BUILTINS.values():
            for p in m.params:
                by_squash.setdefault(_squash(p.name), p)
    given: dict[str, Any] = {}
    for key, value in raw_params.items():
        k = str(key)
        if _squash(k) == "outputdir":
            err(f"params.{k}", value, MANAGED_KEYS["output_dir"])
            continue
        p = by_squash.get(_squash(k))
        if p is None:
            err(f"params.{k}", value, "unknown parameter" + (f" for method {method.name!r}" if method else "")
                + _suggest(k, [q.name for q in decl]))
            continue
        if p.name in given:
            err(f"params.{k}", value, f"given twice (as an alias of {p.name!r})")
            continue
        given[p.name] = value
    return decl, given


def resolve_params(decl: list[Param], given: dict, method: Method | None, err, warn) -> dict[str, Any]:
    """Each declared param: the given value coerced and range-checked, or its (method's) default."""
    params: dict[str, Any] = {}
    for p in decl:
        if p.name in given:
            val, why = p.coerce(given[p.name])
            if why:
                err(f"params.{p.name}", given[p.name], why)
                continue
            if p.outside_typical(val):
                warn(f"params.{p.name}", val, f"outside the typical range ({p.typical_text}); allowed, but check it")
            params[p.name] = val
        else:
            default = p.default
            if method:  # a method may change a common default (GRPO needs batches that hold whole groups)
                default = method.default_columns.get(p.name, default)
            params[p.name] = list(default) if isinstance(default, list) else default
    return params


def cross_field_rules(params: dict, given: dict, method: Method | None, err, warn, ws: Workspace,
                      check_refs: bool, top: dict, v: Validation) -> None:
    msl, mil = params.get("max_seq_length"), params.get("max_input_length")
    if isinstance(msl, int) and isinstance(mil, int) and mil > msl:
        err("params.max_input_length", mil, f"must be ≤ max_seq_length ({msl})")
    if params.get("max_steps") is not None and "epochs" in given and params.get("epochs") != 1:
        warn("params.epochs", params.get("epochs"), "ignored: max_steps is set and wins over epochs")
    if params.get("warmup_steps") is not None and "warmup_ratio" in given and params.get("warmup_ratio") != 0.03:
        warn("params.warmup_ratio", params.get("warmup_ratio"), "ignored: warmup_steps is set and wins")
    if check_refs and isinstance(msl, int):
        context_warning(v, registry.list_models(ws).get(top.get("base_model") or ""), top.get("base_model"), msl)
    if params.get("prompt_input_column") and params.get("prompt_input_column") == params.get("prompt_output_column"):
        warn("params.prompt_output_column", params["prompt_output_column"],
             "is the same column as prompt_input_column: the model would learn to repeat its prompt")
    for msg in trackers.problems(params.get("report_to")):
        err("params.report_to", params.get("report_to"), msg)
    if check_refs:
        for f, val, msg in capacity_problems(params, ws):
            err(f, val, msg)
    bm = top.get("base_model")
    model_for_estimate = registry.list_models(ws).get(bm) if check_refs and isinstance(bm, str) else None
    errs, warns = finetune.problems(params, method.name if method else None, ws, model_for_estimate, check_refs)
    for f, val, msg in errs:
        err(f, val, msg)
    for f, val, msg in warns:
        warn(f, val, msg)
    ds_path = registry.list_datasets(ws).get(top.get("dataset")) if check_refs and isinstance(top.get("dataset"),
                                                                                              str) else None
    fmt = params.get("dataset_format")
    if ds_path is not None:
        fmt = format_check.effective_format(fmt, ds_path)
        model_path = registry.list_models(ws).get(top.get("base_model"))
        if method is not None:
            for f, val, msg in format_check.check(method, params, fmt, ds_path, top.get("base_model"), model_path):
                err(f, val, msg)
    for col in ("prompt_input_column", "prompt_output_column"):
        if not params.get(col) and method is not None and format_check.uses_columns(fmt) and col in method.columns:
            err(f"params.{col}", params.get(col), "required: the name of a dataset column")


def unused_params(params: dict, top: dict, ws: Workspace, check_refs: bool) -> tuple[str, ...]:
    """Params the dataset's format does not read: a conversation carries its own roles, so the column params
    (prompt_input_column, prompt_output_column, prompt_context_column) are left out of the stored spec, and the
    Overview, Compare and the HTML export do not show settings the run never used. Unknown format: none."""
    fmt = params.get("dataset_format")
    if (not fmt or fmt == "auto") and check_refs and isinstance(top.get("dataset"), str):
        ds_path = registry.list_datasets(ws).get(top["dataset"])
        fmt = format_check.effective_format(fmt, ds_path) if ds_path is not None else None
    if not fmt or fmt == "auto" or format_check.uses_columns(fmt):
        return ()
    return format_check.COLUMN_PARAMS


def method_check(method: Method | None, params: dict, ws: Workspace, err, base_model: str | None = None) -> None:
    """The method's own check(), e.g. GRPO's reward functions; a custom one that raises is reported, not raised."""
    if method is not None and method.check is not None:
        try:
            from jobs import reward_models
            ctx = MethodContext(rewards=list_rewards(ws.methods),
                                rm_problem=lambda name: reward_models.problem(name, ws, base_model))
            for f, val, msg in method.check(params, ctx) or []:
                err(f, val, msg)
        except Exception as e:  # noqa: BLE001 - a custom check must not break validation
            err("method", method.name, f"the method's check() raised {type(e).__name__}: {e}")


def dataset_columns(top: dict, decl: list[Param], params: dict, ws: Workspace, err,
                    method: Method | None = None) -> None:
    """Column params must name columns of the dataset's first row."""
    if not isinstance(top.get("dataset"), str):
        return
    ds = registry.list_datasets(ws).get(top["dataset"])
    if ds is None:
        return
    cols = registry.first_row_keys(ds)
    fmt = format_check.effective_format(params.get("dataset_format"), ds)
    if cols is None:
        with open(ds, "rb") as fh:
            empty = not fh.read(4096).strip()
        err("dataset", top["dataset"], "the dataset is empty; upload rows first" if empty else
            f"the dataset's first row cannot be read ({registry.first_row_problem(ds)}), so its columns are unknown")
        return
    for p in decl:
        val = params.get(p.name)
        if p.name in format_check.COLUMN_PARAMS and (not format_check.uses_columns(fmt)
                                                     or (method is not None and p.name not in method.columns)):
            continue  # conversations carry their own roles; a method reads only the columns it declares
        if p.column and isinstance(val, str) and val and val not in cols:
            err(f"params.{p.name}", val, "no such column in dataset "
                f"{top['dataset']!r}; its columns are: " + ", ".join(cols) + _suggest(val, cols))


def context_warning(v: Validation, model_path, model_name, msl: int) -> None:
    """max_seq_length beyond the model's context: one warning naming the model's limit (instead of the generic
    typical-range one), since positions past it were never trained and may not exist."""
    if model_path is None:
        return
    ctx = registry.model_info(model_path).get("context_length")
    if not isinstance(ctx, int) or isinstance(ctx, bool) or msl <= ctx:
        return
    v.warnings[:] = [w for w in v.warnings if w.field != "params.max_seq_length"]
    v.warnings.append(Problem("params.max_seq_length", msl,
                              f"longer than the context of model {model_name!r}, {ctx} tokens; sequences past "
                              f"{ctx} tokens are cut or run past what the model was trained on (use ≤ {ctx})"))


def load_and_validate(path, ws: Workspace) -> Validation:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        v = Validation(None)
        v.errors.append(Problem("spec", str(path), f"cannot read the file: {e.strerror}"))
        return v
    return validate(data, ws)


def editable_spec(spec: dict) -> dict:
    """A stored spec as a new submission: what Copy training starts from."""
    return {k: spec[k] for k in ("name", "method", "base_model", "dataset", "priority", "notes", "params") if k in spec}
