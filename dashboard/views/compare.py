"""Compare (/compare?jobs=a,b,c): parameters, overlaid metrics, final metrics, outputs, export."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import compare_data as cd
from dashboard import compare_eval
from dashboard import group_compare as gc
from dashboard.charts import metric_names, overlay
from dashboard.common import badge, fit_height, metrics, spooler_banner, workspace
from dashboard.i18n import bound_t, t
from dashboard.live import follow
from dashboard.nav import page
from dashboard.safe import md, model_text, safe_html
from dashboard.views import export_panel, try_panel
from jobs import metrics as mt
from jobs.contract import Unreadable
from jobs.params import P
from jobs.state import ACTIVE, is_job_id, read_state

# The label (i18n "compare.x.<label>") of each axis that jobs.metrics says a curve can be plotted against.
X_LABELS = {mt.STEP: "step", mt.EPOCH: "epoch", mt.ELAPSED: "elapsed", mt.TOKENS_SEEN: "tokens"}


def render() -> None:
    ws = workspace()
    st.title(t("compare.title"))
    spooler_banner(ws)
    group = None
    if st.query_params.get("group"):  # a sweep: all its runs, with the group sections on top
        ids, group = gc.group_ids(ws, st.query_params["group"])
        if not ids:
            st.warning(t("compare.group_missing", id=st.query_params["group"]))
            return
    else:
        ids = [i.strip() for i in st.query_params.get("jobs", "").split(",") if i.strip()][:10]
        if len(ids) < 2:
            st.info(t("compare.pick"))
            return
    follow(ws, "compare", only_if=lambda: any_active(ws, ids))  # still once every job has finished
    jobs, missing = cd.load_jobs(ws, ids)
    if missing:
        st.warning(t("compare.missing", ids=", ".join(missing)))
    if not jobs:
        return
    live(ws, ids, group)
    try_panel.render_compare(jobs)  # one prompt to every compared run, answers side by side


def run_menu(col, job: dict) -> None:
    """Each run's action menu: open its details, or export it (merged model, GGUF files) through the details
    page's own export form."""
    with col.popover(t("runs.actions"), icon=":material/more_vert:"):
        st.page_link(page("training"), label=t("runs.open_details"), icon="🔎", query_params={"id": job["id"]})
        st.markdown(f"**{t('export.title')}**")
        export_panel.menu(job["dir"], key=f"c_x_{job['id']}")


def any_active(ws, ids) -> bool:
    """Whether a compared job is queued or running (ids from the URL: only well-formed job ids are looked up)."""
    return any(_status(ws, i) in ACTIVE for i in ids if is_job_id(i))


def _status(ws, job_id: str) -> str | None:
    try:
        return (read_state(ws.run_dir(job_id)) or {}).get("status")
    except (Unreadable, KeyError):  # unreadable, or not a real run folder: it cannot be running for this page
        return None


