"""What the compare page shows, built without Streamlit so it can be tested and benchmarked directly."""
from __future__ import annotations

import difflib
import html
import json

import pandas as pd

from jobs import contract
from jobs.contract import Unreadable
from jobs.metrics import HIGHER, LOWER, SUMMARY, M, S, better
from jobs.params import COMMON_PARAMS, P
from jobs.rundir import RunDir
from jobs.state import read_spec, read_state

from .charts import PALETTE
from .common import read_samples
from .safe import safe_html

MISSING = "—"


def load_jobs(ws, ids: list[str]) -> tuple[list[dict], list[str]]:
    jobs, missing = [], []
    for job_id in dict.fromkeys(i for i in ids if i):
        try:  # ids come from the URL: only real job folders inside runs/ are read
            run_dir = ws.existing_run(job_id)
        except (KeyError, ValueError):
            missing.append(job_id)
            continue
        try:
            spec = read_spec(run_dir)
            if spec is not None:
                state, summary = read_state(run_dir) or {}, contract.read(RunDir(run_dir).summary) or {}
        except Unreadable as e:  # listed as missing, with the reason
            missing.append(f"{job_id} ({e})")
            continue
        if spec is None:
            missing.append(job_id)
            continue
        jobs.append({"id": job_id, "dir": run_dir, "spec": spec, "state": state, "summary": summary})
    for i, j in enumerate(jobs):
        j["color"] = PALETTE[i % len(PALETTE)]
        j["label"] = f"{j['spec'].get('name', j['id'])} ({j['id'][-6:]})"
    return jobs, missing


# How a run trains (#19): the params, by their declared names, and their declared defaults (a spec written before
# they existed, or with them left out, trains with these).
KIND_PARAMS = (P.finetuning_type, P.sharding)
_KIND_DEFAULTS = {p.name: p.default for p in COMMON_PARAMS if p.name in KIND_PARAMS}


def training_kind(spec: dict) -> dict[str, str]:
    """{"finetuning_type": "lora" | "full", "sharding": "none" | "fsdp"} for a run's spec."""
    params = spec.get("params") if isinstance(spec.get("params"), dict) else {}
    return {k: str(params.get(k) or _KIND_DEFAULTS[k]) for k in KIND_PARAMS}


def kind_text(spec: dict) -> str:
    """One cell: "lora", "full", "full · fsdp" (sharding shown only when it is not "none")."""
    kind = training_kind(spec)
    sharding = kind[P.sharding]
    return kind[P.finetuning_type] + (f" · {sharding}" if sharding != _KIND_DEFAULTS[P.sharding] else "")


def params_table(jobs: list[dict]) -> pd.DataFrame:
    """One row per parameter, one column per job; method-specific params line up, missing ones show —."""
    rows: dict[str, dict] = {}
    for j in jobs:
        sp, stt = j["spec"], j["state"]
        top = {"owner": sp.get("owner") or MISSING,
               "method": sp.get("method"), **training_kind(sp),  # how it trains, right after what it trains
               "base_model": sp.get("base_model"), "dataset": sp.get("dataset"),
               # facts of the run, not params: an unknown one shows —, not the spec's "null"
               "dataset_sha256": (stt.get("dataset_sha256") or j["summary"].get("dataset_sha256") or "")[:12] or MISSING,
               "parent_job": sp.get("parent_job") or MISSING}
        for k, v in {**top, **sp.get("params", {})}.items():
            rows.setdefault(k, {})[j["label"]] = v
    data = {k: {j["label"]: _cell(v.get(j["label"], MISSING)) for j in jobs} for k, v in rows.items()}
    return pd.DataFrame.from_dict(data, orient="index", columns=[j["label"] for j in jobs])


def _cell(v) -> str:
    if v is MISSING:
        return MISSING
    return "null" if v is None else (json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v)


def differing(df: pd.DataFrame) -> pd.Series:
    return df.nunique(axis=1) > 1


def final_metrics(jobs: list[dict], frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, dict]:
    """Rows: metrics; columns: jobs. Also returns, per row, the labels of the best jobs: one per group of jobs
    whose metric means the same thing (see `meaning`), and only where such a group has two jobs or more."""
    rows = {}
    for j in jobs:
        s, df = j["summary"], frames.get(j["label"], pd.DataFrame())
        col = lambda c, df=df: df[c].dropna() if c in df else pd.Series(dtype=float)  # noqa: E731
        row = {}
        for f in SUMMARY.values():  # every declared figure: summary.json first, the run's own curve second
            curve = col(f.of) if f.of else pd.Series(dtype=float)
            if not len(curve):
                fallback = None
            elif f.pick == "best":
                fallback = curve.min() if f.better == LOWER else curve.max()
            else:
                fallback = curve.iloc[-1]
            row[f.name] = _num(s.get(f.name), fallback.item() if hasattr(fallback, "item") else fallback)
        rows[j["label"]] = row
    table = pd.DataFrame(rows, index=list(next(iter(rows.values()))) if rows else None)
    best: dict[str, set] = {}
    for metric in table.index:
        direction = better(metric)  # declared once in jobs.metrics
        if direction not in (LOWER, HIGHER):
            continue
        groups: dict = {}
        for j in jobs:
            v = table.loc[metric, j["label"]]
            if v is not None and not pd.isna(v):
                groups.setdefault(meaning(metric, j), []).append((float(v), j["label"]))
        for members in groups.values():
            won = winners(members, direction == LOWER)
            if won:
                best.setdefault(metric, set()).update(won)
    return table, best


