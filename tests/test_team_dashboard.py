"""Team use in the dashboard (AppTest, no browser): the refusal page in header mode without the header, the owner
in Trainings and details, a job's history from the audit trail, Settings with the trail. The signed-in users of
header mode, refused buttons and the admin are tested through a real nginx in tests/test_team_nginx.py."""
from __future__ import annotations

import pytest

from jobs.atomic import atomic_write_json
from jobs.state import read_spec
from jobs.team import audit, auth
from tests.helpers import fake_run, open_page, text_of


@pytest.fixture
def home(ws, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    return ws


def test_header_mode_without_the_header_gets_only_the_refusal(home):
    atomic_write_json(home.home / "config.json", {"auth": {"mode": "header", "header": "X-Remote-User"}})
    fake_run(home, "secret-run")
    at = open_page("trainings")
    text = text_of(at)
    assert "X-Remote-User" in text and "Sign-in required" in text
    assert "secret-run" not in text and not at.dataframe  # nothing else of the workspace


def test_owner_shown_in_trainings_details_and_its_history(home):
    job = fake_run(home, "owned-run")
    me = auth.os_user()
    audit.record(home, me, "cli", "retry", job)
    at = open_page("trainings")
    df = at.dataframe[0].value
    assert "owner" in df.columns
    assert f"Signed in as {me}" in text_of(at)
    at = open_page("details", id=job)
    text = text_of(at)
    assert "History" in text
    hist = [d.value for d in at.dataframe if "Action" in d.value.columns]
    assert hist and list(hist[0]["Action"]) == ["retry"] and list(hist[0]["From"]) == ["cli"]


def test_settings_show_the_audit_trail_in_mode_none(home):
    audit.record(home, "someone", "spool", "submit", None)
    at = open_page("settings")
    assert "Audit trail" in text_of(at)
    assert any("Who" in d.value.columns and "someone" in list(d.value["Who"]) for d in at.dataframe)


def test_compare_shows_each_runs_owner(home):
    a, b = fake_run(home, "run-a"), fake_run(home, "run-b")
    for job, owner in ((a, "tdcarol"), (b, "tddave")):
        atomic_write_json(home.run_dir(job) / "spec.json", {**read_spec(home.run_dir(job)), "owner": owner})
    at = open_page("compare", jobs=f"{a},{b}")
    text = text_of(at)
    assert "Owner: tdcarol" in text and "Owner: tddave" in text
    params = [d.value for d in at.dataframe if "owner" in list(d.value.index)]  # differing, so in the table
    assert params and set(params[0].loc["owner"]) == {"tdcarol", "tddave"}


def test_every_refusal_reads_in_chinese_on_the_chinese_page():
    """jobs/team/auth.py says why in English (CLI, audit); the dashboard's 中文 page shows each reason in Chinese."""
    from dashboard.i18n_validation import translate_message
    cfg = auth.AuthConfig(mode="header", admins=frozenset({"alice"}))
    reasons = {auth.may(cfg, None, "cancel", "bob"), auth.priority_problem(cfg, "bob", 50),
               auth.owner_for_drop(cfg, "bob", "eve")[1]}
    reasons |= {auth.may(cfg, "bob", a, o) for a in auth.OWNER_ACTIONS + auth.ADMIN_ACTIONS for o in ("carol", None)}
    reasons.discard(None)
    assert len(reasons) >= len(auth.OWNER_ACTIONS) + len(auth.ADMIN_ACTIONS)
    for reason in reasons:
        zh = translate_message(reason)
        assert zh, reason
        assert not any(w in zh for w in ("only", "admin", "may", "this job") + auth.OWNER_ACTIONS), (reason, zh)
    assert translate_message("only carol or an admin may cancel this job") == "只有 carol 或管理员可以取消此任务"
