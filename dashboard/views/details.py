"""Training details (/training?id=<job_id>): header, Overview, Evaluation and Logs tabs, live while running."""
from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from jobs.atomic import read_json
from jobs.state import cancel_job, read_spec, read_state, retry_job

from dashboard.charts import PALETTE, metric_names, overlay
from dashboard.common import badge, fmt_duration, metrics, read_samples, spooler_banner, workspace
from dashboard.i18n import t
from dashboard.nav import page
from dashboard.views import export_panel, try_panel

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def render() -> None:
    ws = workspace()
    job_id = st.query_params.get("id", "")
    spooler_banner(ws)
    if not job_id or not re.fullmatch(r"[A-Za-z0-9._\-]{1,80}", job_id):
        st.title(t("details.title"))
        st.info(t("details.pick"))
        return
    run_dir = ws.run_dir(job_id)
    if not run_dir.is_dir():
        if (ws.incoming / f"{job_id}.json").exists():
            st.title(job_id)
            st.info(t("details.submitted"))
            st.fragment(run_every=1.0)(lambda: st.rerun() if run_dir.is_dir() else None)()
            return
        st.title(t("details.title"))
        st.error(t("details.unknown", id=job_id))
        return
    header(run_dir)
    tab_o, tab_e, tab_l, tab_u = st.tabs([t("tab.overview"), t("tab.evaluation"), t("tab.logs"), t("tab.use")])
    with tab_o:
        overview(ws, run_dir)
    with tab_e:
        evaluation(run_dir)
    with tab_l:
        logs(run_dir)
    with tab_u:  # try it (base vs tuned) and export
        try_panel.render_details(run_dir)
        export_panel.render(run_dir)


@st.fragment(run_every=2.0)
def header(run_dir) -> None:
    spec = read_spec(run_dir) or {}
    state = read_state(run_dir)
    st.title(spec.get("name", run_dir.name))
    if state is None:
        st.warning(t("details.no_state"))
        return
    status = state.get("status", "unknown")
    prog = read_json(run_dir / "progress.json") or {}
    c1, c2, c3, c4 = st.columns([2, 4, 1, 1])
    c1.markdown(badge(status))
    if status == "queued":
        c2.write(t("details.queue_position", pos=state.get("queue_position") or "?"))
    elif prog.get("total_steps"):
        pct = min(1.0, (prog.get("step") or 0) / prog["total_steps"])
        eta = f" · ETA {fmt_duration(prog.get('eta_seconds'))}" if status == "running" and prog.get("eta_seconds") else ""
        c2.progress(pct, text=f"{prog.get('step')}/{prog['total_steps']} ({pct:.0%}){eta}")
    if status in ("queued", "running") and c3.button(t("action.cancel"), key="d_cancel"):
        cancel_job(workspace(), run_dir.name)
        st.toast(t("toast.cancel_requested"))
    if status in ("failed", "cancelled") and c4.button(t("action.retry"), key="d_retry"):
        retry_job(workspace(), run_dir.name)
        st.toast(t("toast.requeued"))
    if state.get("error") and status in ("failed", "cancelled"):
        st.error(state["error"]) if status == "failed" else st.info(state["error"])


