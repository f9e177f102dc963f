"""Sweeps: one spec that expands into a group of runs, a grid or a seeded random sample.

    {"name": "lr-rank", ..., "sweep": {"learning_rate": [2e-4, 1e-4], "lora_rank": [8, 16]}}

becomes four ordinary specs named `lr-rank-lr2e-4-r8` … that share a `group` (id, name, size, swept params and the
sweep itself, so Copy training on a group copies the sweep). Every value is validated as if it were a single spec; a
bad value rejects the whole sweep, naming it. The spooler's acceptance, `spooler submit` and the New training form all
expand through `expand()`, so they agree on names, ids and limits.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobs.spec import MAX_SPEC_BYTES, Problem, Validation, _squash, validate
from jobs.state import is_job_id, new_job_id
from jobs.workspace import Workspace

SWEEP_KEYS = ("sweep", "sweep_mode", "samples", "max_runs")
MODES = ("grid", "random")
DEFAULT_MAX_RUNS = 64
HARD_MAX_RUNS = 1000  # max_runs may raise the limit up to here, never past it
MAX_LISTED_VALUES = 1000  # values listed over all swept params: each one is validated, so their number is bounded
CHECK_BUDGET = 30.0  # seconds the spooler spends checking one sweep before it rejects it (it checks in a worker)
# Short names for run-name suffixes (lr2e-4-r8); any other param uses its initials.
SHORT = {"learning_rate": "lr", "lora_rank": "r", "lora_alpha": "alpha", "lora_dropout": "drop",
         "batch_size": "bs", "grad_accum_steps": "ga", "epochs": "ep", "max_steps": "steps",
         "warmup_ratio": "wr", "warmup_steps": "wsteps", "max_seq_length": "seq", "max_grad_norm": "gn",
         "num_generations": "gen", "temperature": "temp", "beta": "beta", "seed": "seed",
         "load_in_4bit": "4bit", "max_samples": "n"}


@dataclass
class Expansion:
    """The runs a submission turns into: one spec for a plain spec, N for a sweep (sharing `group`)."""
    specs: list[dict] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    group: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.specs)

    def as_validation(self) -> Validation:
        v = Validation(self.specs[0] if self.ok else None, list(self.errors), list(self.warnings))
        return v


def is_sweep(raw: Any) -> bool:
    return isinstance(raw, dict) and any(_squash(str(k)) in {_squash(s) for s in SWEEP_KEYS} for k in raw)


def is_sweep_data(data: bytes | str) -> bool:
    """Whether a spec file's content is a sweep (a file that does not parse is not)."""
    return len(data) <= MAX_SPEC_BYTES and is_sweep(_loads(data))


