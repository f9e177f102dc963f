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
