"""Held-out evaluation on the details page: base vs tuned metrics table and a per-row browser; the run's phase."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import prompt_context
from dashboard.i18n import t
from jobs.evaluation import delta, improved, read_evaluation, read_rows
from jobs.methods import EVAL_PREFERENCE, EVAL_UNPAIRED, REFERENCE_BASE, SCORER, method_of

GREEN, RED = "color: #137333; font-weight: bold", "color: #c5221f; font-weight: bold"


def phase_text(progress: dict) -> str:
    """'Tuned evaluation 12/40' for progress.json's phase; '' outside the named phases."""
    phase = progress.get("phase") if isinstance(progress, dict) else None
    if not isinstance(phase, str) or not phase:
        return ""
    label = t(f"phase.{phase}") if t(f"phase.{phase}") != f"phase.{phase}" else phase
    done, total = progress.get("done"), progress.get("total")
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        return f"{label} {done}/{total}"
    return label


def metrics_frame(evaluation: dict) -> tuple[pd.DataFrame, list]:
    """Rows: metrics; columns: base, tuned, delta. Also, per row, whether tuned is better (True/False/None)."""
    rows, verdicts = [], []
    for name, entry in evaluation["metrics"].items():
        rows.append({"metric": name, "base": entry.get("base"), "tuned": entry.get("tuned"), "delta": delta(entry),
                     "better": t("evalm.higher") if entry.get("better") != "lower" else t("evalm.lower")})
        verdicts.append(improved(entry))
    return pd.DataFrame(rows), verdicts


def metrics_table(run_dir) -> None:
    evaluation = read_evaluation(run_dir)
    st.subheader(t("evalm.title"))
    if evaluation is None:
        st.caption(t("evalm.none"))
        return
    df, verdicts = metrics_frame(evaluation)
    colors = {True: GREEN, False: RED, None: ""}

    def color(col):
        return [colors[v] if col.name == "delta" else "" for v in verdicts]

    styled = df.style.apply(color, axis=0).format(
        lambda v: "—" if v is None or v != v else f"{v:.4g}", subset=["base", "tuned"]
    ).format(lambda v: "—" if v is None or v != v else f"{v:+.4g}", subset=["delta"])
    st.dataframe(styled, hide_index=True, width="stretch", key="evalm_table", column_config={
        "metric": t("evalm.metric"), "base": t("evalm.base"), "tuned": t("evalm.tuned"),
        "delta": t("evalm.delta"), "better": t("evalm.better")})
    dec = evaluation.get("decoding") or {}
    st.caption(t("evalm.caption", rows=evaluation.get("rows", "?"),
                 decoding=", ".join(f"{k}={v}" for k, v in dec.items())))
    note = base_note(evaluation)
    if note:
        st.caption(t(note))


def base_note(evaluation: dict) -> str | None:
    """What the base column means for this method, from its traits: an untrained score head, or the reference."""
    method = method_of(str(evaluation.get("method") or ""))
    if method is None:
        return None
    if method.output == SCORER:
        return "evalm.base_is_untrained_head"
    if method.reference_model == REFERENCE_BASE and method.evaluation in (EVAL_PREFERENCE, EVAL_UNPAIRED):
        return "evalm.base_is_reference"
    return None


def row_frame(rows: list[dict], metric: str | None, worse_only: bool, lower_better: bool) -> pd.DataFrame:
    out = []
    for r in rows:
        sc = r.get("scores") if isinstance(r.get("scores"), dict) else {}
        b = (sc.get("base") or {}).get(metric) if metric else None
        tu = (sc.get("tuned") or {}).get(metric) if metric else None
        if worse_only:
            if not isinstance(b, (int, float)) or not isinstance(tu, (int, float)):
                continue
            if not ((tu > b) if lower_better else (tu < b)):
                continue
        out.append({"#": r.get("index"), "prompt": str(r.get("prompt", "")),
                    "context": prompt_context.text(r, t("ctx.tools")),
                    "reference": str(r.get("reference", "")),
                    "base_answer": str(r.get("base", "")), "tuned_answer": str(r.get("tuned", "")),
                    "base_score": b, "tuned_score": tu})
    df = pd.DataFrame(out, columns=["#", "prompt", "context", "reference", "base_answer", "tuned_answer",
                                    "base_score", "tuned_score"])
    return df if (df["context"] != "").any() else df.drop(columns="context")  # a column only when rows have one


def row_browser(run_dir) -> None:
    evaluation = read_evaluation(run_dir)
    rows = read_rows(run_dir) if evaluation else []
    if not rows:
        return
    st.subheader(t("evalm.rows"))
    names = [n for n in evaluation["metrics"] if any(n in ((r.get("scores") or {}).get("tuned") or {}) for r in rows[:1])]
    c1, c2 = st.columns([2, 3])
    metric = c1.selectbox(t("evalm.row_metric"), names, key="evalm_row_metric") if names else None
    worse = c2.toggle(t("evalm.worse_only"), key="evalm_worse")
    lower = (evaluation["metrics"].get(metric) or {}).get("better") == "lower" if metric else False
    df = row_frame(rows, metric, worse, lower)
    st.caption(t("evalm.rows_shown", n=len(df), total=len(rows)))
    st.dataframe(df, hide_index=True, width="stretch", key="evalm_rows", column_config={
        "prompt": st.column_config.TextColumn(t("eval.prompt"), width="medium"),
        "context": st.column_config.TextColumn(t("ctx.column"), width="medium"),
        "reference": st.column_config.TextColumn(t("eval.reference"), width="medium"),
        "base_answer": st.column_config.TextColumn(t("eval.base"), width="medium"),
        "tuned_answer": st.column_config.TextColumn(t("eval.tuned"), width="medium"),
        "base_score": st.column_config.NumberColumn(t("evalm.base_score"), format="%.4g"),
        "tuned_score": st.column_config.NumberColumn(t("evalm.tuned_score"), format="%.4g")})


def eval_cell(row: dict) -> str:
    """The Trainings list's headline metric: 'rouge_l 0.312 ▲ +0.05' (▲ better, ▼ worse than the base)."""
    name, b, tu = row.get("eval_metric"), row.get("eval_base"), row.get("eval_tuned")
    if not name or not isinstance(tu, (int, float)):
        return ""
    entry = {"base": b, "tuned": tu, "better": row.get("eval_better")}
    d, up = delta(entry), improved(entry)
    mark = "" if up is None else ("▲ " if up else "▼ ")
    return f"{name} {tu:.3g}" + (f" {mark}{d:+.3g}" if d is not None else "")
