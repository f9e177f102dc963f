"""The owner where people look (spooler status, notifications) and the export CLI's permission check."""
from __future__ import annotations

import subprocess
import sys

from jobs.atomic import atomic_write_json
from jobs.spec import validate
from jobs.state import create_run, new_job_id, update_state
from jobs.team import audit, auth
from spooler.cli import print_status, status_data
from spooler.notify import job_payload
from tests.conftest import REPO


def _job(ws, owner: str, status: str = "succeeded") -> str:
    v = validate({"name": f"run-of-{owner}", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                  "owner": owner, "params": {"max_steps": 2}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    update_state(ws.run_dir(job), status=status, error="boom" if status == "failed" else None,
                 started_at="2026-12-06T08:00:00+00:00", finished_at="2026-12-06T08:01:00+00:00")
    return job


def test_status_and_notifications_name_the_owner(ws, capsys):
    failed = _job(ws, "tdcarol", "failed")
    ok = _job(ws, "tddave")
    data = status_data(ws)
    assert data["recent_failures"][0]["owner"] == "tdcarol"
    print_status(data)
    assert f"{failed}  run-of-tdcarol  (tdcarol): boom" in capsys.readouterr().out
    run = ws.run_dir(ok)
    spec = {"owner": "tddave"}
    st = {"status": "succeeded"}
    assert job_payload(run, st, spec, "json", {})["owner"] == "tddave"
    assert "run-of-tddave* (tddave) succeeded" in job_payload(run, st, spec, "slack", {})["text"]


def test_export_cli_refuses_a_job_of_another_user(ws):
    atomic_write_json(ws.home / "config.json", {"auth": {"mode": "header", "admins": ["tdnobody"]}})
    job = _job(ws, "tdcarol")
    p = subprocess.run([sys.executable, "-m", "spooler", "export", job, "--home", str(ws.home)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "only tdcarol or an admin may export this job" in p.stderr and "Traceback" not in p.stderr
    line = audit.recent(ws, job=job)[-1]
    assert (line["who"], line["from"], line["action"], line["allowed"]) == (auth.os_user(), "cli", "export", False)
    assert not (ws.run_dir(job) / "export").exists()
