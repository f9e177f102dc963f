"""Settings (/settings): notification targets in workspace/config.json and the last 20 delivery attempts."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import audit_view, identity
from dashboard.common import spooler_banner, workspace
from dashboard.i18n import t
from dashboard.safe import md
from jobs.settings.notify_config import (
    DEFAULT_DASHBOARD_URL,
    FORMATS,
    PER,
    config_path,
    hide_userinfo,
    load_config,
    recent_attempts,
    write_notify,
)
from jobs.state import FINAL


def render() -> None:
    ws = workspace()
    st.title(t("settings.title"))
    spooler_banner(ws)
    why = identity.why_not(ws, "settings")
    if why:  # admins only: a user sees why, and nothing of the webhooks (their URLs may carry tokens)
        st.warning("🔒 " + t("auth.admin_only"))
        return
    st.header(t("settings.notify"))
    st.caption(t("settings.notify_help"))
    conf = load_config(ws)  # every field checked; a problem is shown here, never raised
    cfg = conf.raw
    if conf.parse_error:
        st.error(t("settings.unparsable", error=conf.parse_error))
    else:
        for p in conf.problems:
            st.error(md(p))
    df = pd.DataFrame([_row(e) for e in (cfg.get("notify") if isinstance(cfg.get("notify"), list) else [])
                       if isinstance(e, dict)], columns=["url", "on", "format", "per"])
    edited = st.data_editor(df, num_rows="dynamic", hide_index=True, width="stretch", key="notify_editor",
                            column_config={
                                "url": st.column_config.TextColumn(t("col.url"), width="large"),
                                "on": st.column_config.TextColumn(t("col.on"), default=", ".join(FINAL)),
                                "format": st.column_config.SelectboxColumn(t("col.format"), options=list(FORMATS),
                                                                           default="slack"),
                                "per": st.column_config.SelectboxColumn(t("col.per"), options=list(PER),
                                                                        default="run")})
    dash = cfg.get("dashboard_url")
    url = st.text_input(t("settings.dashboard_url"), value=dash if isinstance(dash, str) else DEFAULT_DASHBOARD_URL,
                        key="dashboard_url")
    if st.button(t("settings.save"), type="primary", key="btn_save_notify", disabled=bool(conf.parse_error)) \
            and identity.allowed(ws, "settings"):
        rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in edited.to_dict("records")]
        rows = [{k: v for k, v in r.items() if v is not None} for r in rows if any(v for v in r.values())]
        bad = write_notify(ws, rows, url)
        if bad:
            st.error(t("settings.invalid") + "\n\n" + "\n".join(f"- {md(b, one_line=True)}" for b in bad))
        else:
            st.success(t("settings.saved", path=str(config_path(ws))))

    st.header(t("settings.attempts"))
    tries = recent_attempts(ws, 20)
    if not tries:
        st.caption(t("settings.no_attempts"))
    else:
        attempts_table(tries)
    audit_view.trail(ws)


def attempts_table(tries: list[dict]) -> None:
    st.dataframe(pd.DataFrame([{"when": a.get("at", "")[:19].replace("T", " "), "subject": a.get("subject"),
                                "target": a.get("target"), "format": a.get("format"), "try": a.get("try"),
                                "ok": "✅" if a.get("ok") else "❌", "detail": a.get("detail")} for a in tries]),
                 hide_index=True, width="stretch",
                 column_config={"when": t("col.when"), "subject": t("col.subject"), "target": t("col.target"),
                                "format": t("col.format"), "try": t("col.try"), "ok": t("col.ok"),
                                "detail": t("col.detail")})


def _row(e: dict) -> dict:
    """An entry as the editor shows it: the URL without its user info (user:token@ shows as ***@; Save keeps it)."""
    on = e.get("on")
    return {"url": hide_userinfo(e["url"]) if isinstance(e.get("url"), str) else str(e.get("url") or ""),
            "on": ", ".join(map(str, on)) if isinstance(on, list) else str(on or ""),
            "format": e.get("format", "json") if e.get("format", "json") in FORMATS else None,
            "per": e.get("per", "run") if e.get("per", "run") in PER else None}


if __name__ == "__main__":
    render()
