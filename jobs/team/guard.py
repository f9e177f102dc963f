"""The one permission check at the point of action: may this user do this to this job? Every answer is audited."""
from __future__ import annotations

from jobs import contract
from jobs.team import audit, auth
from jobs.workspace import Workspace


class Refused(ValueError):
    """An action the user may not take; the message is the reason, for the user."""


def owner_of(ws: Workspace, job_id: str) -> str | None:
    try:  # a runs/<id> that is a symlink or a file (jobs.job_ids.NotARunFolder) has no owner: the action refuses it
        return (contract.read_or_none(ws.run(job_id).spec) or {}).get("owner")
    except KeyError:
        return None


def authorize(ws: Workspace, user: str | None, source: str, action: str, job_id: str | None = None,
              priority: int | None = None, cfg: auth.AuthConfig | None = None, note: str | None = None) -> None:
    """Return when allowed (audited as allowed); raise Refused with the reason otherwise (audited as refused).
    `note` says what was done under the permission when the action name alone does not (a benchmark request
    cancelled is `benchmark`, note "cancel"); it leads the audit line's detail."""
    cfg = cfg or auth.load(ws)
    owner = owner_of(ws, job_id) if job_id else None
    why = auth.may(cfg, user, action, owner)
    if why is None and priority is not None:
        why = auth.priority_problem(cfg, user, priority)
    audit.record(ws, user, source, action, job_id, allowed=why is None,
                 detail=": ".join(x for x in (note, why) if x) or None)
    if why:
        raise Refused(why)