def live(ws, ids, group=None) -> None:
    jobs, _ = cd.load_jobs(ws, ids)
    frames = {j["label"]: metrics(j["dir"]) for j in jobs}
    colors = {j["label"]: j["color"] for j in jobs}
    metric = gc.render_group(ws, group, jobs, frames) if group else None
    cols = st.columns(len(jobs)) if len(jobs) <= 10 else []  # a large group is listed in its table instead
    for c, j in zip(cols, jobs, strict=False):
        c.markdown(f"<span style='color:{j['color']};font-size:1.4em'>●</span> **{safe_html(j['label'])}**",
                   unsafe_allow_html=True)
        c.markdown(badge(j["state"].get("status", "unknown")))
        c.caption(f"{t('col.owner')}: {j['spec'].get('owner') or '—'}")  # reading is shared: anyone's runs compare
        kind = cd.training_kind(j["spec"])
        c.caption(t("runs.kind", finetuning=kind[P.finetuning_type], sharding=kind[P.sharding]))
        run_menu(c, j)

    st.header(t("compare.params"))
    params = cd.params_table(jobs)
    only_diff = st.toggle(t("compare.diff_only"), value=True, key="c_diff")
    diff = cd.differing(params)
    shown = params[diff] if only_diff else params
    if shown.empty:
        st.caption(t("compare.no_diff"))
    else:
        st.dataframe(shown.style.apply(lambda row: ["background-color: #fff3b0" if diff[row.name] else ""] * len(row),
                                       axis=1), width="stretch")

    st.header(t("compare.metrics"))
    c1, c2, c3 = st.columns(3)
    drawn_t = bound_t()  # bound now: the choices keep the language they were drawn in
    x = c1.selectbox(t("compare.x_axis"), list(mt.X_AXES), format_func=lambda k, tr=drawn_t: tr("compare.x." + X_LABELS[k]),
                     key=f"c_x_{st.session_state.get('lang', 'en')}")  # translated labels: one widget per language
    smooth = c2.slider(t("eval.smoothing"), 0.0, 0.99, 0.6, 0.01, key="c_smooth")
    log_scale = c3.toggle(t("compare.log"), key="c_log")
    curves = frames
    if group and len(jobs) > 5 and st.toggle(t("compare.top5"), value=len(jobs) > 10, key="c_top5"):
        curves = {k: frames[k] for k in gc.top_labels(jobs, frames, metric, 5)[0]}
    names = []
    for df in curves.values():
        names += [m for m in metric_names(df) if m not in names]
    charts = []
    if not names:
        st.info(t("eval.no_metrics"))
    grid = st.columns(2)
    for i, m in enumerate(names):
        with_metric = {k: v for k, v in curves.items() if m in v}
        chart = overlay(with_metric, m, x, smooth, {k: colors[k] for k in with_metric}, log_scale)
        if chart is not None:
            charts.append(chart)
            grid[i % 2].altair_chart(chart, width="stretch")
    for j in jobs[:10]:
        if frames[j["label"]].empty:
            st.caption(f"{md(j['label'])}: {t('eval.no_metrics')}")

    st.header(t("compare.final"))
    finals, best = cd.final_metrics(jobs, frames)
    drawn_t = bound_t()  # bound now: the choices keep the language they were drawn in
    evals, eval_best = compare_eval.eval_table(jobs, lambda m, tr=drawn_t: tr("compare.base_of").format(model=m))
    if not evals.empty:
        finals = pd.concat([finals, evals])
        best = {**best, **{k: (v if isinstance(v, set) else {v}) for k, v in eval_best.items()}}
    shown = finals.astype(object).apply(lambda row: [cd.fmt_metric(str(row.name), v) for v in row], axis=1,
                                        result_type="broadcast")
    styled = shown.style.apply(lambda row: ["font-weight: bold; background-color: #d6f5d6"
                                            if c in best.get(row.name, ()) else "" for c in row.index], axis=1)
    st.dataframe(styled, width="stretch", height=fit_height(len(shown)))  # every metric, no inner scroll
    st.caption(t("compare.best_note") + (" " + t("compare.eval_note") if not evals.empty else ""))

    st.header(t("compare.outputs"))
    shown_jobs = jobs
    if group and len(jobs) > 2 * gc.SHOWN_OUTPUTS:  # 64 answers per prompt would be unreadable
        top, bottom = gc.top_labels(jobs, frames, metric, gc.SHOWN_OUTPUTS)
        shown_jobs = [j for j in jobs if j["label"] in top + bottom]
        st.caption(t("compare.outputs_limited", k=gc.SHOWN_OUTPUTS, metric=metric or "—"))
    samples, n_other = cd.shared_samples(shown_jobs)
    if n_other:
        st.info(t("compare.other_prompts", n=n_other))
    if not samples:
        st.caption(t("eval.no_samples"))
    elif st.toggle(t("compare.sort_disagreement"), key="c_sort_disagree"):
        samples = compare_eval.sort_by_disagreement(samples)
    for s in samples:
        with st.container(border=True):
            st.markdown(f"**{t('eval.prompt')}**")
            st.text(s["prompt"])
            cols = st.columns(len(shown_jobs) + 2)
            cols[0].markdown(f"**{t('eval.base')}**")
            cols[0].text(model_text(s["base"]))
            answers = list(s["answers"].items())
            if len(answers) == 2:
                a, b = cd.word_diff_html(model_text(answers[0][1]), model_text(answers[1][1]))
                rendered = [a, b]
            else:
                rendered = [safe_html(model_text(v)) for _, v in answers]
            for c, (label, _), text in zip(cols[1:], answers, rendered, strict=False):
                c.markdown(f"**{safe_html(label)}**<br>{text}", unsafe_allow_html=True)
            cols[-1].markdown(f"**{t('eval.reference')}**")
            cols[-1].text(s["reference"])

    st.header(t("compare.export"))
    e1, e2 = st.columns(2)
    e1.download_button(t("compare.csv"), cd.export_csv(params, finals), file_name="tunedeck-compare.csv",
                       mime="text/csv", key="c_csv")
    if e2.button(t("compare.html_prepare"), key="c_html_prep"):
        st.session_state["c_html"] = cd.export_html(jobs, params, finals, charts, samples)
    if st.session_state.get("c_html"):
        e2.download_button(t("compare.html"), st.session_state["c_html"], file_name="tunedeck-compare.html",
                           mime="text/html", key="c_html_dl")


if __name__ == "__main__":
    render()
