"""Training details (/training?id=<job_id>): header, Overview, Evaluation and Logs tabs, live while running."""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from dashboard import audit_view, identity, memory_panel, prompt_context
from dashboard.charts import PALETTE, metric_names, overlay
from dashboard.common import (
    badge,
    fit_height,
    fmt_duration,
    job_rows,
    metrics,
    read_samples,
    spooler_banner,
    workspace,
)
from dashboard.i18n import t, t_text
from dashboard.live import follow
from dashboard.log_view import LEVELS, filter_lines
from dashboard.nav import page
from dashboard.safe import md, model_text
from dashboard.times import local, parse, utc
from dashboard.views import evaluation_panel, export_panel, try_panel
from jobs import contract
from jobs.contract import Unreadable
from jobs.job_ids import BadJobId, is_job_id
from jobs.metrics import M, S
from jobs.queue.overview import UNKNOWN
from jobs.rundir import RunDir
from jobs.state import cancel_job, queue_positions, read_spec, read_state, retry_job
from jobs.status import CANCELLABLE, RETRYABLE, JobStatus

LOG_BOX_PX = 520
LOG_BOX = "d_log_box"


def render() -> None:
    ws = workspace()
    job_id = st.query_params.get("id", "")
    spooler_banner(ws)
    if not job_id:
        st.title(t("details.title"))
        pick_job(ws)
        return
    try:
        run_dir = ws.existing_run(job_id)  # the one job-id check: pattern, and a real folder inside runs/
    except BadJobId:
        st.title(t("details.title"))
        st.error(t("job.bad_id"))
        return
    except KeyError:
        follow(ws, "details")  # the run folder appears (and the page with it) when the spooler takes the spec
        if (ws.incoming / f"{job_id}.json").exists():
            st.title(job_id)
            st.info(t("details.submitted"))
            return
        st.title(t("details.title"))
        st.error(t("details.unknown", id=job_id))
        return
    try:  # every contract file of this run, typed; one with the wrong shape is named instead of a traceback
        for f in RunDir(run_dir).live_files:
            contract.read(f)
    except Unreadable as e:
        follow(ws, "details", (RunDir(run_dir).log,))  # a file rewritten with the right shape brings the page back
        st.title(job_id)
        st.error(t("run.unreadable", reason=str(e)))
        logs(run_dir)
        return
    follow(ws, "details", (RunDir(run_dir).log,))  # live while anything changes, still otherwise
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


def header(run_dir) -> None:
    try:
        spec = read_spec(run_dir) or {}
        state = read_state(run_dir)
        prog = contract.read(RunDir(run_dir).progress) or {}
    except Unreadable as e:  # it broke while the page was open
        st.error(t("run.unreadable", reason=str(e)))
        return
    st.title(md(spec.get("name", run_dir.name), one_line=True))
    if state is None:
        st.warning(t("details.no_state"))
        return
    status = state.get("status", UNKNOWN)
    c1, c2, c3, c4 = st.columns([2, 4, 1, 1])
    c1.markdown(badge(status))
    if status == JobStatus.QUEUED:
        pos = queue_positions(workspace()).get(run_dir.name)
        c2.write(t("details.queue_position", pos=pos) if pos else t("details.queue_unknown"))
    elif status == JobStatus.RUNNING and state.get("slurm_state") == "PENDING":
        c2.write(t("details.slurm_pending", reason=state.get("slurm_reason") or "?"))
    elif prog.get(S.total_steps):
        pct = fraction(prog.get("step"), prog[S.total_steps])
        eta = (f" · {t('col.eta')} {fmt_duration(prog.get('eta_seconds'))}"
               if status == JobStatus.RUNNING and prog.get("eta_seconds") else "")
        c2.progress(pct, text=f"{prog.get('step')}/{prog[S.total_steps]} ({pct:.0%}){eta}")
    if status == JobStatus.RUNNING and evaluation_panel.phase_text(prog):
        done, total = prog.get("done"), prog.get("total")
        frac = fraction(done, total)
        c2.progress(frac, text=evaluation_panel.phase_text(prog))
    why_cancel = identity.why_not(workspace(), "cancel", spec.get("owner")) if status in CANCELLABLE else None
    why_retry = identity.why_not(workspace(), "retry", spec.get("owner")) if status in RETRYABLE else None
    if status in CANCELLABLE and c3.button(t("action.cancel"), key="d_cancel", disabled=bool(why_cancel),
                                           help=why_cancel):
        st.session_state["d_confirm_cancel"] = run_dir.name
    if why_cancel or why_retry:  # the controls stay in view, disabled, with the reason in words
        st.caption("🔒 " + t("auth.refused", reason=why_cancel or why_retry))
    if status in CANCELLABLE and st.session_state.get("d_confirm_cancel") == run_dir.name:
        st.warning(t("cancel.confirm", n=1, names=f"{spec.get('name', run_dir.name)} ({run_dir.name[-6:]})"))
        y, n = st.columns([1, 5])
        y.button(t("cancel.yes"), type="primary", key="d_cancel_yes", on_click=_cancel, args=(run_dir.name,))
        n.button(t("cancel.no"), key="d_cancel_no", on_click=lambda: st.session_state.pop("d_confirm_cancel", None))
    if status in RETRYABLE and c4.button(t("action.retry"), key="d_retry", disabled=bool(why_retry), help=why_retry):
        if identity.allowed(workspace(), "retry", run_dir.name):
            retry_job(workspace(), run_dir.name)
            st.toast(t("toast.requeued"))
    facts = header_facts(run_dir, state)
    if facts:
        st.caption(" · ".join(f"{t(k)}: {v}" for k, v in facts))
    if state.get("error") and status in RETRYABLE:
        if status == JobStatus.FAILED:
            st.error(md(state["error"]))
        else:
            st.info(md(state["error"]))


