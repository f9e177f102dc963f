"""Notifications against a local HTTP server on 127.0.0.1: once per terminal state, retried, never duplicated."""
import json

import pytest

from jobs.atomic import atomic_write_json
from jobs.queue.spool import submit, submit_any
from jobs.settings.notify_config import check_entries, config_path, recent_attempts, write_notify
from jobs.state import retry_job
from jobs.team.auth import os_user
from tests.helpers import Hook, wait_for_passes_of_each
from tests.spool_helpers import Spooler, all_final, spec, statuses, wait_for, wait_for_passes


def claims(ws) -> list[dict]:
    """The notifier's claim files: one per delivery, in its state (pending, delivered, ...)."""
    return [json.loads(p.read_text()) for p in sorted((ws.home / "notify" / "claims").glob("*.json"))]


@pytest.fixture
def hook():
    h = Hook(fail_first=1)
    yield h
    h.close()


def test_once_per_terminal_state_retried_and_not_repeated_after_restart(ws, hook):
    old, _ = submit(ws, spec("before-config", notes="sleep=0.05"))
    with Spooler(ws) as sp:
        wait_for(lambda: all_final(ws, 1))
        sp.stop()
    assert write_notify(ws, [{"url": hook.url + "/json", "on": ["succeeded", "failed", "cancelled"], "format": "json"},
                             {"url": hook.url + "/slack", "on": ["failed"], "format": "slack"}]) == []
    with Spooler(ws) as sp:
        ok, _ = submit(ws, spec("fine", notes="sleep=0.1"))
        bad, _ = submit(ws, spec("broken", notes="sleep=0.1;exit=3"))
        wait_for(lambda: all_final(ws, 3))
        wait_for(lambda: len(hook.bodies("/json")) == 2 and len(hook.bodies("/slack")) == 1, 20)
        wait_for(lambda: len(claims(ws)) == 3 and all(c["state"] == "delivered" for c in claims(ws)), 10)
        sp.kill9()  # (a kill between the POST and its record would send it again: at least once, by design)
    by_job = {b["job_id"]: b for b in hook.bodies("/json")}
    assert set(by_job) == {ok, bad}  # the job that ended before notifications were configured stays quiet
    assert by_job[ok]["status"] == "succeeded" and by_job[ok]["url"].endswith(f"/training?id={ok}")
    assert by_job[ok]["headline"] is None and by_job[ok]["state"]["status"] == "succeeded"
    assert by_job[bad]["event"] == "job.failed" and by_job[bad]["state"]["error"] == "fake failure 3"
    text = hook.bodies("/slack")[0]["text"]
    assert f"*broken* ({os_user()}) failed after" in text and "fake failure 3" in text and f"training?id={bad}|details>" in text
    assert hook.seen["/json"] == 3  # the first POST got a 500 and was retried
    tries = recent_attempts(ws)
    assert [t["ok"] for t in tries if t["target"].endswith(":" + hook.url.rsplit(":", 1)[1] + "/…")][-1] is False
    assert any("HTTP 500" == t["detail"] for t in tries) and "/json" not in json.dumps(tries)  # path hidden

    with Spooler(ws) as sp:  # a restart re-reads every finished job and sends nothing again
        wait_for_passes(ws, 3)
        assert len(hook.posts) == 3
        retry_job(ws, bad)  # a new attempt that ends is a new terminal state
        wait_for(lambda: statuses(ws)[bad] == "failed" and len(hook.bodies("/json")) == 3, 20)
        sp.stop()
    assert len(hook.bodies("/slack")) == 2 and len(hook.posts) == 5


def test_a_pending_delivery_survives_a_crash_and_is_sent_once(ws, hook):
    write_notify(ws, [{"url": hook.url + "/down", "on": ["succeeded"], "format": "json"}])
    hook.down = True
    with Spooler(ws) as sp:
        job, _ = submit(ws, spec("while-down", notes="sleep=0.05"))
        wait_for(lambda: hook.seen.get("/down", 0) >= 2, 20)  # failing, retrying with backoff
        sp.kill9()
    hook.down = False
    with Spooler(ws) as a, Spooler(ws) as b:  # two daemons: one takes the delivery over
        wait_for(lambda: len(hook.bodies("/down")) == 1, 20)
        wait_for(lambda: [c["state"] for c in claims(ws)] == ["delivered"], 10)
        wait_for_passes_of_each(ws, (a.p.pid, b.p.pid), 3)  # the other daemon passes over it and sends nothing
        assert [x["job_id"] for x in hook.bodies("/down")] == [job]
        a.stop()
        b.stop()


def test_a_group_notifies_once_when_its_last_run_ends(ws, hook):
    hook.fail_first = 0
    write_notify(ws, [{"url": hook.url + "/group", "on": ["succeeded", "failed"], "format": "slack", "per": "group"},
                      {"url": hook.url + "/runs", "on": ["succeeded"], "format": "json"}])
    with Spooler(ws) as sp:
        ids, x = submit_any(ws, {**spec("sw", notes="sleep=0.1"), "sweep": {"lora_rank": [4, 8, 16]}})
        wait_for(lambda: all_final(ws, 3))
        wait_for(lambda: len(hook.bodies("/group")) == 1 and len(hook.bodies("/runs")) == 3, 20)
        wait_for(lambda: [c["state"] for c in claims(ws)] == ["delivered"] * 4, 10)
        wait_for_passes(ws, 3)  # later passes over the finished group send nothing more
        sp.stop()
    assert len(hook.bodies("/group")) == 1
    text = hook.bodies("/group")[0]["text"]
    assert "sweep *sw* finished: 3 succeeded" in text and f"compare?group={x.group['id']}|compare>" in text


def test_bad_entries_are_named():
    _, problems = check_entries([{"url": "ftp://x", "on": ["done"], "format": "xml", "per": "team", "to": 1}])
    assert problems == [
        "notify[0]: unknown key(s) to; allowed: url, on, format, per",
        "notify[0].url: must be an http:// or https:// address (got 'ftp://x')",
        "notify[0].on: must list events from succeeded, failed, cancelled, regressed (got ['done'])",
        "notify[0].format: must be one of slack, json (got 'xml')",
        "notify[0].per: must be one of run, group (got 'team')"]


def test_a_broken_config_is_logged_and_the_spooler_keeps_running(ws):
    atomic_write_json(config_path(ws), {"notify": [{"url": "nope"}]})
    with Spooler(ws) as sp:
        submit(ws, spec("still-runs", notes="sleep=0.05"))
        wait_for(lambda: all_final(ws, 1))
        wait_for(lambda: "notify[0].url" in sp.text(), 10)
        assert sp.p.poll() is None
        sp.stop()
