"""Team use in the dashboard (AppTest, no browser): the refusal page in header mode without the header, the owner
in Trainings and details, a job's history from the audit trail, Settings with the trail. The signed-in users of
header mode, refused buttons and the admin are tested through a real nginx in tests/test_team_nginx.py."""
from __future__ import annotations

from jobs.atomic import atomic_write_json
from jobs.team import audit, auth
from tests.test_dashboard import fake_run, home, open_page, text_of  # noqa: F401 - home is a fixture


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
