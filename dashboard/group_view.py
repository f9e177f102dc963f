"""Sweep groups in the Trainings list: one collapsible row per group, group actions and queue steering."""
from __future__ import annotations

import streamlit as st

from dashboard import identity
from dashboard.i18n import t, t_text
from dashboard.nav import page
from dashboard.safe import attempt
from jobs.metrics import S
from jobs.queue.overview import UNKNOWN
from jobs.queue.steer import hold, move_to_top, release, set_priority, top_priority
from jobs.ranking import best_run, headline
from jobs.status import FINAL, JobStatus

# A group shows the status of its most pressing member, in this order.
GROUP_STATUS_ORDER = (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.SUCCEEDED)


def group_row(gid: str, members: list[dict]) -> dict:
    """A row with the job rows' keys, summarising the group."""
    g = members[0]["group"]
    done = sum(r["status"] in FINAL for r in members)
    total = max(int(g.get("size") or 0), len(members))
    statuses = {r["status"] for r in members}
    status = next((s for s in GROUP_STATUS_ORDER if s in statuses), UNKNOWN)
    best = best_run(members)
    h = headline(best) if best else None
    return {**members[0], "job_id": f"group:{gid}", "group_id": gid, "is_group": True, "members": members,
            "name": f"📁 {g.get('name')} · {t('group.runs', n=len(members))}", "status": status,
            "progress": done / total if total else 0.0, "step": done, S.total_steps: total, "eta_seconds": None,
            "queue_position": None, "duration_seconds": None, S.final_loss: None, S.final_reward: None,
            "best": best and t_text("group.best", name=best["name"], metric=f"{h[0]} {h[1]:.4g}"),
            "error": None, "held": False, "created_at": min(r["created_at"] or "" for r in members)}


def grouped(rows: list[dict], expanded: set[str], flatten: bool) -> list[dict]:
    """Job rows with each group folded into one row (its runs follow it when expanded)."""
    if flatten:
        return rows
    by_group: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("group"):
            by_group.setdefault(r["group"]["id"], []).append(r)
    out, placed = [], set()
    for r in rows:
        g = r.get("group")
        if not g:
            out.append(r)
            continue
        if g["id"] in placed:
            continue
        placed.add(g["id"])
        members = sorted(by_group[g["id"]], key=lambda m: m["group"].get("index", 0))
        out.append(group_row(g["id"], members))
        if g["id"] in expanded:
            out += [{**m, "name": f"   ↳ {m['name']}"} for m in members]
    return out


def members_of(selected: list[dict]) -> list[dict]:
    """The job rows behind a selection: a group stands for all its runs."""
    out, seen = [], set()
    for r in selected:
        for m in (r["members"] if r.get("is_group") else [r]):
            if m["job_id"] not in seen:
                seen.add(m["job_id"])
                out.append(m)
    return out


def group_actions(ws, selected: list[dict]) -> None:
    """Buttons for selected groups (expand, compare, copy the sweep) and for queued jobs (steer the queue)."""
    groups = [r for r in selected if r.get("is_group")]
    jobs = members_of(selected)
    queued, why = identity.permitted(ws, [r for r in jobs if r["status"] == JobStatus.QUEUED], "priority")
    if why:
        st.caption("🔒 " + t("auth.refused", reason=why))
    row = st.container(horizontal=True)  # each button as wide as its label, never cut ("Expand / colla…")
    cols = [row] * 7
    if cols[0].button(t("group.expand"), disabled=not groups, key="btn_group_expand"):
        exp = st.session_state.setdefault("expanded_groups", set())
        for g in groups:
            exp.symmetric_difference_update({g["group_id"]})
        st.session_state.pop("jobs_table", None)
        st.rerun()
    if cols[1].button(t("group.compare"), disabled=len(groups) != 1, key="btn_group_compare"):
        st.switch_page(page("compare"), query_params={"group": groups[0]["group_id"]})
    if cols[2].button(t("group.copy"), disabled=len(groups) != 1, key="btn_group_copy"):
        st.switch_page(page("new"), query_params={"copy": groups[0]["members"][0]["job_id"], "sweep": "1"})
    if cols[3].button(t("steer.top"), disabled=not queued, key="btn_top", help=why):
        for r in reversed(queued):  # the first selected ends up first
            if identity.allowed(ws, "priority", r["job_id"], priority=top_priority(ws, r["job_id"])):
                attempt(move_to_top, ws, r["job_id"])
        st.toast(t("steer.done"))
    if cols[4].button(t("steer.hold"), disabled=not any(not r.get("held") for r in queued), key="btn_hold", help=why):
        for r in queued:
            if not r.get("held") and identity.allowed(ws, "hold", r["job_id"]):
                attempt(hold, ws, r["job_id"])
        st.toast(t("steer.done"))
    if cols[5].button(t("steer.release"), disabled=not any(r.get("held") for r in queued), key="btn_release",
                      help=why):
        for r in queued:
            if r.get("held") and identity.allowed(ws, "release", r["job_id"]):
                attempt(release, ws, r["job_id"])
        st.toast(t("steer.done"))
    with cols[6].popover(t("steer.priority"), disabled=not queued):
        n = st.number_input(t("steer.priority"), min_value=-1000, max_value=1000, step=1,
                            value=int(queued[0]["priority"]) if queued else 0, key="steer_priority")
        if st.button(t("steer.set"), key="btn_set_priority"):
            for r in identity.act(ws, queued, "priority", priority=int(n)):
                attempt(set_priority, ws, r["job_id"], int(n))
            st.toast(t("steer.done"))

