"""Trainings (/): every job, newest first, with filters, live progress and row actions."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from jobs.state import cancel_job, delete_job, retry_job

from dashboard.group_view import group_actions, grouped, members_of
from dashboard.common import STATUS_ICONS, fmt_duration, job_rows, spooler_banner, workspace
from dashboard.i18n import bound_t, t
from dashboard.nav import page


def render() -> None:
    ws = workspace()
    st.title(t("trainings.title"))
    spooler_banner(ws)
    if not ws.runs.is_dir() or not any(p for p in ws.runs.iterdir() if not p.name.startswith(".")):
        first_run(ws)
        return
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    statuses = c1.multiselect(t("filter.status"), ["queued", "running", "succeeded", "failed", "cancelled"],
                              format_func=lambda s, tr=bound_t(): tr("status." + s),
                              key=f"f_status_{st.session_state.get('lang', 'en')}")  # translated labels: one per language
    rows_all = job_rows(ws)
    methods = c2.multiselect(t("filter.method"), sorted({r["method"] for r in rows_all}), key="f_method")
    models = c3.multiselect(t("filter.model"), sorted({r["base_model"] for r in rows_all}), key="f_model")
    query = c4.text_input(t("filter.search"), key="f_search", placeholder=t("filter.search_hint"))
    flatten = st.toggle(t("group.flatten"), key="f_flatten")
    table(ws, statuses, methods, models, query, flatten)


@st.fragment(run_every=2.0)
def table(ws, statuses, methods, models, query, flatten=False) -> None:
    rows = job_rows(ws)
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    if methods:
        rows = [r for r in rows if r["method"] in methods]
    if models:
        rows = [r for r in rows if r["base_model"] in models]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in " ".join(str(r[k]) for k in ("job_id", "name", "dataset", "method")).lower()]
    if not rows:
        st.info(t("trainings.none_match"))
        return
    rows = grouped(rows, st.session_state.get("expanded_groups", set()), flatten)  # a sweep is one row
    df = pd.DataFrame([{
        "details": f"/compare?group={r['group_id']}" if r.get("is_group") else f"/training?id={r['job_id']}",
        "name": r["name"], "status": "⏸️ " + t("status.held") if r.get("held") else
        f"{STATUS_ICONS.get(r['status'], '')} {t('status.' + r['status'])}",
        "progress": float(r["progress"] or 0),
        "steps": f"{r['step'] or 0}/{r['total_steps'] or '?'}",
        "eta": fmt_duration(r["eta_seconds"]) if r["eta_seconds"] else "",
        "queue": r["queue_position"], "method": r["method"], "base_model": r["base_model"],
        "dataset": r["dataset"], "created": (r["created_at"] or "")[:19].replace("T", " "),
        "duration": fmt_duration(r["duration_seconds"]),
        "result": _result(r), "job_id": r["job_id"],
    } for r in rows])
    df["queue"] = df["queue"].astype("Int64")  # blank, not "None", for jobs that are not queued
    event = st.dataframe(
        df, hide_index=True, on_select="rerun", selection_mode="multi-row", key="jobs_table",
        column_config={
            "details": st.column_config.LinkColumn(t("col.details"), display_text="🔎", width="small"),
            "name": t("col.name"), "status": t("col.status"),
            "progress": st.column_config.ProgressColumn(t("col.progress"), min_value=0.0, max_value=1.0, format="percent"),
            "steps": t("col.steps"), "eta": t("col.eta"), "queue": st.column_config.NumberColumn(t("col.queue")),
            "method": t("col.method"), "base_model": t("col.model"), "dataset": t("col.dataset"),
            "created": t("col.created"), "duration": t("col.duration"), "result": t("col.result"), "job_id": "id",
        })
    picked = [rows[i] for i in (event.selection.rows if event else []) if i < len(rows)]
    actions(ws, members_of(picked))
    group_actions(ws, picked)


def _result(r: dict) -> str:
    if r.get("is_group"):
        return r["best"] or ""
    if r["final_reward"] is not None:
        return f"reward {r['final_reward']:.4g}"
    if r["final_loss"] is not None:
        return f"loss {r['final_loss']:.4g}"
    return (r["error"] or "")[:60] if r["status"] == "failed" else ""


def actions(ws, selected: list[dict]) -> None:
    ids = [r["job_id"] for r in selected]
    cols = st.columns(6)
    if cols[0].button(t("action.compare"), disabled=len(ids) < 2, type="primary", key="btn_compare"):
        st.switch_page(page("compare"), query_params={"jobs": ",".join(ids[:10])})
    if cols[1].button(t("action.details"), disabled=len(ids) != 1, key="btn_details"):
        st.switch_page(page("training"), query_params={"id": ids[0]})
    if cols[2].button(t("action.cancel"), disabled=not any(r["status"] in ("queued", "running") for r in selected),
                      key="btn_cancel"):
        for r in selected:
            if r["status"] in ("queued", "running"):
                _try(lambda: cancel_job(ws, r["job_id"]))
        st.toast(t("toast.cancel_requested"))
    if cols[3].button(t("action.retry"), disabled=not any(r["status"] in ("failed", "cancelled") for r in selected),
                      key="btn_retry"):
        for r in selected:
            if r["status"] in ("failed", "cancelled"):
                _try(lambda: retry_job(ws, r["job_id"]))
        st.toast(t("toast.requeued"))
    if ids and cols[4].toggle(t("action.delete"), key="del_toggle"):
        running = [r for r in selected if r["status"] == "running"]
        if running:
            st.error(t("delete.refused_running", names=", ".join(r["name"] for r in running)))
        else:
            st.warning(t("delete.confirm", n=len(ids)))
            st.button(t("delete.yes"), type="primary", key="btn_delete_yes", on_click=_delete, args=(ws, ids))


def _delete(ws, ids: list[str]) -> None:
    for job_id in ids:
        _try(lambda: delete_job(ws, job_id))
    st.session_state["del_toggle"] = False
    st.session_state.pop("jobs_table", None)  # the deleted rows are gone from the selection too


def _try(fn) -> None:
    try:
        fn()
    except (KeyError, ValueError) as e:
        st.error(str(e.args[0]))


def first_run(ws) -> None:
    with st.container(border=True):
        st.subheader(t("firstrun.title"))
        st.markdown(t("firstrun.body", home=str(ws.home)))
        if st.button(t("firstrun.demo"), type="primary"):
            st.switch_page(page("new"), query_params={"demo": "sft"})


if __name__ == "__main__":
    render()
