"""Export on the details page: queue a merged-model export, show the serving files with copy buttons, and register
the merged model as a new base model in one click."""
from __future__ import annotations

import re

import streamlit as st

from dashboard import identity
from dashboard.adapter_note import no_adapter_note
from dashboard.common import workspace
from dashboard.i18n import bound_t, t, t_text
from dashboard.nav import page
from jobs.metrics import M
from jobs.models import registry
from jobs.state import read_spec
from jobs.use import requests as rq


def render(run_dir) -> None:
    st.subheader(t("export.title"))
    lineage(run_dir)
    if not rq.has_adapter(run_dir):
        st.caption(no_adapter_note(run_dir, "export"))
        return
    st.caption(t("export.what"))
    status(run_dir)


def lineage(run_dir) -> None:
    """Where this run's base model came from, when it is a registered merged model."""
    ws = workspace()
    spec = read_spec(run_dir) or {}
    for step in rq.model_lineage(ws, spec.get("base_model", "")):
        st.info(t("export.lineage", model=step["model"], job=step["job_id"], method=step.get("method"),
                  base=step.get("base_model"), dataset=step.get("dataset")), icon="🧬")


@st.fragment(run_every=2.0)
def status(run_dir) -> None:
    ws = workspace()
    tr = bound_t()
    st_ = rq.export_state(run_dir)
    cur = st_.get("status")
    if _shown_busy(st_, tr):
        return
    request_form(ws, run_dir, cur)
    if cur != rq.ExportStatus.DONE.value:
        return
    size = f"{(st_.get('size_bytes') or 0) / 2**20:,.1f} MiB"
    st.success(t("export.done", dtype=st_.get("dtype"), size=size))
    st.code(st_.get("merged") or "", language=None)  # as text, with a copy button (a path is never Markdown)
    if st_.get("note"):
        st.info(st_["note"])
    gguf_table(run_dir, st_)
    out = rq.export_dir(run_dir)
    # st.code shows a copy button on each block.
    st.markdown(f"**{t('export.modelfile')}**")
    st.caption(t("export.modelfile_help", name=st_.get("lora_name") or run_dir.name))
    st.code(_read(out / rq.MODELFILE), language=None)
    st.markdown(f"**{t('export.vllm')}**")
    st.code(st_.get("vllm_command") or "", language="bash")
    st.markdown(f"**{t('export.peft')}**")
    st.code(_read(out / rq.PEFT_SNIPPET), language="python")
    register(run_dir)


def request_form(ws, run_dir, cur: str | None, key: str = "x") -> None:
    """The GGUF quantizations to write and the export button: the one path by which a page asks for an export (the
    details page's panel, and each run's menu on Compare, with its own `key` prefix)."""
    label = t("export.again") if cur == rq.ExportStatus.DONE.value else t("export.button")
    quants = st.multiselect(t("export.gguf"), list(rq.GGUF_QUANTS), key=f"{key}_gguf", help=t("export.gguf_help"),
                            placeholder=t_text("export.gguf_none"))
    why = identity.why_not(ws, "export", (read_spec(run_dir) or {}).get("owner"))
    if why:
        st.caption("🔒 " + t("auth.refused", reason=why))
    if st.button(label, key=f"{key}_export", type="secondary" if cur == rq.ExportStatus.DONE.value else "primary",
                 disabled=bool(why), help=why) and identity.allowed(ws, "export", run_dir.name):
        try:
            rq.submit_export(ws, run_dir.name, gguf=quants)
        except rq.RequestError as e:
            st.error(str(e))
            return
        st.rerun()


def menu(run_dir, key: str) -> None:
    """Export inside a run's action menu (Compare): where the last export stands, in one line, and the same request
    form as the details page. The files themselves (Modelfile, vLLM command, GGUF table) stay on the details page."""
    ws = workspace()
    if not rq.has_adapter(run_dir):
        st.caption(no_adapter_note(run_dir, "export"))
        return
    st_ = rq.export_state(run_dir)
    cur = st_.get("status")
    if _shown_busy(st_, t):
        return
    if cur == rq.ExportStatus.DONE.value:
        st.caption(t("runs.export_done", path=st_.get("merged") or "?"))
        for g in rq.offered_gguf(run_dir):
            st.caption(t("runs.gguf_file", quant=g["quant"], name=g["name"], match=f"{100 * (g.get('match') or 0):.0f} %"))
    request_form(ws, run_dir, cur, key=key)


