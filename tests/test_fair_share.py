"""Fair shares in the daemon (fake trainer): among queued jobs of equal priority the next free slot goes to the
owner holding the fewest slots, and max_slots caps what one owner's running jobs hold."""
from __future__ import annotations

import threading

from jobs.atomic import atomic_write_json
from jobs.state import read_spec, read_state
from jobs.team import auth
from tests.spool_helpers import Spooler, all_final, drop, spec, wait_for


def _config(ws, **extra) -> None:
    # The test's own OS user drops every spec and names its owner, as a service account may.
    atomic_write_json(ws.home / "config.json", {"auth": {"service_accounts": [auth.os_user()]}, **extra})


def _runs(ws) -> dict[str, dict]:
    out = {}
    for d in sorted(ws.runs.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            out[d.name] = {"spec": read_spec(d) or {}, "state": read_state(d) or {}}
    return out


def _started(ws, name: str) -> str:
    (r,) = [r for r in _runs(ws).values() if r["spec"].get("name") == name]
    return r["state"]["started_at"]


def test_a_colleagues_single_job_goes_before_the_third_of_a_long_submission(ws):
    _config(ws)
    for i, secs in enumerate((1, 3, 0.3, 0.3, 0.3, 0.3)):  # A's first two end apart: one slot frees at a time
        drop(ws, f"a{i}.json", {**spec(f"a{i}", notes=f"sleep={secs}"), "owner": "tdA"})
    with Spooler(ws, "--slots", "2"):
        wait_for(lambda: sum(r["state"].get("status") == "running" for r in _runs(ws).values()) == 2, 60)
        drop(ws, "b0.json", {**spec("b0", notes="sleep=0.2"), "owner": "tdB"})
        wait_for(lambda: all_final(ws, 7), 120)
    runs = _runs(ws)
    assert {r["spec"]["name"]: r["spec"]["owner"] for r in runs.values()}["b0"] == "tdB"
    a_starts = sorted(_started(ws, f"a{i}") for i in range(6))
    assert a_starts[1] < _started(ws, "b0") < a_starts[2], (a_starts, _started(ws, "b0"))


def test_max_slots_keeps_an_owner_to_one_slot_while_others_go_ahead(ws):
    _config(ws, quotas={"tdA": {"max_slots": 1}})
    for i in range(3):
        drop(ws, f"a{i}.json", {**spec(f"a{i}", notes="sleep=1"), "owner": "tdA"})
    drop(ws, "b0.json", {**spec("b0", notes="sleep=1"), "owner": "tdB"})
    most, stop = [0], threading.Event()

    def watch():
        while not stop.is_set():
            runs = _runs(ws).values()
            most[0] = max(most[0], sum(r["state"].get("status") == "running" and r["spec"].get("owner") == "tdA"
                                       for r in runs))
            stop.wait(0.05)

    t = threading.Thread(target=watch)
    t.start()
    try:
        with Spooler(ws, "--slots", "2"):
            wait_for(lambda: all_final(ws, 4), 120)
    finally:
        stop.set()
        t.join()
    assert most[0] == 1
    assert all(r["state"]["status"] == "succeeded" for r in _runs(ws).values())
    # B's job did not wait behind A's queue: it ran beside A's first.
    assert _started(ws, "b0") < sorted(_started(ws, f"a{i}") for i in range(3))[1]


def test_a_start_reorders_the_fair_queue_without_rereading_every_run(ws, monkeypatch):
    """With several owners each start changes who holds the fewest slots. The order is recomputed from the queue as
    last read (one read per new job or rescan, not one per start: 10,000 queued runs would be 10,000 stats a start),
    and it is the order a full read would give."""
    from jobs.spec import validate
    from jobs.state import create_run, new_job_id, update_state
    from jobs.status import JobStatus
    from spooler import queue_cursor

    ids = {}
    for name, owner in (("a0", "tdA"), ("a1", "tdA"), ("a2", "tdA"), ("b0", "tdB"), ("b1", "tdB")):
        v = validate({**spec(name), "owner": owner}, ws)
        assert v.ok, v.errors
        ids[name] = new_job_id()
        create_run(ws, ids[name], v.spec)
    q = queue_cursor.QueueCursor(ws, rescan=3600)
    q.reread_if_due({})
    assert q.fair and q.current() == ids["a0"]  # the oldest first; nobody holds a slot yet
    scans = []
    real_scan = queue_cursor.scan_jobs
    monkeypatch.setattr(queue_cursor, "scan_jobs", lambda *a: scans.append(a) or real_scan(*a))
    q.advance()  # a0 starts, as the daemon's start does
    update_state(ws.run_dir(ids["a0"]), status=JobStatus.RUNNING)
    q.reread_if_due({ids["a0"]: [0]})
    assert scans == []
    fresh = queue_cursor.QueueCursor(ws, rescan=3600)
    fresh.reread_if_due({ids["a0"]: [0]})
    assert q.order == fresh.order
    assert q.order[0] == ids["b0"]  # tdA holds a slot now, tdB none: tdB's oldest goes next