def _cancel(job_id: str) -> None:
    st.session_state.pop("d_confirm_cancel", None)
    if identity.allowed(workspace(), "cancel", job_id):  # checked again at the click, and audited
        cancel_job(workspace(), job_id)
        st.toast(t("toast.cancel_requested"))


def fraction(done, total) -> float:
    """done/total for a progress bar, kept within 0..1 whatever progress.json says (a negative or absurd step)."""
    num = (int, float)
    if not isinstance(done, num) or not isinstance(total, num) or isinstance(done, bool) or not total > 0:
        return 0.0
    f = done / total
    return min(1.0, max(0.0, f)) if f == f else 0.0


def pick_job(ws) -> None:
    """No id in the link: every job, newest first, to open one."""
    rows = job_rows(ws)
    if not rows:
        st.info(t("details.pick"))
        return
    labels = {r["job_id"]: f"{r['name']} · {t_text('status.' + r['status'])} · {r['job_id']}" for r in rows}
    chosen = st.selectbox(t("details.pick_label"), list(labels), index=None, format_func=labels.get,
                          placeholder=t("details.pick_hint"), key="d_pick")
    if chosen:
        st.query_params["id"] = chosen
        st.rerun()


def header_facts(run_dir, state: dict) -> list[tuple[str, str]]:
    """Duration (so far, while running) and the final loss or reward, for the line under the title."""
    out = []
    start, end = parse(state.get("started_at")), parse(state.get("finished_at"))
    if start:
        secs = (end.timestamp() if end else time.time()) - start.timestamp()
        out.append(("col.duration", fmt_duration(secs)))
    summary = contract.read_or_none(RunDir(run_dir).summary) or {}
    for key, label in ((S.final_loss, "details.final_loss"), (S.final_reward, "details.final_reward")):
        v = summary.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((label, f"{v:.4g}"))
    if not any(k == "details.final_loss" for k, _ in out):
        df = metrics(run_dir)
        if M.loss in df and df[M.loss].notna().any():
            out.append(("details.last_loss", f"{df[M.loss].dropna().iloc[-1]:.4g}"))
    return out



