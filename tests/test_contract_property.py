"""Wrongly typed contract files: each makes its own run "unreadable: <reason>" and nothing else breaks.

Hypothesis corrupts one field of one file (state, spec, progress, summary, outcome, trainer.json, spooler.json) with a
JSON value of another type, then runs the daemon's pass, `spooler status` and every dashboard page.
"""
import html
import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from jobs import contract
from jobs.atomic import atomic_write_json
from jobs.state import create_run, new_job_id, read_state, update_state
from jobs.status import JobStatus
from jobs.workspace import Workspace
from spooler import cli
from spooler.daemon import Daemon, Options
from tests.helpers import open_page

RUN_FILES = ("state.json", "spec.json", "progress.json", "summary.json", "outcome.json", "trainer.json")
LIVE = ("state.json", "spec.json", "progress.json", "summary.json")  # what lists and pages read
SPEC = {"name": "victim", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "priority": 0,
        "parent_job": None, "notes": "", "params": {"max_steps": 2, "learning_rate": 1e-3}}
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=5)


@st.composite
def corruptions(draw, files=RUN_FILES + ("spooler.json",)):
    """(file, field or None for the whole file, a value of a type that field does not allow)."""
    name = draw(st.sampled_from(files))
    schema = contract.SCHEMAS[name]
    if draw(st.integers(0, 9)) == 0:
        return name, None, draw(st.lists(json_values, max_size=2) | st.text(max_size=5) | st.integers())
    field = draw(st.sampled_from(sorted(schema)))
    kind = schema[field]
    return name, field, draw(json_values.filter(lambda v: not kind.ok(v)))


def healthy_run(ws: Workspace, name: str, status: JobStatus, **state) -> str:
    job = new_job_id()
    assert create_run(ws, job, {**SPEC, "name": name})
    rd = ws.run(job)
    update_state(rd, status=status, started_at="2026-11-28T05:00:00+00:00", host=socket.gethostname(),
                 pid=None, daemon_pid=1, daemon_create_time=1.0, **state)
    atomic_write_json(rd.progress, {"step": 1, "total_steps": 2, "percent": 50.0, "eta_seconds": 1.5,
                                    "elapsed_seconds": 1.0, "updated_at": 1.0})
    atomic_write_json(rd.summary, {"final_loss": 1.5, "best_loss": 1.2, "total_steps": 2, "runtime_seconds": 3.0,
                                   "adapter": "x", "rows": {"read": 4}})
    atomic_write_json(rd.outcome, {"exit_code": 1, "status": "failed", "error": "e", "finished_at": None})
    atomic_write_json(rd.trainer_info, {"pid": 999_999_99, "pid_create_time": 1.0, "host": socket.gethostname()})
    return job


def corrupt(ws: Workspace, job: str, corruption) -> None:
    name, field, value = corruption
    path = ws.spooler_heartbeat if name == "spooler.json" else ws.run(job) / name
    if name == "spooler.json":
        atomic_write_json(path, {"daemon_pid": 1, "updated_at": 0.0, "stopped": True, "slots": []})
    data = json.loads(path.read_text())
    if field is None:
        data = value
    else:
        data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(contract.Unreadable):
        contract.read(path)


