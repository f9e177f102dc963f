"""Try it: a prompt form whose answers (base model and runs) appear side by side, with their times and history.

The dashboard only writes a request file; the spooler's warm try worker answers it (jobs/requests.py).
"""
from __future__ import annotations

import streamlit as st

from dashboard.adapter_note import no_adapter_note
from dashboard.common import workspace
from dashboard.i18n import bound_t, t
from jobs.methods import method_of
from jobs.state import list_run_dirs, read_spec
from jobs.use import requests as rq


def render_details(run_dir) -> None:
    """The details page's form: this run, the base model and optionally other runs of the same base."""
    ws = workspace()
    st.subheader(t("try.title"))
    if not rq.has_adapter(run_dir):
        st.caption(no_adapter_note(run_dir, "try"))
        return
    spec = read_spec(run_dir) or {}
    if not _generates(spec, ws):
        _render_scorer(ws, run_dir, spec)
        return
    peers = {d.name: (read_spec(d) or {}).get("name", d.name) for d in list_run_dirs(ws)
             if d.name != run_dir.name and rq.has_adapter(d) and _generates(read_spec(d) or {}, ws)
             and (read_spec(d) or {}).get("base_model") == spec.get("base_model")}
    names = {rq.BASE: f"{t('try.base')} ({spec.get('base_model')})", run_dir.name: spec.get("name", run_dir.name),
             **peers}
    key = f"try_{run_dir.name}"
    with st.form(key=f"{key}_form"):
        chosen = st.multiselect(t("try.models"), list(names), default=[rq.BASE, run_dir.name],
                                format_func=names.get, key=f"{key}_models")
        prompt, system, settings = _inputs(key)
        sent = st.form_submit_button(t("try.send"), type="primary")
    if sent:
        _send(ws, key, [j for j in chosen if j != rq.BASE], rq.BASE in chosen, prompt, system, settings,
              owner=run_dir.name)
    results(ws, run_dir.name, key, names)


def _render_scorer(ws, run_dir, spec: dict) -> None:
    """A reward model scores answers instead of writing them: a prompt and one answer, or two to compare."""
    st.caption(t("try.scorer", job_id=run_dir.name))
    peers = {d.name: (read_spec(d) or {}).get("name", d.name) for d in list_run_dirs(ws)
             if d.name != run_dir.name and rq.has_adapter(d) and not _generates(read_spec(d) or {}, ws)
             and (read_spec(d) or {}).get("base_model") == spec.get("base_model")}
    names = {run_dir.name: spec.get("name", run_dir.name), **peers}
    key = f"try_{run_dir.name}"
    with st.form(key=f"{key}_form"):
        chosen = st.multiselect(t("try.scorers"), list(names), default=[run_dir.name], format_func=names.get,
                                key=f"{key}_models")
        prompt = st.text_area(t("try.prompt"), key=f"{key}_prompt", height=100)
        system = st.text_input(t("try.system"), key=f"{key}_system")
        a, b = st.columns(2)
        first = a.text_area(t("try.answer_a"), key=f"{key}_answer_a", height=120)
        second = b.text_area(t("try.answer_b_optional"), key=f"{key}_answer_b", height=120)
        sent = st.form_submit_button(t("try.score"), type="primary")
    if sent:
        completions = [first] + ([second] if second.strip() else [])
        try:
            st.session_state[f"{key}_rid"] = rq.submit_try(ws, chosen, prompt, system, include_base=False,
                                                           owner=run_dir.name, completions=completions)
        except rq.RequestError as e:
            st.error(str(e))
    results(ws, run_dir.name, key, names)


def render_compare(jobs: list[dict]) -> None:
    """The Compare page's form: the prompt goes to every compared job that has an adapter, and the base model."""
    ws = workspace()
    st.header(t("try.title"))
    ready = [j for j in jobs if rq.has_adapter(j["dir"]) and _generates(j["spec"], ws)]
    ready = [j for j in ready if j["spec"].get("base_model") == ready[0]["spec"].get("base_model")]  # one base
    ready = ready[:rq.MAX_TARGETS - 1]  # a large sweep: its first runs, and the base model
    if not ready:
        st.caption(t("try.none_answerable"))
        return
    owner = ready[0]["dir"].name
    names = {rq.BASE: f"{t('try.base')} ({ready[0]['spec'].get('base_model')})",
             **{j["dir"].name: j["label"] for j in ready}}
    key = "try_compare_" + "_".join(sorted(j["dir"].name[-6:] for j in ready))
    with st.form(key=f"{key}_form"):
        base = st.checkbox(t("try.include_base"), value=True, key=f"{key}_base")
        prompt, system, settings = _inputs(key)
        sent = st.form_submit_button(t("try.send"), type="primary")
    if sent:
        _send(ws, key, [j["dir"].name for j in ready], base, prompt, system, settings, owner=owner)
    results(ws, owner, key, names)


