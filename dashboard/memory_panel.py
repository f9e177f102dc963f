"""The New training form's memory estimate: each line per GPU (or CPU process), and whether it fits the slots."""
from __future__ import annotations

import streamlit as st

from dashboard.i18n import t
from jobs.finetune import estimate_for
from jobs.memory import fmt_bytes


def show(ws, params: dict | None, model_path) -> None:
    if not params or model_path is None:
        return
    est, limit, what = estimate_for(params, model_path, ws)
    if est is None:
        return
    over = limit is not None and est.total > limit
    title = t("memory.title", unit=t(f"memory.unit.{est.device}"), total=fmt_bytes(est.total))
    with st.expander(("⚠️ " if over else "") + title, expanded=over):
        st.table({t("memory.part"): [t(f"memory.{k}") for k in est.lines],
                  t("memory.size"): [fmt_bytes(v) for v in est.lines.values()]})
        st.caption(t("memory.how", world=est.world_size))
        if limit is None:
            st.caption(t("memory.unknown_limit"))
        elif over:
            st.warning(t("memory.exceeds", what=what))
        else:
            st.caption(t("memory.fits", what=what))


def training_shape(spec: dict, summary: dict) -> dict:
    """Details page rows: how the run trains (finetuning type, sharding over how many processes) and, for a full
    run, its model folder's size on disk."""
    p = spec.get("params") or {}
    ft = p.get("finetuning_type", "lora") + (" (4-bit)" if p.get("load_in_4bit") else "")
    world = int(p.get("num_gpus") or 1) * int(p.get("num_nodes") or 1)
    out = {t("details.finetuning"): ft, t("details.sharding"): f"{p.get('sharding', 'none')} × {world}"}
    if summary.get("model_bytes"):
        out[t("details.model_size")] = fmt_bytes(summary["model_bytes"])
    return out