def winners(members: list[tuple[float, str]], lower: bool) -> set[str]:
    """The labels holding the best value among (value, label) pairs: every one that holds it when several share it,
    none when all are equal (a tie is nobody's win) or when there is nothing to compare."""
    values = {v for v, _ in members}
    if len(members) < 2 or len(values) < 2:
        return set()
    top = min(values) if lower else max(values)
    return {label for v, label in members if v == top}


def meaning(metric: str, job: dict) -> tuple:
    """Jobs whose `metric` can be ranked against each other. A loss is the method's own objective (an SFT
    cross-entropy, a GRPO policy loss and a DPO preference loss are different quantities); a reward is the
    weighted sum of the chosen reward functions. Speed and memory mean the same for every job."""
    spec = job["spec"]
    params = spec.get("params") or {}
    of = (SUMMARY[metric].of if metric in SUMMARY else metric) or ""  # the curve a figure summarises
    if of.endswith(M.loss):
        return (spec.get("method"),)
    if of.startswith(M.reward):
        return (spec.get("method"), json.dumps(params.get("reward_functions")), json.dumps(params.get("reward_weights")))
    return ()


def _num(*candidates):
    """The first candidate that is a real number (summary.json first, the curve second); None otherwise."""
    for v in candidates:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
            return v
    return None


def fmt_metric(metric: str, v) -> str:
    """A final metric as a person reads it: — when missing, MiB/GiB for memory, whole steps, 4-5 digits else."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return str(v)
    if metric.endswith("_bytes"):
        return f"{v / 2**30:.2f} GiB" if v >= 2**30 else f"{v / 2**20:.1f} MiB"
    if metric == S.total_steps:
        return f"{int(v)}"
    if metric == S.runtime_seconds:
        return f"{v:.1f} s"
    if metric == S.tokens_per_second:
        return f"{v:,.0f}"
    return f"{v:.5g}"


def shared_samples(jobs: list[dict]) -> tuple[list[dict], int]:
    """Prompts answered by every job: [{prompt, reference, base, answers{label: text}}], and how many differ."""
    per_job = [{s["prompt"]: s for s in read_samples(j["dir"]) if isinstance(s.get("prompt"), str)} for j in jobs]
    if not per_job:
        return [], 0
    common = [p for p in per_job[0] if all(p in other for other in per_job[1:])]
    everything = set().union(*per_job)
    out = []
    for p in common:
        first = per_job[0][p]
        out.append({"prompt": p, "reference": first.get("reference", ""), "base": first.get("base", ""),
                    "answers": {j["label"]: per[p].get("tuned", "") for j, per in zip(jobs, per_job, strict=False)}})
    return out, len(everything) - len(common)


def word_diff_html(a: str, b: str) -> tuple[str, str]:
    """Two answers with the words where they diverge highlighted."""
    wa, wb = a.split(), b.split()
    sm = difflib.SequenceMatcher(a=wa, b=wb, autojunk=False)
    out_a, out_b = [], []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        ta, tb = safe_html(" ".join(wa[i1:i2])), safe_html(" ".join(wb[j1:j2]))  # shown through st.markdown
        if op == "equal":
            out_a.append(ta)
            out_b.append(tb)
        else:
            if ta:
                out_a.append(f"<mark style='background:#ffd6d6'>{ta}</mark>")
            if tb:
                out_b.append(f"<mark style='background:#d6ffd6'>{tb}</mark>")
    return " ".join(out_a), " ".join(out_b)


def export_csv(params: pd.DataFrame, finals: pd.DataFrame) -> str:
    p = params.copy()
    p.insert(0, "section", "parameter")
    f = finals.copy().astype(object)
    f.insert(0, "section", "final metric")
    return pd.concat([p, f]).rename_axis("name").to_csv()


def export_html(jobs, params: pd.DataFrame, finals: pd.DataFrame, charts: list, samples: list[dict]) -> str:
    """A self-contained report (no scripts, no network): tables, charts as inline SVG, the shared outputs."""
    diff = differing(params)
    style = ("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px}.diff{background:#fff3b0}</style>")
    head = "".join(f"<th style='color:{j['color']}'>{html.escape(j['label'])}</th>" for j in jobs)
    prow = "".join(f"<tr class='{'diff' if diff[k] else ''}'><td>{html.escape(str(k))}</td>"
                   + "".join(f"<td>{html.escape(str(v))}</td>" for v in params.loc[k]) + "</tr>" for k in params.index)
    fhead = "".join(f"<th>{html.escape(str(c))}</th>" for c in finals.columns)  # jobs, then any base columns
    frow = "".join(f"<tr><td>{html.escape(str(k))}</td>" + "".join(
        f"<td>{'' if pd.isna(v) else html.escape(f'{v:.6g}' if isinstance(v, float) else str(v))}</td>"
        for v in finals.loc[k]) + "</tr>" for k in finals.index)
    import vl_convert

    svgs = "".join(f"<div>{vl_convert.vegalite_to_svg(c.to_dict())}</div>" for c in charts if c is not None)
    outs = "".join(
        f"<h4>{html.escape(s['prompt'])}</h4><p><b>base:</b> {html.escape(s['base'])}</p>"
        + "".join(f"<p><b>{html.escape(k)}:</b> {html.escape(v)}</p>" for k, v in s["answers"].items())
        + f"<p><b>reference:</b> {html.escape(s['reference'])}</p>" for s in samples)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Tunedeck comparison</title>{style}"
            f"</head><body><h1>Tunedeck comparison</h1><h2>Parameters</h2><table><tr><th></th>{head}</tr>{prow}"
            f"</table><h2>Final metrics</h2><table><tr><th></th>{fhead}</tr>{frow}</table>"
            f"<h2>Metrics</h2>{svgs}<h2>Outputs</h2>{outs}</body></html>")