def workspace(victim_status: JobStatus, corruption) -> tuple[Workspace, str, str, str]:
    """A victim run with one broken file, a healthy queued run and a healthy orphan (running, trainer gone)."""
    ws = Workspace(Path(tempfile.mkdtemp(prefix="contract-"))).ensure()
    victim = healthy_run(ws, "victim", victim_status)
    queued = healthy_run(ws, "queued", JobStatus.QUEUED)
    orphan = healthy_run(ws, "orphan", JobStatus.RUNNING)
    ws.run(orphan).outcome.unlink()
    corrupt(ws, victim, corruption)
    return ws, victim, queued, orphan


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(corruption=corruptions(), victim_status=st.sampled_from(list(JobStatus)))
def test_daemon_pass_and_status_go_on_past_a_broken_run(corruption, victim_status, caplog):
    ws, victim, queued, orphan = workspace(victim_status, corruption)
    try:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            d = Daemon(ws, Options(slots=3, gpus=[], trainer_cmd=["true"]))
            d.slot_gpus = [None] * 3
            d.recover()
            d.step()
        # The rest went on: the orphan is settled, the healthy queued job was started.
        assert read_state(ws.run(orphan))["error"] == "interrupted: spooler stopped"
        assert read_state(ws.run(queued))["status"] != JobStatus.QUEUED
        file = corruption[0]
        if file == "state.json":
            assert any("unreadable: state.json" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
        assert contract.read(ws.spooler_heartbeat)["slots"]  # the daemon's own heartbeat passes its reader

        if file == "spooler.json":  # the daemon's heartbeat replaced it; break it again for `spooler status`
            corrupt(ws, victim, corruption)
        data = cli.status_data(ws)
        cli.print_status(data)
        reasons = {u["job_id"]: u["error"] for u in data["unreadable"]}
        running_now = file != "state.json" and read_state(ws.run(victim))["status"] == JobStatus.RUNNING
        if file in ("state.json", "spec.json") or (file == "progress.json" and running_now):
            assert reasons[victim].startswith(f"unreadable: {file}: ")
        if file == "spooler.json":
            assert reasons[None].startswith("unreadable: spooler.json: ") and not data["spooler_running"]
        assert orphan not in reasons and queued not in reasons
    finally:
        shutil.rmtree(ws.home, ignore_errors=True)


def page(name: str, **query) -> AppTest:
    return open_page(name, timeout=90, **query)


def shown(at) -> str:
    text = "\n".join(str(x.value) for x in [*at.error, *at.warning, *at.info, *at.markdown, *at.caption])
    return html.unescape(text)  # run-provided text arrives as character references


@settings(max_examples=int(os.environ.get("TUNEDECK_PAGE_EXAMPLES", "6")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(corruption=corruptions(RUN_FILES), victim_status=st.sampled_from(list(JobStatus)))
def test_every_page_shows_a_broken_run_as_unreadable(corruption, victim_status, demo_home, monkeypatch):
    ws, victim, queued, orphan = workspace(victim_status, corruption)
    atomic_write_json(ws.models / "tiny-demo.json", {"path": str(demo_home / "models" / "tiny-demo")})
    shutil.copy(demo_home / "datasets" / "demo-instruct.jsonl", ws.datasets / "demo-instruct.jsonl")
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    try:
        live = corruption[0] in LIVE
        at = page("trainings")
        table = at.dataframe[0].value
        assert len(table) == 3
        row = table[table["job_id"] == victim].iloc[0]
        assert ("unreadable" in row["status"]) == live
        at = page("details", id=victim)
        assert ("unreadable: " + corruption[0] in shown(at)) == live
        page("details", id=queued)
        at = page("compare", jobs=f"{victim},{queued}")
        assert ("unreadable: " + corruption[0] in shown(at)) == (corruption[0] in ("state.json", "spec.json",
                                                                                    "summary.json"))
        at = page("new", copy=victim)
        assert ("unreadable: spec.json" in shown(at)) == (corruption[0] == "spec.json")
        for name in ("datasets", "models", "methods"):
            page(name)
    finally:
        shutil.rmtree(ws.home, ignore_errors=True)


@pytest.mark.parametrize("file,field,value,reason", [
    ("progress.json", "step", "5", 'step must be an integer, got "5"'),
    ("summary.json", "final_loss", [1], "final_loss must be a number or null, got [1]"),
    ("state.json", "created_at", 5, "created_at must be an ISO 8601 time string or null, got 5"),
    ("spec.json", "method", ["x"], 'method must be a string, got ["x"]'),
    ("state.json", "daemon_pid", "y", 'daemon_pid must be an integer or null, got "y"'),
    ("spec.json", "priority", "high", 'priority must be an integer or null, got "high"'),
])
def test_reported_corruptions_read_as_unreadable(tmp_path, file, field, value, reason):
    ws = Workspace(tmp_path).ensure()
    job = healthy_run(ws, "x", JobStatus.QUEUED)
    corrupt(ws, job, (file, field, value))
    with pytest.raises(contract.Unreadable) as e:
        contract.read(ws.run(job) / file)
    assert str(e.value) == f"unreadable: {file}: {reason}"


def test_typed_readers_accept_what_the_writers_write(ws):
    """The real trainer's and spooler's files pass their own readers (the schemas are not stricter than the writers)."""
    from tests.trainer_helpers import make_run, run
    run_dir = make_run(ws, "sft", max_steps=2, num_sample_prompts=1, eval_ratio=0.2)
    assert run(run_dir) == 0
    for name in RUN_FILES:
        assert contract.read(Path(run_dir) / name) is not None, name


def test_a_phase_written_before_training_keeps_progress_readable(tmp_path):
    """progress.json written while the base model is evaluated (no step yet) reads as step 0, not unreadable."""
    from jobs import contract
    from jobs.evaluation import PHASES
    from trainer.phases import Phases
    Phases(tmp_path).enter(PHASES[0])
    Phases(tmp_path).enter(PHASES[2], total=40)
    progress = contract.read(tmp_path / "progress.json")
    assert progress["step"] == 0 and progress["phase"] == PHASES[2] and progress["total"] == 40
