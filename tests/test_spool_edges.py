"""Spool edge cases from a red-team pass: FIFOs swapped in, hard links, long and hidden names, resubmitted ids,
ids that try to jump the queue. Pickup runs in-process here, exactly as the daemon runs it."""
import json
import os
import stat
import threading
import time

import pytest

from jobs.queue.spool import submit
from jobs.state import create_run, queue_order, read_state, update_state
from spooler import pickup as pickup_mod
from spooler.pickup import Pickup
from tests.light_workspace import light_workspace
from tests.spool_helpers import drop, spec


@pytest.fixture
def ws(tmp_path):
    """No model is loaded here, so the workspace only registers tiny-demo."""
    return light_workspace(tmp_path)


def reasons(ws) -> dict:
    return {p.name[: -len(".error.txt")]: p.read_text() for p in ws.rejected.glob("*.error.txt")}


def jobs_by_name(ws) -> dict:
    out = {}
    for d in ws.runs.iterdir():
        if not d.name.startswith("."):
            out[json.loads((d / "spec.json").read_text())["name"]] = d.name
    return out


def scan_in_thread(p: Pickup, seconds: float) -> threading.Thread:
    t = threading.Thread(target=lambda: [p.scan() for _ in range(1000000) if time.monotonic() < end] and None,
                         daemon=True)
    end = time.monotonic() + seconds
    t.start()
    return t


