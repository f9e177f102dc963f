"""Who is using the dashboard (workspace/config.json "auth", see jobs/team/auth.py), and what they may do.

- none: the OS user running the dashboard (a one-person install: everything allowed).
- header: the user a reverse proxy puts in the configured header (st.context.headers); a request without it gets a
  page that says so and nothing else (`gate()`, at the top of dashboard/app.py).
- oidc: Streamlit's own login (st.login / st.user, configured in .streamlit/secrets.toml); the user is the email
  claim, else preferred_username.
"""
from __future__ import annotations

import streamlit as st

from dashboard.i18n import t
from dashboard.i18n_validation import tr_message
from jobs.team import auth, guard
from jobs.workspace import Workspace


def config(ws: Workspace) -> auth.AuthConfig:
    return auth.load(ws)


def _oidc_user() -> str | None:
    try:
        if not st.user.is_logged_in:
            return None
        return st.user.get("email") or st.user.get("preferred_username")
    except Exception:  # noqa: BLE001 - no [auth] in secrets.toml: nobody is signed in
        return None


def current_user(cfg: auth.AuthConfig) -> str | None:
    """The signed-in user, or None (header mode without the header, oidc mode before login)."""
    if cfg.mode == "header":
        value = st.context.headers.get(cfg.header)
        return value.strip() if isinstance(value, str) and value.strip() else None
    if cfg.mode == "oidc":
        return _oidc_user()
    return auth.os_user()


def gate(ws: Workspace) -> str | None:
    """Stop the page unless a user is known: header mode shows only the refusal; oidc mode a login button.
    Shows the user in the sidebar and returns it."""
    cfg = config(ws)
    user = current_user(cfg)
    if user is None and cfg.mode == "header":
        st.title(t("auth.no_header_title"))
        st.error(t("auth.no_header", header=cfg.header))
        st.stop()
    if user is None and cfg.mode == "oidc":
        st.title(t("auth.login_title"))
        st.button(t("auth.login"), type="primary", on_click=st.login)
        st.stop()
    role = t("auth.admin") if cfg.on and auth.is_admin(cfg, user) else ""
    st.sidebar.caption(t("auth.signed_in", user=user or "?") + (f" · {role}" if role else ""))
    if cfg.mode == "oidc":
        st.sidebar.button(t("auth.logout"), on_click=st.logout, key="btn_logout")
    for p in cfg.problems:
        st.sidebar.warning(p)
    st.session_state["_user"] = user
    return user


def user() -> str | None:
    """The user `gate()` found for this run of the page."""
    return st.session_state.get("_user")


def why_not(ws: Workspace, action: str, owner: str | None = None) -> str | None:
    """None when the current user may do `action` (on a job of `owner`); the reason otherwise (for disabled controls)."""
    why = auth.may(config(ws), user(), action, owner)
    return tr_message(why) if why else None  # jobs/ says why in English; the viewer reads it in their language


def is_admin(ws: Workspace) -> bool:
    return auth.is_admin(config(ws), user())


def mode(ws: Workspace) -> str:
    return config(ws).mode


def allowed(ws: Workspace, action: str, job_id: str | None = None, priority: int | None = None,
            note: str | None = None) -> bool:
    """The check at the click: audited (source dashboard, with `note` as in guard.authorize); a refusal is shown
    as an error and returns False."""
    try:
        guard.authorize(ws, user(), "dashboard", action, job_id, priority=priority, note=note)
    except guard.Refused as e:
        st.error(t("auth.refused", reason=tr_message(e)))
        return False
    return True


def permitted(ws: Workspace, rows: list[dict], action: str) -> tuple[list[dict], str | None]:
    """The rows whose jobs the current user may `action`, and the reason for the first one they may not."""
    cfg, who = config(ws), user()
    ok, why = [], None
    for r in rows:
        reason = auth.may(cfg, who, action, r.get("owner"))
        if reason is None:
            ok.append(r)
        elif why is None:
            why = tr_message(reason)
    return ok, why


def act(ws: Workspace, rows: list[dict], action: str, priority: int | None = None) -> list[dict]:
    """The check at the click, row by row (each audited); the rows that may go ahead. Refusals are shown."""
    return [r for r in rows if allowed(ws, action, r["job_id"], priority=priority)]