def overview(ws, run_dir) -> None:
    spec = read_spec(run_dir) or {}
    state = read_state(run_dir) or {}
    summary = read_json(run_dir / "summary.json") or {}
    c1, c2 = st.columns(2)
    info = {
        t("col.method"): spec.get("method"), t("col.model"): spec.get("base_model"),
        t("col.dataset"): spec.get("dataset"), "dataset sha256": (state.get("dataset_sha256") or "")[:16],
        t("col.created"): state.get("created_at"), t("details.started"): state.get("started_at"),
        t("details.finished"): state.get("finished_at"), t("details.host"): state.get("host"),
        "GPU": state.get("gpu") if state.get("gpu") is not None else "cpu",
        t("details.attempt"): state.get("attempt"), t("details.adapter"): summary.get("adapter") or "—",
        t("details.parent"): spec.get("parent_job") or "—", "job id": run_dir.name,
    }
    c1.dataframe(pd.DataFrame({"": list(info), " ": [str(v) if v is not None else "—" for v in info.values()]}),
                 hide_index=True, width="stretch")
    params = spec.get("params", {})
    c2.dataframe(pd.DataFrame({t("details.param"): list(params),
                               t("details.value"): [json.dumps(v, ensure_ascii=False) for v in params.values()]}),
                 hide_index=True, width="stretch", height=min(35 * (len(params) + 1) + 3, 600))
    parent = spec.get("parent_job")
    if parent:
        pspec = read_spec(ws.run_dir(parent))
        if pspec:
            changed = {k: (pspec.get("params", {}).get(k), v) for k, v in params.items()
                       if pspec.get("params", {}).get(k) != v}
            for k in ("method", "base_model", "dataset"):
                if pspec.get(k) != spec.get(k):
                    changed[k] = (pspec.get(k), spec.get(k))
            st.subheader(t("details.changed_from_parent"))
            st.dataframe(pd.DataFrame([{t("details.param"): k, t("details.parent"): json.dumps(a), t("details.this"): json.dumps(b)}
                                       for k, (a, b) in changed.items()]), hide_index=True)
            if st.button(t("details.compare_parent"), key="d_cmp_parent"):
                st.switch_page(page("compare"), query_params={"jobs": f"{parent},{run_dir.name}"})
        else:
            st.caption(t("details.parent_missing", id=parent))
    if summary:
        with st.expander(t("details.summary")):
            st.json(summary)
    if st.button(t("details.copy"), type="primary", key="d_copy"):
        st.switch_page(page("new"), query_params={"copy": run_dir.name})


@st.fragment(run_every=3.0)
def evaluation(run_dir) -> None:
    df = metrics(run_dir)
    if df.empty:
        st.info(t("eval.no_metrics"))
    else:
        smooth = st.slider(t("eval.smoothing"), 0.0, 0.99, 0.6, 0.01, key="d_smooth")
        names = metric_names(df)
        cols = st.columns(2)
        for i, m in enumerate(names):
            chart = overlay({run_dir.name[-6:]: df}, m, "step", smooth, {run_dir.name[-6:]: PALETTE[0]})
            if chart is not None:
                cols[i % 2].altair_chart(chart, width="stretch")
    st.subheader(t("eval.samples"))
    samples = read_samples(run_dir)
    if not samples:
        st.caption(t("eval.no_samples"))
    for s in samples:
        with st.container(border=True):
            st.markdown(f"**{t('eval.prompt')}:** {s.get('prompt', '')}")
            a, b, c = st.columns(3)
            a.markdown(f"**{t('eval.base')}**\n\n{s.get('base', '')}")
            b.markdown(f"**{t('eval.tuned')}**\n\n{s.get('tuned', '')}")
            c.markdown(f"**{t('eval.reference')}**\n\n{s.get('reference', '')}")


@st.fragment(run_every=2.0)
def logs(run_dir) -> None:
    path = run_dir / "train.log"
    if not path.exists():
        st.info(t("logs.none"))
        return
    c1, c2, c3 = st.columns([2, 3, 1])
    levels = c1.multiselect(t("logs.levels"), LEVELS, default=["INFO", "WARNING", "ERROR"], key="d_levels")
    query = c2.text_input(t("logs.search"), key="d_logsearch")
    n = c3.number_input(t("logs.lines"), 50, 5000, 300, 50, key="d_lines")
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 2_000_000))
        lines = fh.read().decode("utf-8", "replace").splitlines()
    level_re = re.compile(r" (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
    shown = []
    for line in lines:
        m = level_re.search(line[:40])
        lvl = m.group(1) if m else None
        if lvl and lvl not in levels and not (lvl == "CRITICAL" and "ERROR" in levels):
            continue
        if query and query.lower() not in line.lower():
            continue
        shown.append(line)
    st.code("\n".join(shown[-int(n):]) or t("logs.empty"), language="log")
    st.download_button(t("logs.download"), path.read_bytes(), file_name=f"{run_dir.name}-train.log", key="d_dl")


if __name__ == "__main__":
    render()
