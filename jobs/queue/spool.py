"""The spool protocol: write a spec in spool/tmp/, then rename it into spool/incoming/."""
from __future__ import annotations

import os

from jobs.atomic import atomic_write_json
from jobs.spec import Validation, validate
from jobs.state import new_job_id
from jobs.workspace import Workspace


def submit(ws: Workspace, raw: dict) -> tuple[str | None, Validation]:
    """Validate and drop a spec into the spool. Returns (job_id, validation); job_id is None when invalid.

    The file is named <job_id>.json, so the spooler creates runs/<job_id>/ under the id printed here.
    """
    v = validate(raw, ws)
    if not v.ok:
        return None, v
    ws.ensure()
    job_id = new_job_id()
    tmp = atomic_write_json(ws.spool_tmp / f"{job_id}.json", v.spec)
    os.rename(tmp, ws.incoming / f"{job_id}.json")
    return job_id, v


def submit_any(ws: Workspace, raw: dict):
    """Like `submit`, for a plain spec or a sweep. Returns (job ids, Expansion); no ids when invalid.

    A sweep is spooled as one file named <group_id>.json; the spooler expands it into the same run ids printed here.
    """
    from jobs.queue.sweep import expand, is_sweep
    if not is_sweep(raw):
        job_id, v = submit(ws, raw)
        from jobs.queue.sweep import Expansion
        return ([job_id] if job_id else []), Expansion(specs=[v.spec] if v.ok else [], errors=v.errors,
                                                       warnings=v.warnings)
    x = expand(raw, ws, group_id=new_job_id())
    if not x.ok:
        return [], x
    ws.ensure()
    gid = x.group["id"]
    tmp = atomic_write_json(ws.spool_tmp / f"{gid}.json", raw)
    os.rename(tmp, ws.incoming / f"{gid}.json")
    return [s["group"]["job_id"] for s in x.specs], x