def gguf_table(run_dir, st_: dict) -> None:
    """Per GGUF file: size, load time, tokens/s and the greedy match with the merged model; only finished files."""
    if not st_.get("gguf_requested"):
        return
    st.markdown(f"**{t('export.gguf_title')}**")
    if st_.get("gguf_error"):
        st.warning(t("export.gguf_failed", error=st_["gguf_error"]))
        return
    import pandas as pd
    ok = rq.offered_gguf(run_dir)
    rows = [{t_text("export.gguf_col.quant"): g["quant"], t_text("export.gguf_col.size"): round(g["size_bytes"] / 2**20, 1),
             t_text("export.gguf_col.load"): g.get("load_seconds"), t_text("export.gguf_col.tps"): g.get(M.tokens_per_second),
             t_text("export.gguf_col.match"): f"{100 * (g.get('match') or 0):.0f} %",
             t_text("export.gguf_col.file"): g["file"]} for g in ok]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(t("export.gguf_match_help", n=rq.GGUF_SMOKE_TOKENS, tps=st_.get("transformers_tokens_per_second"),
                     prompts=len(ok[0].get("match_per_prompt") or []), source=st_.get("gguf_prompts") or "?"))
    for g in ok:
        other = sorted(k for k in (g.get("tensor_types") or {}) if g["quant"] == "q4_k_m" and not k.endswith("_K")
                       and k not in ("F32", "F16"))
        if other:
            st.caption(t("export.gguf_fallback", quant=g["quant"], types=", ".join(other)))
    for g in st_.get("gguf") or []:
        if g.get("error"):
            st.error(t("export.gguf_file_failed", quant=g.get("quant"), error=g["error"]))


def register(run_dir) -> None:
    ws = workspace()
    already = rq.registered_from(ws, run_dir.name)
    st.markdown(f"**{t('export.register')}**")
    if already:
        st.caption(t("export.registered_as", names=", ".join(already)))
    spec = read_spec(run_dir) or {}
    default = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{spec.get('name') or 'run'}-{run_dir.name[-6:]}").strip("-.")[:64]
    c1, c2 = st.columns([3, 1])
    name = c1.text_input(t("export.register_name"), value=default, key="x_reg_name")
    c2.write("")
    why = identity.why_not(ws, "register", spec.get("owner"))
    if c2.button(t("export.register_button"), key="x_register", disabled=bool(why), help=why) \
            and identity.allowed(ws, "register", run_dir.name):
        try:
            rq.register_merged(ws, run_dir.name, name.strip())
            st.session_state["x_registered"] = name.strip()
        except registry.RegistryError as e:
            st.error(str(e))
    done = st.session_state.get("x_registered")
    if done and done in already + rq.registered_from(ws, run_dir.name):
        st.success(t("export.registered", name=done))
        if st.button(t("export.train_on_it", name=done), key="x_train_on"):
            st.session_state["m_model"] = done  # the New training form's base model
            st.switch_page(page("new"))


def _read(path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _shown_busy(st_: dict, tr) -> bool:
    """Show a waiting or exporting export (True: the form waits for it) or a failed one's error (False)."""
    cur = st_.get("status")
    if cur in (rq.ExportStatus.WAITING.value, rq.ExportStatus.EXPORTING.value):
        step = st_.get("step") if cur == rq.ExportStatus.EXPORTING.value else None
        st.info(t("export.gguf_step", step=step) if step and step != "merge" else tr(f"export.status.{cur}"), icon="⏳")
        return True
    if cur == rq.ExportStatus.FAILED.value:
        st.error(t("export.status.failed", error=st_.get("error") or "?"))
    return False