def fmt_value(v: Any) -> str:
    """2e-4 -> '2e-4', 16 -> '16', True -> 'true': short, and safe in a job name."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 0.01 or abs(v) >= 1e5):
            mant, exp = f"{v:.6e}".split("e")
            mant = mant.rstrip("0").rstrip(".")
            return f"{mant}e{int(exp)}"
        return f"{v:g}"
    return str(v)


def short_name(param: str) -> str:
    return SHORT.get(param) or "".join(w[0] for w in param.split("_") if w)


def run_suffix(values: dict) -> str:
    return "-".join(f"{short_name(k)}{fmt_value(v)}" for k, v in values.items())


def _round_sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}") if x else 0.0


def run_ids(group_id: str, n: int) -> list[str]:
    """Run ids for a group, sortable in sweep order and derived from the group id alone (so a restart repeats them)."""
    try:
        ts = datetime.strptime(group_id[:22], "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC).timestamp()
    except ValueError:
        ts = 0.0
    return [new_job_id(ts + (i + 1) * 1e-6, salt=f"{group_id}/{i}".encode()) for i in range(n)]


def _split(raw: dict) -> tuple[dict, dict]:
    base, sw = {}, {}
    keys = {_squash(s): s for s in SWEEP_KEYS}
    for k, v in raw.items():
        canon = keys.get(_squash(str(k)))
        (sw if canon else base)[canon or k] = v
    return base, sw


def expand(raw: Any, ws: Workspace, *, group_id: str | None = None, check_refs: bool = True,
           budget: float | None = None) -> Expansion:
    """Validate a spec (bytes, str or dict) and expand a sweep into its runs. Plain specs give one run.

    The runs are counted, and the listed values too, before any value is validated, so a sweep over the limits costs
    no more than reading it. With `budget` (seconds), a sweep whose checks take longer is rejected with that reason.
    """
    out = Expansion()
    deadline = None if budget is None else time.monotonic() + budget
    if isinstance(raw, (bytes, str)):
        if len(raw) > MAX_SPEC_BYTES or not is_sweep(_loads(raw)):
            return _single(validate(raw, ws, check_refs=check_refs))
        raw = _loads(raw)
    if not is_sweep(raw):
        return _single(validate(raw, ws, check_refs=check_refs))
    err = lambda f, val, msg: out.errors.append(Problem(f, val, msg))  # noqa: E731
    base_raw, sw = _split(raw)
    base = validate(base_raw, ws, check_refs=check_refs)
    out.warnings += base.warnings
    if not base.ok:
        out.errors += base.errors
        return out
    spec = base.spec
    sweep = sw.get("sweep")
    mode = sw.get("sweep_mode", "grid")
    if mode not in MODES:
        err("sweep_mode", mode, "must be one of " + ", ".join(MODES))
    max_runs = sw.get("max_runs", DEFAULT_MAX_RUNS)
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or not 1 <= max_runs <= HARD_MAX_RUNS:
        err("max_runs", max_runs, f"must be an integer from 1 to {HARD_MAX_RUNS}")
        max_runs = DEFAULT_MAX_RUNS
    if not isinstance(sweep, dict) or not sweep:
        err("sweep", sweep, 'must be an object of parameter names to lists of values, e.g. {"learning_rate": [2e-4, 1e-4]}')
        return out
    why = _too_big(sweep, mode, max_runs)
    if why:
        err("sweep", why[0], why[1])
        return out
    # Resolve each swept key to its declared param through the validator (aliases, case, unknown names).
    values: dict[str, list] = {}
    ranges: dict[str, dict] = {}
    order: list[str] = []
    for key, vals in sweep.items():
        pname = _param_name(key, spec)
        if pname is None:
            err(f"sweep.{key}", vals, "not a parameter of method " + repr(spec["method"]))
            continue
        if pname in order:
            err(f"sweep.{key}", vals, f"given twice (as {pname!r})")
            continue
        order.append(pname)
        if isinstance(vals, dict):
            why = _check_range(vals, mode)
            if why:
                err(f"sweep.{key}", vals, why)
                continue
            ranges[pname] = vals
            continue
        if not isinstance(vals, list) or not vals:
            err(f"sweep.{key}", vals, "must be a non-empty list of values" +
                (' or, with "sweep_mode": "random", a range {"min": …, "max": …, "log": true}' if mode == "random" else ""))
            continue
        checked = []
        for i, val in enumerate(vals):
            if _over(deadline, budget, err):
                return out
            problems, coerced = _check_value(base_raw, pname, val, ws, check_refs)
            for p in problems:
                err(f"sweep.{pname}[{i}]", val, p.message)
            if not problems:
                checked.append(coerced)
        if len(set(map(json.dumps, checked))) != len(checked):
            err(f"sweep.{pname}", vals, "lists a value twice")
        values[pname] = checked
    if out.errors:
        return out
    if mode == "grid":
        size = math.prod(len(v) for v in values.values())
        if size > max_runs:
            err("sweep", f"{size} runs", f"the grid has {size} runs, more than the limit of {max_runs}; "
                f'set "max_runs" (up to {HARD_MAX_RUNS}) to allow it')
            return out
        combos = [dict(zip(values, c, strict=False)) for c in itertools.product(*values.values())]
    else:
        samples = sw.get("samples")
        if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= max_runs:
            err("samples", samples, f"random mode needs \"samples\": an integer from 1 to {max_runs} (max_runs)")
            return out
        rng = random.Random(spec["params"].get("seed", 42))
        combos = []
        for _ in range(samples):
            c = {}
            for pname in order:
                c[pname] = rng.choice(values[pname]) if pname in values else _draw(rng, ranges[pname], pname, spec)
            combos.append(c)
    gid = group_id or new_job_id()
    params_swept = list(combos[0]) if combos else []
    group = {"id": gid, "name": spec["name"], "size": len(combos), "params": params_swept,
             "sweep": {"sweep": sweep, **{k: sw[k] for k in ("sweep_mode", "samples", "max_runs") if k in sw}}}
    seen_names: dict[str, int] = {}
    for i, (c, job_id) in enumerate(zip(combos, run_ids(gid, len(combos)), strict=False)):
        if _over(deadline, budget, err):
            out.specs = []
            return out
        name = f"{spec['name']}-{run_suffix(c)}"
        if name in seen_names:  # a random draw may repeat a combination: keep names unique
            name = f"{name}-{i + 1}"
        seen_names[name] = i
        v = validate({**base_raw, "name": name, "params": {**(base_raw.get("params") or {}), **c}}, ws,
                     check_refs=check_refs)
        if not v.ok:  # a combination breaks a cross-field rule (e.g. max_input_length > max_seq_length)
            for p in v.errors:
                err(f"sweep ({run_suffix(c)})", p.value, f"{p.field}: {p.message}")
            continue
        out.specs.append({**v.spec, "group": {**group, "index": i, "job_id": job_id, "values": c}})
    if out.errors:
        out.specs = []
        return out
    out.group = group
    return out


def _too_big(sweep: dict, mode: Any, max_runs: int) -> tuple[str, str] | None:
    """(value, reason) when the sweep has more runs or lists more values than allowed, counted without validating."""
    lists = [v for v in sweep.values() if isinstance(v, list)]
    listed = sum(len(v) for v in lists)
    if mode == "grid" and lists:
        size = math.prod(len(v) for v in lists)
        if size > max_runs:
            return (f"{size} runs", f"the grid has {size} runs, more than the limit of {max_runs}; "
                    f'set "max_runs" (up to {HARD_MAX_RUNS}) to allow it, or list fewer values')
    if listed > MAX_LISTED_VALUES:
        return (f"{listed} values", f"the sweep lists {listed} values; at most {MAX_LISTED_VALUES} are allowed")
    return None


def _over(deadline: float | None, budget: float | None, err) -> bool:
    if deadline is None or time.monotonic() < deadline:
        return False
    err("sweep", "too slow", f"checking this sweep took longer than {budget:g} s, the limit; "
        "split it into smaller sweeps")
    return True


def load_and_expand(path, ws: Workspace) -> Expansion:
    """`python -m jobs validate FILE`: the same expansion as the spooler and `spooler submit`, sweeps included."""
    from jobs.spec import load_and_validate
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError:
        return _single(load_and_validate(path, ws))  # its "cannot read the file" problem
    return expand(data, ws)


def _loads(raw):
    try:
        return json.loads(raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _single(v: Validation) -> Expansion:
    return Expansion(specs=[v.spec] if v.ok else [], errors=list(v.errors), warnings=list(v.warnings))


def _param_name(key: str, spec: dict) -> str | None:
    sq = _squash(str(key))
    for name in spec["params"]:
        if _squash(name) == sq:
            return name
    return None


def _check_value(base_raw: dict, pname: str, val, ws, check_refs) -> tuple[list[Problem], Any]:
    """The value's own problems (cross-field rules are checked per combination) and the value as normalized."""
    v = validate({**base_raw, "params": {**_without(base_raw.get("params") or {}, pname), pname: val}}, ws,
                 check_refs=check_refs)
    problems = [p for p in v.errors if p.field.split(".")[-1] == pname]
    if problems or v.ok:
        return problems, (v.spec["params"][pname] if v.ok else val)
    return problems, _coerced(base_raw, pname, val, ws)


