"""Job ids from URLs, the command line and the spool go through one check in jobs/: nothing outside runs/ is read."""
import json
import os

import pytest

from jobs.atomic import atomic_write_json
from jobs.job_ids import BadJobId, check_job_id
from jobs.spec import validate
from jobs.state import cancel_job, create_run, delete_job, list_run_dirs, new_job_id, retry_job, update_state
from spooler.__main__ import main as spooler_main
from tests.helpers import fake_run, open_page, text_of
from tests.light_workspace import light_workspace

SECRET = "SECRET-OUTSIDE-RUN"
SYMLINKED_ID = "20260101-000000-000000-5e11ed"


@pytest.fixture
def ws(tmp_path):
    """No model is loaded here, so the workspace only registers tiny-demo."""
    return light_workspace(tmp_path)


@pytest.fixture
def attack(ws, tmp_path, monkeypatch):
    """A run-like folder outside the workspace, reachable by '..' and by a symlink planted in runs/."""
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    outside = tmp_path / "elsewhere" / "run"
    outside.mkdir(parents=True)
    atomic_write_json(outside / "spec.json", {"name": SECRET, "method": "sft", "base_model": "tiny-demo",
                                              "dataset": "demo-instruct", "params": {"learning_rate": 0.5}})
    atomic_write_json(outside / "state.json", {"status": "failed", "error": SECRET})
    (outside / "metrics.csv").write_text("step,loss\n1,0.5\n")
    (outside / "samples.jsonl").write_text(json.dumps({"prompt": SECRET, "before": SECRET, "after": SECRET}) + "\n")
    os.symlink(outside, ws.runs / SYMLINKED_ID)
    return ws


BAD_IDS = ["../../elsewhere/run", "..", "../elsewhere", "/etc", "20260101-000000-000000-abcdef/../../elsewhere/run",
           "20260101-000000-000000-ABCDEF", " 20260101-000000-000000-abcdef", "20260101-000000-000000-abcdef\n", ""]


@pytest.mark.parametrize("bad", BAD_IDS + [None, 5, ["x"]])
def test_the_one_check_refuses_everything_but_a_job_id(bad):
    with pytest.raises(BadJobId) as e:
        check_job_id(bad)
    assert "\n" not in str(e.value) and "expected" in str(e.value)
    assert check_job_id("20261128-053347-301791-b21ccd") == "20261128-053347-301791-b21ccd"


def test_workspace_paths_and_lists_never_leave_runs(attack):
    ws = attack
    for bad in BAD_IDS:
        with pytest.raises(ValueError):
            ws.run_dir(bad)
    with pytest.raises(KeyError):  # a well-formed id whose folder is a symlink is no job
        ws.existing_run(SYMLINKED_ID)
    assert list_run_dirs(ws) == []


@pytest.mark.parametrize("bad", ["../../elsewhere/run", SYMLINKED_ID])
def test_details_page_refuses_outside_runs(attack, bad):
    fake_run(attack, "real-one")
    at = open_page("details", id=bad)
    assert SECRET not in text_of(at)
    assert not at.tabs


@pytest.mark.parametrize("bad", ["../../elsewhere/run", SYMLINKED_ID])
def test_compare_page_refuses_outside_runs(attack, bad):
    real = fake_run(attack, "real-one")
    other = fake_run(attack, "real-two")
    at = open_page("compare", jobs=f"{real},{other},{bad}")
    page = text_of(at) + json.dumps([str(df.value) for df in at.dataframe])
    assert SECRET not in page and "0.5" not in page
    assert "real-one" in page


@pytest.mark.parametrize("bad", ["../../elsewhere/run", SYMLINKED_ID])
def test_copy_training_refuses_outside_runs(attack, bad):
    at = open_page("new", copy=bad)
    assert SECRET not in text_of(at)
    assert SECRET not in str(at.session_state["m_name"] if "m_name" in at.session_state else "")
    assert at.error  # says why instead of filling the form


@pytest.mark.parametrize("cmd", ["cancel", "retry", "hold", "release"])
def test_spooler_cli_refuses_outside_runs(attack, cmd, capsys):
    ws = attack
    outside = ws.home.parent / "elsewhere" / "run"
    for bad in ("../../elsewhere/run", SYMLINKED_ID, "..", "/etc"):
        assert spooler_main([cmd, "--home", str(ws.home), bad]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (outside / "cancel").exists()
    assert json.loads((outside / "state.json").read_text())["status"] == "failed"


def test_job_functions_refuse_outside_runs(attack):
    ws = attack
    outside = ws.home.parent / "elsewhere" / "run"
    for fn in (cancel_job, retry_job, delete_job):
        for bad in ("../../elsewhere/run", SYMLINKED_ID):
            with pytest.raises((KeyError, ValueError)):
                fn(ws, bad)
    assert outside.is_dir() and (outside / "spec.json").exists()


def test_request_files_name_only_job_ids(attack):
    """A spec's parent_job, and a spooled file's name, are ids only through the same check."""
    ws = attack
    raw = {"name": "x", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct"}
    for bad in ("../../elsewhere/run", "..", "a/b"):
        v = validate({**raw, "parent_job": bad}, ws)
        assert [p.field for p in v.errors] == ["parent_job"]
    job = new_job_id()
    v = validate({**raw, "parent_job": job}, ws)
    assert v.ok
    create_run(ws, job, v.spec)
    update_state(ws.run_dir(job), status="failed")
    assert retry_job(ws, job)["status"] == "queued"


def test_request_pointers_with_bad_job_ids_are_never_followed(attack):
    """Try-it and export requests reach the daemon as pointer files; a forged job id in one is ignored."""
    from jobs.use import requests as rq
    ws = attack
    rq.inbox(ws).mkdir(parents=True, exist_ok=True)
    rq.taken_dir(ws).mkdir(parents=True, exist_ok=True)
    for i, bad in enumerate(["../../elsewhere/run", "", None, SYMLINKED_ID + "/..", 7]):
        rid = f"20260101-000000-00000{i}-abcdef"
        ptr = {"request_id": rid, "kind": "export", "job_id": bad, "base_model": "tiny-demo"}
        atomic_write_json(rq.inbox(ws) / f"{rid}.json", ptr)
        atomic_write_json(rq.taken_dir(ws) / f"{rid}.json", ptr)
    assert rq.pending(ws) == [] and rq.taken(ws) == []
