"""Trainings (/): every job, newest first, with filters, live progress and row actions."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import identity
from dashboard.common import STATUS_ICONS, fmt_duration, job_rows, spooler_banner, workspace
from dashboard.compare_data import kind_text
from dashboard.group_view import group_actions, grouped, members_of
from dashboard.i18n import bound_t, lang_param, t
from dashboard.live import follow
from dashboard.nav import page
from dashboard.safe import attempt
from dashboard.spool_panel import spool_panel
from dashboard.times import local
from dashboard.views.evaluation_panel import eval_cell, phase_text
from jobs.atomic import read_json
from jobs.metrics import S
from jobs.queue.delete import delete_job
from jobs.queue.overview import UNREADABLE
from jobs.ranking import headline_text
from jobs.rundir import RunDir
from jobs.state import cancel_job, retry_job
from jobs.status import CANCELLABLE, RETRYABLE, JobStatus


def render() -> None:
    ws = workspace()
    follow(ws, "trainings")  # reruns this page when the workspace changes, and only then
    st.title(t("trainings.title"))
    spooler_banner(ws)
    waiting = spool_panel(ws)
    if not job_rows(ws):
        if not waiting:
            first_run(ws)
        return
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    drawn_t = bound_t()  # bound now: the choices keep the language they were drawn in
    statuses = c1.multiselect(t("filter.status"), [s.value for s in JobStatus],
                              placeholder=t("filter.any"),
                              format_func=lambda s, tr=drawn_t: tr("status." + s),
                              key=f"f_status_{st.session_state.get('lang', 'en')}")  # translated labels: one per language
    rows_all = job_rows(ws)
    methods = c2.multiselect(t("filter.method"), sorted({r["method"] for r in rows_all}), key="f_method",
                             placeholder=t("filter.any"))
    models = c3.multiselect(t("filter.model"), sorted({r["base_model"] for r in rows_all}), key="f_model",
                            placeholder=t("filter.any"))
    query = c4.text_input(t("filter.search"), key="f_search", placeholder=t("filter.search_hint"))
    toggles = st.container(horizontal=True)
    flatten = toggles.toggle(t("group.flatten"), key="f_flatten")
    me = identity.user()
    mine = identity.mode(ws) != "none" and me is not None and toggles.toggle(
        t("filter.mine"), value=True, key="f_mine", help=t("filter.mine_help"))  # on by default once a user is known
    table(ws, statuses, methods, models, query, flatten, owner=me if mine else None)


def table(ws, statuses, methods, models, query, flatten=False, owner: str | None = None) -> None:
    rows = job_rows(ws)
    if owner:
        rows = [r for r in rows if r.get("owner") == owner]
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    if methods:
        rows = [r for r in rows if r["method"] in methods]
    if models:
        rows = [r for r in rows if r["base_model"] in models]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in " ".join(str(r[k]) for k in ("job_id", "name", "dataset", "method", "owner")).lower()]
    if not rows:
        st.info(t("trainings.none_match"))
        return
    rows = grouped(rows, st.session_state.get("expanded_groups", set()), flatten)  # a sweep is one row
    lang = lang_param()  # the 🔎 link opens a new tab in the same language
    df = pd.DataFrame([{
        "details": (f"/compare?group={r['group_id']}" if r.get("is_group") else f"/training?id={r['job_id']}") + lang,
        "name": r["name"], "status": "⏸️ " + t("status.held") if r.get("held") else
        f"{STATUS_ICONS.get(r['status'], '')} {t('status.' + r['status'])}",
        # What a user watches comes first, so it fits a laptop screen; the facts of the run follow to the right.
        "progress": float(r["progress"] or 0),
        "steps": f"{r['step'] or 0}/{r[S.total_steps] or '?'}",
        "eta": fmt_duration(r["eta_seconds"]) if r["eta_seconds"] else "",
        "phase": phase_text({"phase": r.get("phase"), "done": r.get("phase_done"), "total": r.get("phase_total")}),
        "result": _result(r), "eval": eval_cell(r), "owner": r.get("owner") or "", "queue": r["queue_position"],
        "kind": _kind_of(ws, r),  # how it trains (lora/full, sharding): a fact of the run, after the watched columns
        "duration": fmt_duration(r["duration_seconds"]), "created": local(r["created_at"]),
        "method": r["method"], "base_model": r["base_model"], "dataset": r["dataset"],
        "where": _where(r), "job_id": r["job_id"],
    } for r in rows])
    df["queue"] = df["queue"].astype("Int64")  # blank, not "None", for jobs that are not queued
    shown_ids = [r["job_id"] for r in rows]
    keep_selection(shown_ids)
    st.dataframe(
        df, hide_index=True, on_select=_on_select, selection_mode="multi-row", key="jobs_table", placeholder="",
        column_config={
            "details": st.column_config.LinkColumn("🔎", display_text="🔎", width=36, help=t("col.details")),
            "name": st.column_config.TextColumn(t("col.name"), width=160),  # a run's name, not cut at 15 chars
            "owner": st.column_config.TextColumn(t("col.owner"), width=90),
            "status": st.column_config.TextColumn(t("col.status"), width=100),
            "progress": st.column_config.ProgressColumn(t("col.progress"), min_value=0.0, max_value=1.0,
                                                        format="percent", width=85),
            "steps": st.column_config.TextColumn(t("col.steps"), width=55),
            "eta": st.column_config.TextColumn(t("col.eta"), width=75),
            "phase": st.column_config.TextColumn(t("col.phase"), width=140),
            "result": st.column_config.TextColumn(t("col.result"), width=125),
            "eval": st.column_config.TextColumn(t("col.eval"), width=170),
            "queue": st.column_config.NumberColumn(t("col.queue"), width=60),
            "kind": st.column_config.TextColumn(t("col.kind"), width=95, help=t("col.kind_help")),
            "method": t("col.method"), "base_model": t("col.model"), "dataset": t("col.dataset"),
            "created": st.column_config.TextColumn(t("col.created"), width=175), "duration": t("col.duration"),
            "job_id": "id", "where": t("col.where"),
        })
    chosen = set(st.session_state.get(SELECTED, []))
    picked = [r for r in rows if r["job_id"] in chosen]
    actions(ws, members_of(picked))
    group_actions(ws, picked)


SELECTED = "selected_jobs"  # the ticked rows, as job ids: a refresh that moves rows never moves the ticks


def keep_selection(shown_ids: list[str]) -> None:
    """Tick the rows of the selected jobs wherever they are now (new jobs push rows down, deletes pull them up)."""
    st.session_state["_shown_ids"] = shown_ids
    chosen = set(st.session_state.get(SELECTED, []))
    want = [i for i, job_id in enumerate(shown_ids) if job_id in chosen]
    current = st.session_state.get("jobs_table")
    rows = list(current["selection"]["rows"]) if current else []
    if rows != want:
        st.session_state["jobs_table"] = {"selection": {"rows": want, "columns": []}}


def _on_select() -> None:
    """The user ticked or unticked: positions in the table as drawn become job ids."""
    shown = st.session_state.get("_shown_ids", [])
    rows = st.session_state["jobs_table"]["selection"]["rows"]
    st.session_state[SELECTED] = [shown[i] for i in rows if i < len(shown)]


def _kind_of(ws, r: dict) -> str:
    """"lora", "full", "full · fsdp" for a run; for a sweep's row, its runs' kinds (one when they agree)."""
    if r.get("is_group"):
        return " / ".join(dict.fromkeys(_kind_of(ws, m) for m in r.get("members") or []))
    try:
        spec = RunDir(ws.run_dir(r["job_id"])).spec
        return _kind_cached(str(spec), spec.stat().st_mtime_ns)
    except (OSError, KeyError, ValueError):  # gone since the list was read, or no run folder
        return ""


@st.cache_data(max_entries=5000, show_spinner=False)
def _kind_cached(spec_path: str, _mtime_ns: int) -> str:
    """A run's spec is read once per change, not on every rerun of the list."""
    spec = read_json(spec_path)
    return kind_text(spec) if isinstance(spec, dict) else ""  # unreadable: the row says so elsewhere


