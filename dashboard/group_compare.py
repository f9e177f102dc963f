"""Compare a sweep (/compare?group=<id>): swept params against final metrics, a chart per param, the best run,
and the limits that keep the page usable with 64 runs (top 5 curves, best and worst outputs only)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import compare_data as cd
from dashboard.i18n import t
from jobs import contract
from jobs.metrics import HIGHER, S, better
from jobs.queue.sweep import group_of
from jobs.rundir import RunDir
from jobs.state import list_run_dirs

SHOWN_OUTPUTS = 3   # best and worst runs whose outputs are shown when a group is large


def group_ids(ws, gid: str) -> tuple[list[str], dict | None]:
    """The group's job ids in sweep order, and the group record."""
    found = []
    for d in list_run_dirs(ws):
        g = group_of(contract.read_or_none(RunDir(d).spec))  # an unreadable run is in no group
        if g and g["id"] == gid:
            found.append((g.get("index", 0), d.name, g))
    found.sort()
    return [j for _, j, _ in found], (found[0][2] if found else None)


def sweep_table(jobs: list[dict], frames: dict, swept: list[str]) -> pd.DataFrame:
    """One row per run: its swept values, status and final metrics (numbers), indexed by label."""
    finals, _ = cd.final_metrics(jobs, frames)
    rows = []
    for j in jobs:
        row = {"run": j["spec"].get("name", j["id"]), "id": j["id"], "status": j["state"].get("status", "unknown")}
        row.update({p: j["spec"].get("params", {}).get(p) for p in swept})
        for m in finals.index:
            row[m] = pd.to_numeric(finals.at[m, j["label"]], errors="coerce")
        row.update(bench_columns(j))  # each benchmark's tuned score against the swept params
        rows.append(row)
    table = pd.DataFrame(rows)
    empty = [m for m in finals.index if m in table and table[m].isna().all()]
    return table.drop(columns=empty)  # metrics no run has (reward for SFT) would be a column of blanks


def bench_columns(job: dict) -> dict:
    """'bench · <suite> · <metric>' -> the run's tuned score (dashboard.compare_eval's row names)."""
    from dashboard.compare_eval import BENCH_PREFIX, entries
    from jobs.evaluation import read_evaluation
    return {n: e.get("tuned") for n, e in entries(read_evaluation(job["dir"])).items() if n.startswith(BENCH_PREFIX)}


def metric_choices(table: pd.DataFrame) -> list[str]:
    order = [S.final_loss, S.best_eval_loss, S.final_reward, S.best_loss, S.tokens_per_second, S.runtime_seconds]
    bench = [c for c in table.columns if str(c).startswith("bench · ")]
    return [m for m in order + bench if m in table and table[m].notna().any()]


def ranked(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Best first; runs without the metric last (a benchmark score: higher is better)."""
    higher = better(metric) == HIGHER or (str(metric).startswith("bench · ") and "perplexity" not in str(metric))
    return table.sort_values(metric, ascending=not higher, na_position="last")


def param_chart(table: pd.DataFrame, param: str, metric: str, others: list[str]) -> alt.Chart:
    """The metric against one swept param: a point per run, a line per value of the other swept param."""
    data = table[[param, metric, "run", *others]].dropna(subset=[metric]).copy()
    numeric = pd.api.types.is_numeric_dtype(data[param]) and not pd.api.types.is_bool_dtype(data[param])
    vals = data[param][data[param] > 0] if numeric else pd.Series(dtype=float)
    log = numeric and len(vals) == len(data) and len(vals) and vals.max() / vals.min() >= 10
    x = alt.X(f"{param}:{'Q' if numeric else 'N'}", title=param,
              scale=alt.Scale(type="log") if log else alt.Undefined)
    enc = {"x": x, "y": alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)),
           "tooltip": ["run", param, *others, alt.Tooltip(f"{metric}:Q", format=".5g")]}
    if others:
        data["series"] = data[others].astype(str).agg(", ".join, axis=1)
        enc["color"] = alt.Color("series:N", title=", ".join(others))
    base = alt.Chart(data).encode(**enc)
    return (base.mark_line() + base.mark_point(filled=True, size=60)).properties(height=260)


def render_group(ws, group: dict, jobs: list[dict], frames: dict) -> str | None:
    """The group sections on top of the compare page; returns the chosen metric for the sections below."""
    st.subheader(t("compare.group", name=group.get("name"), n=len(jobs)))
    swept = list(group.get("params") or [])
    table = sweep_table(jobs, frames, swept)
    choices = metric_choices(table)
    st.header(t("compare.sweep"))
    if not choices:
        st.info(t("eval.no_metrics"))
        st.dataframe(table.drop(columns=["id"]), hide_index=True, width="stretch")
        return None
    metric = st.selectbox(t("compare.sort_by"), choices, key="g_metric")
    table = ranked(table, metric)
    best = table.dropna(subset=[metric]).head(1)
    if best.empty:
        st.caption(t("compare.no_best"))
    else:
        b = best.iloc[0]
        st.success(t("compare.best_run", name=b["run"], url=f"/training?id={b['id']}", metric=metric,
                     value=f"{b[metric]:.5g}"))
    shown = table.assign(details=[f"/training?id={i}" for i in table["id"]],
                         status=[t(f"status.{x}") for x in table["status"]]).drop(columns=["id"])
    st.dataframe(shown, hide_index=True, width="stretch", key="g_table",
                 column_config={"details": st.column_config.LinkColumn(t("col.details"), display_text="🔎"),
                                "run": t("col.name"), "status": t("col.status")})
    grid = st.columns(min(2, max(1, len(swept))))
    for i, p in enumerate(swept):
        others = [o for o in swept if o != p][:1]
        grid[i % len(grid)].altair_chart(param_chart(table, p, metric, others), width="stretch")
    return metric


def top_labels(jobs: list[dict], frames: dict, metric: str | None, k: int) -> tuple[list[str], list[str]]:
    """Labels of the k best and the k worst runs by the metric (runs without it count as worst)."""
    if not metric:
        labels = [j["label"] for j in jobs]
        return labels[:k], labels[-k:]
    finals, _ = cd.final_metrics(jobs, frames)
    vals = pd.to_numeric(finals.loc[metric], errors="coerce") if metric in finals.index else pd.Series(dtype=float)
    order = vals.sort_values(ascending=better(metric) != HIGHER, na_position="last").index.tolist()
    return order[:k], order[-k:]
