"""The audit trail on the page: a job's history (details) and the last 200 lines (Settings, admins only)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.i18n import t
from dashboard.times import local
from jobs.team import audit


def audit_frame(rows: list[dict]) -> pd.DataFrame:
    """Audit lines as a table, newest first, with translated headers."""
    return pd.DataFrame([{t("audit.when"): local(r.get("at")), t("audit.who"): r.get("who") or "?",
                          t("audit.from"): r.get("from"), t("audit.action"): r.get("action"),
                          t("audit.job"): r.get("job") or "", t("audit.allowed"): "✅" if r.get("allowed") else "❌",
                          t("audit.detail"): r.get("detail") or ""} for r in reversed(rows)])


def history(ws, job_id: str) -> None:
    """Who did what to this job, from workspace/audit.jsonl (refused attempts too)."""
    st.subheader(t("details.history"))
    rows = audit.recent(ws, 200, job=job_id)
    if not rows:
        st.caption(t("details.no_history"))
        return
    st.dataframe(audit_frame(rows), hide_index=True, width="stretch", key="d_history")


def trail(ws) -> None:
    """The last 200 lines of workspace/audit.jsonl."""
    st.header(t("audit.title"))
    st.caption(t("audit.help"))
    rows = audit.recent(ws, 200)
    if not rows:
        st.caption(t("audit.none"))
        return
    st.dataframe(audit_frame(rows), hide_index=True, width="stretch", key="s_audit")
