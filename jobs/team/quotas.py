"""Fair shares: `workspace/config.json` "quotas": {"*": {"max_slots": N, "max_queued": M}, "<user>": {...}}.

A user's running jobs together hold at most max_slots slots; a submission that would leave more than max_queued of
their jobs queued is rejected with the reason. Among queued jobs of equal priority, the next free slot goes to the
user who holds the fewest slots now, then by submission time (the daemon's scheduler applies that order)."""
from __future__ import annotations

from jobs.settings.notify_config import parse_config
from jobs.state import list_run_dirs, read_spec, read_state
from jobs.status import JobStatus
from jobs.workspace import Workspace

KEYS = ("max_slots", "max_queued")


def load(ws: Workspace) -> tuple[dict[str, dict[str, int]], list[str]]:
    """({user or "*": {key: limit}}, problems); a bad entry is reported and left out (no limit)."""
    cfg, err = parse_config(ws)
    raw, problems, out = cfg.get("quotas") or {}, ([err] if err else []), {}
    if not isinstance(raw, dict):
        return {}, [*problems, f"quotas must be an object of user -> limits, got {raw!r}"]
    for user, limits in raw.items():
        if not isinstance(limits, dict):
            problems.append(f"quotas.{user} must be an object like {{\"max_slots\": 2}}, got {limits!r}")
            continue
        good = {}
        for k, v in limits.items():
            if k not in KEYS:
                problems.append(f"quotas.{user}.{k}: unknown limit; allowed: {', '.join(KEYS)}")
            elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
                problems.append(f"quotas.{user}.{k} must be a whole number ≥ 0, got {v!r}")
            else:
                good[k] = v
        out[str(user)] = good
    return out, problems


def limit(quotas: dict, user: str | None, key: str) -> int | None:
    """A user's own limit, else the "*" default, else None (no limit)."""
    for who in (user, "*"):
        if who is not None and key in quotas.get(who, {}):
            return quotas[who][key]
    return None


def queued_problem(ws: Workspace, owner: str, adding: int = 1) -> str | None:
    """The reason a submission of `adding` jobs by `owner` is refused under max_queued, or None."""
    quotas, _ = load(ws)
    cap = limit(quotas, owner, "max_queued")
    if cap is None:
        return None
    queued = sum(1 for d in list_run_dirs(ws)
                 if (read_state(d) or {}).get("status") == JobStatus.QUEUED and (read_spec(d) or {}).get("owner") == owner)
    if queued + adding > cap:
        return (f"{owner} has {queued} job(s) queued and may have at most {cap} (quotas.max_queued in config.json); "
                f"this submission adds {adding}")
    return None
