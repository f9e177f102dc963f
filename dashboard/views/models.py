"""Base models (/models): cards for registered models, register a local folder, unregister."""
from __future__ import annotations

import streamlit as st

from dashboard import identity
from dashboard.common import workspace
from dashboard.i18n import t
from dashboard.safe import md
from jobs.models import registry
from jobs.models.model_roots import model_roots
from jobs.use.requests import model_lineage


def render() -> None:
    ws = workspace()
    st.title(t("models.title"))
    with st.expander(t("models.register")):
        name = st.text_input(t("models.name"), key="m_reg_name")
        path = st.text_input(t("models.path"), key="m_reg_path", placeholder="/data/models/Qwen2.5-0.5B-Instruct")
        st.caption(t("models.roots", roots=", ".join(str(r) for r in model_roots(ws))))
        why = identity.why_not(ws, "register_model_path")
        if why:
            st.caption("🔒 " + t("auth.refused", reason=why))
        if st.button(t("models.register_btn"), type="primary", key="m_reg_btn", disabled=not (name and path) or bool(why),
                     help=why) and identity.allowed(ws, "register_model_path"):
            try:
                if path.strip().lower().endswith(".gguf"):
                    register_gguf(ws, name.strip(), path.strip())
                else:
                    registry.register_model_from_browser(ws, name.strip(), path)
                st.success(t("models.registered", name=name))
            except registry.RegistryError as e:
                st.error(md(e))
    models = registry.list_models(ws)
    if not models:
        st.info(t("models.none"))
        return
    cols = st.columns(3)
    for i, (name, path) in enumerate(models.items()):
        info = registry.model_info(path)
        with cols[i % 3].container(border=True):
            st.subheader(md(name, one_line=True))
            if info["problem"]:
                st.error(md(info["problem"]))
            n = info["parameters"]
            st.markdown(
                f"- {t('models.arch')}: {md(info['architecture'], one_line=True)}\n"
                f"- {t('models.params')}: {f'{n:,}' if n else '?'}\n"
                f"- {t('models.size')}: {info['size_bytes'] / 2**20:.1f} MiB\n"
                f"- {t('models.context')}: {info['context_length'] or '?'}\n"
                f"- {t('models.chat')}: {'✅' if info['chat_template'] else '— ' + t('models.chat_fallback')}\n"
                f"- {md(info['path'], one_line=True)}")
            for step in model_lineage(ws, name)[:1]:  # a merged model registered from a run: where it came from
                st.caption(t("export.lineage", model=name, job=step["job_id"], method=step.get("method"),
                             base=step.get("base_model"), dataset=step.get("dataset")))
            if st.toggle(t("models.unregister"), key=f"unreg_{name}"):
                inside = (ws.models / name).is_dir()  # a folder in the workspace goes with its registration
                st.caption(t("models.unregister_deletes", name=name) if inside else t("models.unregister_note"))
                if st.button(t("delete.yes"), key=f"unreg_yes_{name}"):
                    registry.unregister_model(ws, name)
                    st.rerun()


def register_gguf(ws, name: str, path: str) -> None:
    """A .gguf file (Ollama, llama.cpp) under the model roots is converted into workspace/models/<name>/, with a
    progress bar."""
    from jobs.models.gguf_import import import_gguf
    from jobs.models.model_roots import outside_roots_message, under_model_roots

    real = under_model_roots(ws, path)
    if real is None:
        raise registry.RegistryError(outside_roots_message(ws))
    path = str(real)

    bar = st.progress(0.0, text=t("models.converting"))
    import_gguf(ws, name, path, progress=lambda f, _msg: bar.progress(f, text=t("models.converting")))
    bar.empty()


def benchmarks_section() -> None:
    from dashboard import benchmarks_section as section  # the workspace benchmarks (#21)
    section.render(workspace())


if __name__ == "__main__":
    render()
    benchmarks_section()