def _release(fifo) -> None:
    """Unblock a reader stuck in open() on the FIFO (only the unfixed code gets stuck)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def test_fifo_swapped_in_after_the_check_never_blocks(ws, monkeypatch):
    """The file is a regular file when checked and a FIFO when opened: the open must not wait for a writer."""
    fifo = ws.incoming / "swap.json"
    os.mkfifo(fifo)
    decoy = ws.spool_tmp / "decoy.json"
    decoy.write_text(json.dumps(spec("decoy")))
    real_lstat = os.lstat
    monkeypatch.setattr(pickup_mod.os, "lstat",
                        lambda p, *a, **k: real_lstat(decoy) if str(p) == str(fifo) else real_lstat(p, *a, **k))
    p = Pickup(ws, settle=0)
    t = threading.Thread(target=p.scan, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():
        _release(fifo)
    assert not t.is_alive(), "pickup blocked opening a FIFO"
    assert "not a regular file" in reasons(ws)["swap.json"]


def test_fifo_and_partial_file_renamed_in_a_loop_never_stall_pickup(ws):
    """The red-team loop: rename a half-written spec and a FIFO over the same name, again and again."""
    stop = time.monotonic() + 3.0

    def attacker():
        i = 0
        while time.monotonic() < stop:
            part = ws.spool_tmp / f"p{i}"
            part.write_text('{"name": "half')
            os.rename(part, ws.incoming / "race.json")
            f = ws.spool_tmp / f"f{i}"
            os.mkfifo(f)
            os.rename(f, ws.incoming / "race.json")
            i += 1
    a = threading.Thread(target=attacker, daemon=True)
    a.start()
    p = Pickup(ws, settle=0.05)
    t = scan_in_thread(p, 3.5)
    a.join(10)
    t.join(15)
    if t.is_alive():
        _release(ws.incoming / "race.json")
    assert not t.is_alive(), "pickup blocked in the FIFO race"
    drop(ws, "after.json", spec("after"))  # and the spool still works afterwards
    p.scan()
    assert "after" in jobs_by_name(ws)


def test_hard_link_is_rejected_without_reading_or_quoting_it(ws, tmp_path):
    private = tmp_path / "private.txt"
    private.write_text("TOPSECRET-" * 20)
    os.chmod(private, 0o600)
    os.link(private, ws.incoming / "steal.json")
    good_private = tmp_path / "private-spec.json"  # even a valid spec is not taken through a hard link
    good_private.write_text(json.dumps(spec("linked")))
    os.link(good_private, ws.incoming / "linked.json")
    p = Pickup(ws, settle=0)
    p.scan()
    p.scan()
    r = reasons(ws)
    assert "TOPSECRET" not in r["steal.json"] and "hard link" in r["steal.json"]
    assert "hard link" in r["linked.json"] and "linked" not in jobs_by_name(ws)
    assert private.read_text().startswith("TOPSECRET")  # the original is untouched


def test_a_file_owned_by_someone_else_is_never_quoted(ws):
    target = ws.incoming / "foreign.json"
    target.write_text('{"name": "OTHER-USERS-TEXT", ' * 3)
    os.chown(target, 4242, 4242)
    odd = ws.incoming / "foreign-spec.json"
    odd.write_text(json.dumps({**spec("x"), "OTHER-USERS-KEY": 1}))
    os.chown(odd, 4242, 4242)
    p = Pickup(ws, settle=0)
    p.scan()
    p.scan()
    r = reasons(ws)
    assert "OTHER-USERS" not in r["foreign.json"] and "not valid JSON" not in r["foreign.json"]
    assert "OTHER-USERS" not in r["foreign-spec.json"] and "problem" in r["foreign-spec.json"]
    own = ws.incoming / "own.json"  # an own file still gets the full reasons
    own.write_text(json.dumps({**spec("x"), "nmae": 1}))
    p.scan()
    assert "nmae" in reasons(ws)["own.json"]


@pytest.mark.parametrize("length", [232, 240, 251, 255])
def test_names_up_to_255_bytes_are_processed(ws, length):
    good = "g" * (length - 5) + ".json"
    bad = "b" * (length - 5) + ".json"
    drop(ws, good, spec("long-good"))
    drop(ws, bad, "[1, 2]")
    Pickup(ws, settle=0).scan()
    assert list(ws.incoming.iterdir()) == []
    assert "long-good" in jobs_by_name(ws)
    [err] = list(ws.rejected.glob("*.error.txt"))
    assert len(err.name.encode()) < 200 and "JSON object" in err.read_text() and bad in err.read_text()
    [moved] = [p for p in ws.rejected.iterdir() if not p.name.endswith(".error.txt")]
    assert json.loads(moved.read_text()) == [1, 2]


IN_FLIGHT = [".json", ".hidden.json", "x.json.tmp", "x.json~", "x.part", ".x.json.Ab12Cd", "y.json.swp",
             "z.json.crdownload", "w.json.partial"]


def test_hidden_and_temp_names_wait_for_their_settle_time_then_get_a_reason(ws):
    for name in IN_FLIGHT:
        (ws.incoming / name).write_text(json.dumps(spec("in-flight")))
    p = Pickup(ws, settle=0.4)
    p.scan()
    assert sorted(os.listdir(ws.incoming)) == sorted(IN_FLIGHT)  # left alone while they may still change
    time.sleep(0.5)
    p.scan()
    assert os.listdir(ws.incoming) == []
    r = reasons(ws)
    assert len(r) == len(IN_FLIGHT) and jobs_by_name(ws) == {}
    for name in IN_FLIGHT:
        [text] = [v for v in r.values() if v.startswith(f"{name} was rejected")]
        assert "hidden" in text or "temporary" in text


def test_a_file_still_being_written_under_a_temp_name_is_not_rejected(ws):
    f = ws.incoming / "growing.json.part"
    p = Pickup(ws, settle=0.3)
    for i in range(6):  # keeps changing for longer than the settle time
        f.write_text('{"name": "' + "x" * i)
        p.scan()
        time.sleep(0.1)
    assert f.exists()
    os.rename(f, ws.incoming / "growing.json")
    f.with_name("growing.json").write_text(json.dumps(spec("grown")))
    p.scan()
    assert "grown" in jobs_by_name(ws)


def test_resubmission_under_an_existing_job_id_is_rejected_naming_the_job(ws):
    job, v = submit(ws, spec("first"))
    Pickup(ws, settle=0).scan()
    assert jobs_by_name(ws) == {"first": job}
    update_state(ws.run_dir(job), status="succeeded")
    for i, content in enumerate((spec("first"), spec("changed"))):  # the same spec again, and another one
        drop(ws, f"{job}.json", content)
        Pickup(ws, settle=0).scan()
        assert os.listdir(ws.incoming) == []
        [text] = [t for k, t in reasons(ws).items() if k == f"{job}.json" + (f".{i}" if i else "")]
        assert job in text and "already exists" in text and "retry" in text
    assert jobs_by_name(ws) == {"first": job} and read_state(ws.run_dir(job))["status"] == "succeeded"


def test_resubmission_under_an_old_job_id_is_rejected_too(ws):
    """However long ago the job ran, a file named after it is refused, never run under a new id."""
    from jobs.spec import validate
    old = "20200101-000000-000000-0a0b0c"
    create_run(ws, old, validate(spec("ancient"), ws).spec)
    drop(ws, f"{old}.json", spec("again"))
    Pickup(ws, settle=0).scan()
    assert jobs_by_name(ws) == {"ancient": old}
    assert old in reasons(ws)[f"{old}.json"] and "already exists" in reasons(ws)[f"{old}.json"]


@pytest.mark.parametrize("name", ["00000101-000000-000000-000000.json", "20000101-000000-000000-abcdef.json",
                                  "19991231-235959-999999-ffffff.json"])
def test_a_file_name_cannot_pick_an_id_that_jumps_the_queue(ws, name):
    early = []
    for i in range(3):
        early.append(submit(ws, spec(f"early-{i}"))[0])
        time.sleep(0.01)
    p = Pickup(ws, settle=0)
    p.scan()
    drop(ws, name, spec("jumper"))
    p.scan()
    jumper = jobs_by_name(ws)["jumper"]
    assert jumper != name[:-5] and jumper > max(early)
    assert queue_order(ws) == early + [jumper]


def test_queue_order_is_acceptance_time_not_id(ws):
    """Ids may come from clocks that disagree (other hosts); the queue follows when the spool accepted each job."""
    v = spec("x")
    from jobs.spec import validate
    norm = validate(v, ws).spec
    ids = ["20991231-000000-000000-aaaaaa", "20200101-000000-000000-bbbbbb", "20500101-000000-000000-cccccc"]
    for job in ids:
        create_run(ws, job, norm)
        time.sleep(0.005)
    assert queue_order(ws) == ids
    high = "20100101-000000-000000-dddddd"
    create_run(ws, high, {**norm, "priority": 5})
    assert queue_order(ws) == [high] + ids


def test_arrival_order_within_one_scan(ws):
    """Files that arrive together are accepted in order of arrival, not by name."""
    for name in ("zz.json", "mm.json", "aa.json"):
        drop(ws, name, spec(name[:2]))
        time.sleep(0.01)
    Pickup(ws, settle=0).scan()
    by_name = jobs_by_name(ws)
    assert queue_order(ws) == [by_name["zz"], by_name["mm"], by_name["aa"]]


def test_queue_ignores_broken_acceptance_times(ws):
    from jobs.spec import validate
    norm = validate(spec("x"), ws).spec
    a, b = "20260101-000000-000000-aaaaaa", "20260101-000000-000000-bbbbbb"
    create_run(ws, a, norm)
    create_run(ws, b, norm)
    update_state(ws.run_dir(a), created_at=5)
    # A wrongly typed state.json makes that run unreadable (jobs.contract): skipped and logged; the queue goes on.
    assert queue_order(ws) == [b]
    assert stat.S_ISDIR(os.lstat(ws.run_dir(a)).st_mode)


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_crash_leftovers_are_swept_by_age(ws):
    from jobs.spec import validate
    from spooler.leftovers import sweep_leftovers
    job = "20260101-000000-000000-aaaaaa"
    create_run(ws, job, validate(spec("x"), ws).spec)
    run = ws.run_dir(job)
    old = [run / ".state.json.k3j4h5.tmp", run / ".progress.json.4242.tmp", ws.home / ".spooler.json.abc.tmp",
           ws.rejected / ".x.json.error.txt.q1.tmp", ws.runs / ".new-20260101-000000-000000-bbbbbb-123abc",
           ws.runs / ".trash-20260101-000000-000000-cccccc-456def"]
    fresh = [run / ".state.json.zzzzzz.tmp", ws.runs / ".new-20260101-000000-000000-dddddd-789abc"]
    for p in old + fresh:
        if p.name.startswith((".new-", ".trash-")):
            p.mkdir()
            (p / "spec.json").write_text("{}")
        else:
            p.write_text("{")
    for p in old:
        _age(p, 3600)
    kept = [run / "state.json", run / "spec.json", run / ".state.lock"]
    (run / ".state.lock").write_text("")
    for p in kept:
        _age(p, 3600)
    assert sweep_leftovers(ws, 600) == len(old)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in fresh + kept)


def test_daemon_sweeps_periodically_not_only_at_start(ws):
    from tests.spool_helpers import Spooler, wait_for
    with Spooler(ws, "--sweep-every", "0.5", "--sweep-age", "60") as sp:
        drop(ws, "a.json", spec("a"))
        wait_for(lambda: jobs_by_name(ws).get("a"))
        run = ws.run_dir(jobs_by_name(ws)["a"])
        stale, half = run / ".state.json.r4nd0m.tmp", ws.runs / ".new-20260101-000000-000000-eeeeee-abcdef"
        stale.write_text("{")
        half.mkdir()
        _age(stale, 120)
        _age(half, 120)
        wait_for(lambda: not stale.exists() and not half.exists(), 15)
        sp.stop()
