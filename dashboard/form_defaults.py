"""New training's first choices: the method, model and dataset last used, or the embedded demo on a fresh install."""
from __future__ import annotations

import streamlit as st

from jobs.init import DEMO_MODEL
from jobs.methods import BUILTINS
from jobs.state import list_run_dirs, read_spec

DEMO_DATASET = {name: m.demo_dataset for name, m in BUILTINS.items()}  # each declaration's demo_dataset trait


def last_used(ws) -> dict:
    """The newest job's spec (method, base_model, dataset), or {} when there is none."""
    for d in list_run_dirs(ws)[:20]:  # newest first; skip folders whose spec is unreadable
        spec = read_spec(d)
        if spec:
            return spec
    return {}


def preselect(ws, methods: list[str], models: list[str], datasets: list[str]) -> None:
    """Fill the three choices once per session, before their widgets exist (a copy or demo has set them already)."""
    if all(k in st.session_state for k in ("m_method", "m_model", "m_dataset")):
        return
    last = last_used(ws)
    method = _first_of(methods, last.get("method"), "sft")
    picks = {"m_method": method,
             "m_model": _first_of(models, last.get("base_model"), DEMO_MODEL),
             "m_dataset": _first_of(datasets, last.get("dataset") if last.get("method") == method else None,
                                    DEMO_DATASET.get(method or ""))}
    for key, value in picks.items():
        if key not in st.session_state and value is not None:
            st.session_state[key] = value


def _first_of(available: list[str], *wanted):
    return next((w for w in wanted if w and w in available), None)
