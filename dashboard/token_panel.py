"""Token lengths on the Datasets page: computed at upload and shown without a click (jobs/token_stats.py caches
them beside the dataset, so a page view after the first only reads a small file). The dashboard loads the
tokenizer only, never the model."""
from __future__ import annotations

import streamlit as st

from dashboard.column_pick import best_column
from dashboard.form_defaults import last_used
from dashboard.i18n import t
from jobs.data import token_stats
from jobs.init import DEMO_MODEL


def default_model(ws, models: list[str]) -> str | None:
    """The base model of the newest job, else the first registered model that is not the demo (a real model the
    user registered, e.g. SmolLM2, is what new trainings will use), else the demo model."""
    last = last_used(ws).get("base_model")
    if last in models:
        return last
    return next((m for m in models if m != DEMO_MODEL), DEMO_MODEL if DEMO_MODEL in models else None)


def columns_for(fmt: str, columns: list[str]) -> tuple:
    """(prompt, answer) for column data, picked the way the New training form picks them; () otherwise."""
    if fmt != "column" or not columns:
        return ()
    prompt = best_column("prompt_input_column", None, columns, set())
    return prompt, best_column("prompt_output_column", None, columns, {prompt})


def stats(path, fmt: str, model: str, model_path, columns: list[str], total_rows: int) -> dict | str:
    """The stats, or the reason they could not be computed (shown as text)."""
    try:
        with st.spinner(t("tokens.computing", model=model)):
            return token_stats.cached(path, fmt, model, model_path, columns_for(fmt, columns), total_rows)
    except Exception as e:  # noqa: BLE001 - a tokenizer that does not load is reported, the page stays up
        return f"{type(e).__name__}: {e}"


def show(path, fmt: str, model: str, model_path, info: dict) -> None:
    s = stats(path, fmt, model, model_path, info["columns"], info["rows"])
    if isinstance(s, str):
        st.caption(t("tokens.failed", model=model))
        st.text(s)
        return
    if not s["rows"]:
        st.caption(t("tokens.none", model=model, skipped=s["skipped"]))
        return
    line = t("tokens.stats", model=model, min=s["min"], median=s["median"], max=s["max"])
    if s["context"]:
        line += " · " + t("tokens.over", over=s["over_context"], rows=s["rows"], context=s["context"])
    if s.get("over_max_seq_length"):  # what a run with the default max_seq_length cuts (stats cached before: absent)
        line += " · " + t("tokens.over_msl", over=s["over_max_seq_length"], rows=s["rows"], msl=s["max_seq_length"])
    if s["sampled"]:
        line += " · " + t("tokens.sampled", rows=s["rows"], total=s["total_rows"])
    if s["skipped"]:
        line += " · " + t("tokens.skipped", skipped=s["skipped"])
    st.caption(line)