def _where(r: dict) -> str:
    """local: the host; Slurm: the job id and its nodes, or why it still waits."""
    if r.get("runner") == "slurm" and r.get("slurm_job_id"):
        where = r.get("slurm_nodes") or (f"{t('where.pending')}: {r['slurm_reason']}" if r.get("slurm_reason") else "")
        return f"slurm {r['slurm_job_id']}" + (f" · {where}" if where else "")
    return r.get("host") or ""


def _result(r: dict) -> str:
    if r.get("is_group"):
        return r["best"] or ""
    if headline_text(r):
        return headline_text(r)
    return (r["error"] or "")[:60] if r["status"] in (JobStatus.FAILED, UNREADABLE) else ""


def actions(ws, selected: list[dict]) -> None:
    ids = [r["job_id"] for r in selected]
    row = st.container(horizontal=True)  # each button as wide as its label, never cut
    cols = [row] * 6
    if cols[0].button(t("action.compare"), disabled=len(ids) < 2, type="primary", key="btn_compare"):
        st.switch_page(page("compare"), query_params={"jobs": ",".join(ids[:10])})
    if cols[1].button(t("action.details"), disabled=len(ids) != 1, key="btn_details"):
        st.switch_page(page("training"), query_params={"id": ids[0]})
    cancellable, why_cancel = identity.permitted(ws, [r for r in selected if r["status"] in CANCELLABLE], "cancel")
    if cols[2].button(t("action.cancel"), disabled=not cancellable, key="btn_cancel", help=why_cancel):
        st.session_state["confirm_cancel"] = True
    if why_cancel:  # the reason in words beside the disabled (or partly allowed) button
        st.caption("🔒 " + t("auth.refused", reason=why_cancel))
    if st.session_state.get("confirm_cancel") and cancellable:
        st.warning(t("cancel.confirm", n=len(cancellable), names=_names(cancellable)))
        y, n = st.columns([1, 5])
        y.button(t("cancel.yes"), type="primary", key="btn_cancel_yes", on_click=_cancel, args=(ws, cancellable))
        n.button(t("cancel.no"), key="btn_cancel_no", on_click=lambda: st.session_state.pop("confirm_cancel", None))
    retryable, why_retry = identity.permitted(ws, [r for r in selected if r["status"] in RETRYABLE], "retry")
    if cols[3].button(t("action.retry"), disabled=not retryable, key="btn_retry", help=why_retry):
        done = identity.act(ws, retryable, "retry")
        for r in done:
            attempt(retry_job, ws, r["job_id"])
        st.toast(t("toast.requeued_for", names=_names(done)))
    deletable, why_delete = identity.permitted(ws, selected, "delete")
    if ids and cols[4].toggle(t("action.delete"), key="del_toggle", disabled=not deletable, help=why_delete):
        running = [r for r in selected if r["status"] == JobStatus.RUNNING]
        if running:
            st.error(t("delete.refused_running", names=_names(running)))
        else:
            st.warning(t("delete.confirm_named", n=len(deletable), names=_names(deletable)))
            st.button(t("delete.yes"), type="primary", key="btn_delete_yes", on_click=_delete,
                      args=(ws, [r["job_id"] for r in deletable]))


