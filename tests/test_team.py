"""Team use: owners from the real OS user that drops a spec, permissions checked where the action happens (the CLI
here), service accounts, quotas on queued jobs, and an audit trail of whole lines."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from jobs.atomic import atomic_write_json
from jobs.team import audit, auth
from jobs.team.guard import Refused, authorize
from spooler.pickup import Pickup
from tests.conftest import demo_workspace
from tests.helpers import as_user as _as_user
from tests.helpers import os_user_named as _user
from tests.spool_helpers import Spooler, drop, spec, wait_for

USERS = ("tdalice", "tdbob")


@pytest.fixture
def team(demo_home):
    """A shared workspace (world-writable, as a team's group-writable one would be) and two real OS users."""
    if os.geteuid() != 0:
        pytest.skip("creating OS users and acting as them needs root")
    users = {n: _user(n) for n in USERS}
    old_umask = os.umask(0)  # the members share every file, as a group-shared workspace with umask 002 would
    top = Path(tempfile.mkdtemp(prefix="tunedeck-team-"))
    ws = demo_workspace(top / "ws", demo_home)
    atomic_write_json(ws.home / "config.json", {"auth": {"mode": "header", "admins": ["root"]}})
    audit.path(ws).touch()  # a team's shared workspace: the trail is writable by every member
    subprocess.run(["chmod", "-R", "a+rwX", str(top)], check=True)
    yield ws, users
    os.umask(old_umask)
    shutil.rmtree(top, ignore_errors=True)


def _drop_as(ws, user: pwd.struct_passwd, name: str, obj: dict) -> None:
    path = drop(ws, name, obj)
    os.chown(path, user.pw_uid, user.pw_gid)


def test_a_dropped_spec_belongs_to_the_files_owner_and_naming_another_owner_needs_an_admin(team):
    ws, users = team
    alice, bob = users["tdalice"], users["tdbob"]
    _drop_as(ws, alice, "a.json", spec("alices"))
    _drop_as(ws, bob, "b.json", {**spec("bob-for-alice"), "owner": "tdalice"})
    drop(ws, "c.json", {**spec("root-for-bob"), "owner": "tdbob"})  # root is an admin here
    accepted = [j for j in Pickup(ws, settle=0).scan() if j]
    owners = {json.loads(ws.run(j).spec.read_text())["name"]: json.loads(ws.run(j).spec.read_text())["owner"]
              for j in accepted}
    assert owners == {"alices": "tdalice", "root-for-bob": "tdbob"}
    reason = (ws.rejected / "b.json.error.txt").read_text()
    assert "only an admin or a service account may submit for another user" in reason
    lines = audit.recent(ws)
    assert [(r["who"], r["action"], r["allowed"]) for r in lines].count(("tdbob", "submit", False)) == 1
    assert sum(r["allowed"] and r["action"] == "submit" for r in lines) == 2


def test_a_service_account_may_submit_for_people(team):
    ws, users = team
    atomic_write_json(ws.home / "config.json", {"auth": {"mode": "header", "admins": ["root"],
                                                         "service_accounts": ["tdbob"]}})
    _drop_as(ws, users["tdbob"], "ci.json", {**spec("ci-run"), "owner": "tdalice"})
    (job,) = [j for j in Pickup(ws, settle=0).scan() if j]
    assert json.loads(ws.run(job).spec.read_text())["owner"] == "tdalice"


def test_the_cli_refuses_another_users_job_and_an_admin_may(team):
    from spooler.__main__ import main as spooler_main
    ws, users = team
    _drop_as(ws, users["tdalice"], "a.json", spec("alices"))
    (job,) = [j for j in Pickup(ws, settle=0).scan() if j]
    spooler_main(["status", "--home", str(ws.home)])  # imports done as root, before the children drop privileges
    err = Path(tempfile.mkdtemp()) / "err"
    os.chmod(err.parent, 0o777)

    def cancel() -> int:
        import contextlib
        with open(err, "w") as fh, contextlib.redirect_stderr(fh):
            return spooler_main(["cancel", job, "--home", str(ws.home)])
    assert _as_user(users["tdbob"], cancel) == 1
    assert "only tdalice or an admin may cancel this job" in err.read_text()
    assert json.loads(ws.run(job).state.read_text())["status"] == "queued"
    assert _as_user(users["tdbob"], lambda: spooler_main(["priority", job, "5", "--home", str(ws.home)])) == 1
    assert _as_user(users["tdalice"], lambda: spooler_main(["priority", job, "5", "--home", str(ws.home)])) == 1, \
        "a user may not raise a priority above max_user_priority (0)"
    assert _as_user(users["tdalice"], lambda: spooler_main(["hold", job, "--home", str(ws.home)])) == 0
    assert spooler_main(["cancel", job, "--home", str(ws.home)]) == 0  # root is an admin
    assert json.loads(ws.run(job).state.read_text())["status"] == "cancelled"
    trail = [(r["who"], r["action"], r["allowed"]) for r in audit.recent(ws, job=job)]
    assert trail == [("tdalice", "submit", True), ("tdbob", "cancel", False), ("tdbob", "priority", False),
                     ("tdalice", "priority", False), ("tdalice", "hold", True), ("root", "cancel", True)]


def test_without_auth_everyone_may_act_and_the_owner_is_still_recorded(ws):
    drop(ws, "x.json", spec("mine"))
    (job,) = [j for j in Pickup(ws, settle=0).scan() if j]
    assert json.loads(ws.run(job).spec.read_text())["owner"] == auth.os_user()
    authorize(ws, "someone-else", "cli", "cancel", job)  # mode none: allowed, and audited
    assert audit.recent(ws, job=job)[-1]["allowed"] is True


def test_permission_rules():
    cfg = auth.AuthConfig(mode="header", admins=frozenset({"ada"}), max_user_priority=0)
    assert auth.may(cfg, "bo", "cancel", "bo") is None
    assert "only al or an admin" in auth.may(cfg, "bo", "cancel", "al")
    assert auth.may(cfg, "ada", "delete", "al") is None
    assert auth.may(cfg, "bo", "settings", None).startswith("only an admin")
    assert auth.may(cfg, None, "cancel", "al") == "you are not signed in"
    assert auth.priority_problem(cfg, "bo", 1) and auth.priority_problem(cfg, "ada", 1000) is None
    assert auth.may(auth.AuthConfig(), "anyone", "settings", None) is None


def test_a_bad_auth_config_is_reported_and_never_opens_a_team_install(ws):
    atomic_write_json(ws.home / "config.json", {"auth": {"mode": "hedaer", "admins": "ada"}})
    cfg = auth.load(ws)
    assert cfg.mode == "header" and not cfg.admins
    assert any("auth.mode 'hedaer'" in p for p in cfg.problems) and any("auth.admins" in p for p in cfg.problems)
    with pytest.raises(Refused):
        authorize(ws, "bo", "dashboard", "settings", cfg=cfg)


def test_max_queued_rejects_a_submission_with_the_reason(ws):
    atomic_write_json(ws.home / "config.json", {"quotas": {"*": {"max_queued": 2}}})
    for i in range(3):
        drop(ws, f"q{i}.json", spec(f"q{i}"))
    accepted = [j for j in Pickup(ws, settle=0).scan() if j]
    assert len(accepted) == 2
    reasons = " ".join(p.read_text() for p in ws.rejected.glob("*.error.txt"))
    assert "may have at most 2" in reasons


def test_audit_lines_stay_whole_under_concurrent_writers(ws):
    def burst(k):
        for i in range(200):
            audit.record(ws, f"user{k}", "cli", "hold", f"job-{k}-{i}", detail="x" * (i * 17 % 3000))
    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = audit.path(ws).read_bytes().splitlines()
    assert len(lines) == 800 and all(json.loads(x)["action"] == "hold" for x in lines)


def test_kill9_of_the_spooler_during_a_burst_leaves_whole_audit_lines(ws):
    with Spooler(ws) as sp:
        for i in range(120):
            drop(ws, f"burst{i:03d}.json", spec(f"burst{i}", notes="sleep=0.01"))
        wait_for(lambda: audit.path(ws).exists() and len(audit.path(ws).read_bytes().splitlines()) >= 20, 60)
        sp.kill9()
    data = audit.path(ws).read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(x) for x in data.splitlines()]
    assert rows and all(r["action"] == "submit" and r["from"] == "spool" for r in rows)