def _coerced(base_raw: dict, pname: str, val, ws):
    v = validate({**base_raw, "params": {**_without(base_raw.get("params") or {}, pname), pname: val}}, ws,
                 check_refs=False)
    return v.spec["params"][pname] if v.ok else val


def _without(params: dict, pname: str) -> dict:
    return {k: v for k, v in params.items() if _squash(str(k)) != _squash(pname)}


def _check_range(r: dict, mode: str) -> str | None:
    if mode != "random":
        return 'a range {"min", "max"} needs "sweep_mode": "random"; a grid needs a list of values'
    unknown = set(r) - {"min", "max", "log"}
    if unknown:
        return "a range allows only min, max and log; unknown: " + ", ".join(sorted(map(str, unknown)))
    lo, hi = r.get("min"), r.get("max")
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in (lo, hi)):
        return "a range needs numbers min and max"
    for key, x in (("min", lo), ("max", hi)):
        try:
            finite = math.isfinite(float(x))
        except OverflowError:
            finite = False
        if not finite:
            return f"{key} must be a finite number (got {x!r}); NaN and Infinity are not allowed"
    if lo >= hi:
        return "min must be smaller than max"
    if r.get("log") and lo <= 0:
        return "a log range needs min > 0"
    return None


def _draw(rng: random.Random, r: dict, pname: str, spec: dict):
    lo, hi = float(r["min"]), float(r["max"])
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if r.get("log") else rng.uniform(lo, hi)
    if isinstance(spec["params"].get(pname), int) and not isinstance(spec["params"].get(pname), bool):
        return int(round(x))
    return _round_sig(x)


def group_of(spec: dict | None) -> dict | None:
    g = (spec or {}).get("group")
    return g if isinstance(g, dict) and isinstance(g.get("id"), str) else None


def sweep_spec(spec: dict) -> dict:
    """A group run's spec as the sweep it came from: what Copy training on a group starts from."""
    from jobs.spec import editable_spec
    g = group_of(spec) or {}
    base = editable_spec(spec)
    base["name"] = g.get("name", base.get("name"))
    base["params"] = {k: v for k, v in base.get("params", {}).items() if k not in (g.get("values") or {})}
    return {**base, **(g.get("sweep") or {})}


def group_id_for_file(stem: str, salt: bytes, mtime: float) -> str:
    """The group id of a sweep file: its own name when `submit` wrote it, else derived like a job id."""
    return stem if is_job_id(stem) else new_job_id(mtime, salt=hashlib.sha256(salt).digest())