def _cancel(ws, rows: list[dict]) -> None:
    rows = identity.act(ws, rows, "cancel")  # checked again at the click, and audited
    for r in rows:
        attempt(cancel_job, ws, r["job_id"])
    st.session_state.pop("confirm_cancel", None)
    st.toast(t("toast.cancel_requested_for", names=_names(rows)))


def _delete(ws, ids: list[str]) -> None:
    ids = [j for j in ids if identity.allowed(ws, "delete", j)]
    gone = {job_id for job_id in ids if attempt(delete_job, ws, job_id)}
    st.session_state["del_toggle"] = False
    # The deleted jobs are gone from the selection too; a refused one stays ticked beside its reason.
    st.session_state[SELECTED] = [j for j in st.session_state.get(SELECTED, []) if j not in gone]


def _names(rows: list[dict], limit: int = 8) -> str:
    """"name (id tail), …" for confirmations: which jobs, not how many."""
    shown = [f"{r['name']} ({r['job_id'][-6:]})" for r in rows[:limit]]
    return ", ".join(shown) + (f", … (+{len(rows) - limit})" if len(rows) > limit else "")



def first_run(ws) -> None:
    with st.container(border=True):
        st.subheader(t("firstrun.title"))
        st.markdown(t("firstrun.body", home=str(ws.home)))
        if st.button(t("firstrun.demo"), type="primary"):
            st.switch_page(page("new"), query_params={"demo": "sft"})


if __name__ == "__main__":
    render()