def overview(ws, run_dir) -> None:
    try:
        spec = read_spec(run_dir) or {}
        state = read_state(run_dir) or {}
        summary = contract.read(RunDir(run_dir).summary) or {}
    except Unreadable as e:
        st.error(t("run.unreadable", reason=str(e)))
        return
    times = {t("col.created"): "created_at", t("details.started"): "started_at", t("details.finished"): "finished_at"}
    info = {
        t("details.owner"): spec.get("owner") or "—",
        t("col.method"): spec.get("method"), t("col.model"): spec.get("base_model"),
        t("col.dataset"): spec.get("dataset"), t("details.dataset_sha"): (state.get("dataset_sha256") or "—")[:16],
        **{label: local(state.get(key)) for label, key in times.items()},
        t("details.host"): state.get("host"),
        "GPU": state.get("gpu") if state.get("gpu") is not None else "cpu",
        t("details.attempt"): state.get("attempt"), t("details.adapter"): summary.get("adapter") or "—",
        t("details.parent"): spec.get("parent_job") or "—", t("details.job_id"): run_dir.name,
        t("details.runner"): state.get("runner") or "local",
    }
    info.update(memory_panel.training_shape(spec, summary))  # finetuning type, sharding, a full model's size
    if state.get("runner") == "slurm":
        info.update({t("details.slurm_job"): state.get("slurm_job_id"), t("details.nodes"): state.get("slurm_nodes"),
                     t("details.pending_reason"): state.get("slurm_reason")})
    # UTC beside the viewer's own time only where it says something more (not for a viewer in UTC), in the same
    # cell; the table spans the page, so a time, a long adapter path or a sha is shown whole, never cut.
    for label, key in times.items():
        if (u := utc(state.get(key))) != info[label]:
            info[label] = f"{info[label]} ({u})"
    table = {"": list(info), " ": [str(v) if v is not None else "—" for v in info.values()]}
    wide = {"": st.column_config.TextColumn(width=170), " ": st.column_config.TextColumn(width=780)}
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch", height=fit_height(len(info)),
                 column_config=wide, key="d_overview")  # every row, no inner scroll
    params = spec.get("params", {})
    st.dataframe(pd.DataFrame({t("details.param"): list(params),
                               t("details.value"): [json.dumps(v, ensure_ascii=False) for v in params.values()]}),
                 hide_index=True, width="stretch", height=fit_height(len(params)),
                 column_config={t("details.param"): st.column_config.TextColumn(width=170),
                                t("details.value"): st.column_config.TextColumn(width=780)})
    parent = spec.get("parent_job")
    if parent:
        try:  # a parent whose runs/ entry is not a real folder (a planted symlink) is not read
            pspec = contract.read_or_none(ws.run(parent).spec) if is_job_id(parent) else None
        except KeyError:
            pspec = None
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
    audit_view.history(ws, run_dir.name)


def evaluation(run_dir) -> None:
    evaluation_panel.metrics_table(run_dir)
    evaluation_panel.benchmark_request(run_dir)
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
    evaluation_panel.row_browser(run_dir)
    st.subheader(t("eval.samples"))
    samples = read_samples(run_dir)
    if not samples:
        st.caption(t("eval.no_samples"))
    for s in samples:
        with st.container(border=True):  # model and dataset text is shown as text, never as Markdown
            st.markdown(f"**{t('eval.prompt')}**")
            st.text(str(s.get("prompt", "")))
            if prompt_context.turns(s):  # the system turn, earlier turns and tools the model also saw
                with st.expander(t("ctx.conversation", n=len(prompt_context.turns(s)))):
                    st.text(prompt_context.text(s, t("ctx.tools")))
            a, b, c = st.columns(3)
            for col, key, label in ((a, "base", "eval.base"), (b, "tuned", "eval.tuned"), (c, "reference", "eval.reference")):
                col.markdown(f"**{t(label)}**")
                col.text(model_text(s.get(key, "")) if key != "reference" else str(s.get(key, "")))


def logs(run_dir) -> None:
    path = RunDir(run_dir).log
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
    shown = filter_lines(lines, levels, query)
    # A fixed-height box that scrolls, however long the log, and opens on its newest line (it follows the tail):
    # a column-reverse scroll box starts at its bottom and stays there while lines arrive, unless the user scrolls up.
    st.html(f"<style>.st-key-{LOG_BOX} {{flex-direction: column-reverse; justify-content: flex-start}}"
            f" .st-key-{LOG_BOX} > div {{flex-shrink: 0}}</style>")
    with st.container(height=LOG_BOX_PX, key=LOG_BOX):
        st.code("\n".join(shown[-int(n):]) or t("logs.empty"), language="log")
    st.download_button(t("logs.download"), path.read_bytes(), file_name=f"{run_dir.name}-train.log", key="d_dl")


if __name__ == "__main__":
    render()
