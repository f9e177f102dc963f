"""Times from state.json (UTC, ISO 8601) shown in the viewer's own time zone, as the browser reports it."""
from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st


def _viewer_tz():
    try:
        name = st.context.timezone
    except Exception:  # noqa: BLE001 - no browser (AppTest, scripts): UTC
        name = None
    if name:
        try:
            from zoneinfo import ZoneInfo
            return ZoneInfo(name)
        except Exception:  # noqa: BLE001 - an unknown zone name: UTC
            pass
    return UTC


def parse(iso) -> datetime | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def local(iso) -> str:
    """'2026-11-28 14:03:07 CET' in the viewer's zone, or '—'."""
    dt = parse(iso)
    if dt is None:
        return "—"
    return dt.astimezone(_viewer_tz()).strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def utc(iso) -> str:
    dt = parse(iso)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "—"