def _inputs(key: str):
    prompt = st.text_area(t("try.prompt"), key=f"{key}_prompt", height=100)
    system = st.text_input(t("try.system"), key=f"{key}_system")
    c = st.columns(5)
    lim = {k: (kind(default), kind(lo), kind(hi)) for k, (default, lo, hi, kind) in rq.SETTINGS.items()}  # jobs/ declares them
    settings = {
        "max_new_tokens": int(c[0].number_input(t("try.max_new_tokens"), *lim["max_new_tokens"][1:],
                                                lim["max_new_tokens"][0], key=f"{key}_mnt")),
        "temperature": float(c[1].number_input(t("try.temperature"), *lim["temperature"][1:], lim["temperature"][0],
                                               0.1, key=f"{key}_temp")),
        "top_p": float(c[2].number_input(t("try.top_p"), *lim["top_p"][1:], lim["top_p"][0], 0.05, key=f"{key}_topp")),
        "seed": int(c[3].number_input(t("try.seed"), *lim["seed"][1:], lim["seed"][0], key=f"{key}_seed")),
        "greedy": c[4].checkbox(t("try.greedy"), key=f"{key}_greedy"),
    }
    return prompt, system, settings


def _send(ws, key, job_ids, include_base, prompt, system, settings, owner) -> None:
    try:
        st.session_state[f"{key}_rid"] = rq.submit_try(ws, job_ids, prompt, system, include_base, settings, owner=owner)
    except rq.RequestError as e:
        st.error(str(e))


def results(ws, owner: str, key: str, names: dict) -> None:
    rid = st.session_state.get(f"{key}_rid")
    if rid:
        _live(ws, owner, rid, names)
    history = rq.try_history(ws, owner)
    with st.expander(t("try.history", n=len(history))):
        if not history:
            st.caption(t("try.no_history"))
        else:
            st.download_button(t("try.download"), rq.history_jsonl(ws, owner), file_name=f"{owner}-try.jsonl",
                               mime="application/jsonl", key=f"{key}_dl")
        for r in history:
            if r["request_id"] == rid:
                continue
            with st.container(border=True):
                _show(r, names)


@st.fragment(run_every=1.0)
def _live(ws, owner: str, rid: str, names: dict) -> None:
    r = rq.read_try(ws, owner, rid)
    if r is None:
        return
    with st.container(border=True):
        _show(r, names)
        if r["status"] not in rq.FINAL_TRY and st.button(t("try.cancel"), key=f"_try_cancel_{rid}"):
            try:
                rq.cancel_try(ws, rid)
            except rq.RequestError as e:  # it finished meanwhile: the next refresh shows how
                st.caption(str(e))
    if r["status"] in rq.FINAL_TRY and st.session_state.get(f"_try_done_{rid}") is None:
        st.session_state[f"_try_done_{rid}"] = True
        st.rerun()  # the whole page once, so the history and its download include this answer


def _show(r: dict, names: dict) -> None:
    tr = bound_t()
    st.text(r.get("prompt", ""))  # user and model text render as text, never as markup
    status = r.get("status")
    if status == rq.TryStatus.FAILED.value:
        st.error(t("try.status.failed", error=r.get("error") or "?"))
    elif status == rq.TryStatus.CANCELLED.value:
        st.warning(t("try.status.cancelled"))
    elif status == rq.TryStatus.WAITING.value and r.get("waiting_for") == rq.WAITING_FOR_TRAINING:
        st.info(t("try.status.waiting_training"), icon="⏳")
    elif status != rq.TryStatus.DONE.value:
        st.info(tr(f"try.status.{status}"), icon="⏳")
    answers = {a["target"]: a for a in r.get("answers", [])}
    targets = r.get("targets", [])
    if not targets:
        return
    cols = st.columns(len(targets))
    for col, target in zip(cols, targets, strict=False):
        with col:
            label = names.get(target) or (t("try.base") if target == rq.BASE else target)
            st.markdown(f"**{_md_escape(label)}**")
            a = answers.get(target)
            if a is None:
                st.caption("…")
                continue
            if a.get("scores") is not None:
                _show_scores(a, r.get("completions") or [])
                continue
            st.caption(t("try.timing", seconds=a["seconds"], tokens=a["tokens"]))
            if a.get("precision") == rq.PRECISION_4BIT:
                st.caption(t("try.four_bit"))
            st.text(a["text"])
    if status == rq.TryStatus.DONE.value:
        if r.get("loaded_model"):
            st.caption(t("try.loaded", seconds=r.get("load_seconds") or 0))
        else:
            st.caption(t("try.warm"))


def _show_scores(a: dict, completions: list[str]) -> None:
    """A reward model's scores: each answer with its score; with two, which one it prefers and by how much."""
    st.caption(t("try.score_timing", seconds=a["seconds"]))
    labels = [t("try.answer_a"), t("try.answer_b")]
    for label, text, score in zip(labels, completions, a["scores"], strict=False):
        st.metric(label, f"{score:.4f}")
        st.text(text)
    if len(a["scores"]) == 2:
        sa, sb = a["scores"]
        if sa == sb:
            st.caption(t("try.prefers_none"))
        else:
            st.caption(t("try.prefers", answer=labels[0] if sa > sb else labels[1], margin=abs(sa - sb)))


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!|<>~$" else ch for ch in str(text))


def _generates(spec: dict, ws) -> bool:
    """Whether the run's method writes answers (its output trait); a reward model scores them instead."""
    method = method_of(str(spec.get("method") or ""), ws.methods)
    return method is None or method.generates
