"""Why Try it or Export is closed: a run still on its way gets "opens when it has finished", a run that ended
without an adapter (failed or cancelled before its first save) is told so instead of being asked to wait."""
from __future__ import annotations

from dashboard.i18n import t
from jobs.state import read_state
from jobs.status import FINAL


def no_adapter_note(run_dir, panel: str) -> str:
    """The caption for `panel` ("try" or "export") of a run that has no adapter."""
    try:
        status = (read_state(run_dir) or {}).get("status")
    except Exception:  # noqa: BLE001 - an unreadable state: the page shows that elsewhere; say "not yet"
        status = None
    if status in FINAL:
        return t(f"{panel}.no_adapter_final")
    return t("try.needs_adapter") if panel == "try" else t("export.needs_adapter")
