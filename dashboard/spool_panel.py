"""Trainings: specs that are not runs yet. Those waiting in incoming/ for the spooler, and recent rejections."""
from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from jobs.queue.spool_view import dismiss, rejections, waiting_specs

from .i18n import t
from .times import local


def _when(mtime: float) -> str:
    return local(datetime.fromtimestamp(mtime, UTC).isoformat())


def spool_panel(ws) -> list[dict]:
    """Draws both sections when they have entries; returns the waiting specs."""
    with st.container():  # always there, so the job table below keeps its place (and its ticks) when these come and go
        return _sections(ws)


def _sections(ws) -> list[dict]:
    waiting = waiting_specs(ws)
    if waiting:
        st.subheader(t("spool.waiting", n=len(waiting)))
        st.caption(t("spool.waiting_help"))
        st.dataframe(pd.DataFrame([{t("col.name"): w["name"], t("col.status"): "⏳ " + t("status.waiting"),
                                    t("spool.file"): w["file"], t("spool.time"): _when(w["mtime"])} for w in waiting]),
                     hide_index=True, width="stretch", key="waiting_table")
    rejected = rejections(ws)
    if rejected:
        with st.expander("⚠️ " + t("spool.rejected", n=len(rejected)), expanded=False):
            st.dataframe(pd.DataFrame([{t("spool.file"): r["file"], t("spool.reason"): r["reason"],
                                        t("spool.time"): _when(r["mtime"])} for r in rejected]),
                         hide_index=True, width="stretch", key="rejected_table")
            st.button(t("spool.dismiss_all"), key="btn_dismiss_rejected", on_click=dismiss,
                      args=(ws, [r["file"] for r in rejected]))
    return waiting
