"""Notifications neither lost nor stuck (issue #25): real HTTP servers on 127.0.0.1, each bounded and self-stopping."""
import base64
import json
import socketserver
import threading
import time

import pytest

from jobs.atomic import atomic_write_json
from jobs.queue.spool import submit
from jobs.settings.notify_config import (
    config_path,
    load_config,
    recent_attempts,
    shown_url,
    write_notify,
)
from spooler.notify import _h, post
from tests.helpers import Hook
from tests.spool_helpers import Spooler, all_final, spec, wait_for

LIFETIME = 90.0  # every server here stops by itself after this long


class Trickle:
    """Answers every connection with one byte of a status line every 3 s: never a whole answer."""

    def __init__(self, gap=3.0):
        self.stop = threading.Event()
        self.connections = 0
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                outer.connections += 1
                self.request.recv(65536)
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                    if outer.stop.wait(gap):
                        return
                    try:
                        self.request.sendall(bytes([b]))
                    except OSError:
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Timer(LIFETIME, self.close).start()

    def close(self):
        if not self.stop.is_set():
            self.stop.set()
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    timer = threading.Timer(LIFETIME, h.close)
    timer.start()
    yield h
    timer.cancel()
    h.close()


@pytest.fixture
def trickle():
    t = Trickle()
    yield t
    t.close()


def test_a_post_has_a_total_deadline_against_a_trickling_target(trickle):
    t = time.monotonic()
    ok, detail = post(trickle.url, {"x": 1}, deadline=2.0)
    assert not ok and detail == "no complete answer within 2 s"
    assert time.monotonic() - t < 4.0


def test_a_slow_target_never_holds_up_another(ws, hook, trickle):
    assert write_notify(ws, [{"url": trickle.url, "on": ["succeeded"], "format": "json"},
                             {"url": hook.url + "/fast", "on": ["succeeded"], "format": "json"}]) == []
    with Spooler(ws) as sp:
        job, _ = submit(ws, spec("quick", notes="sleep=0.05"))
        wait_for(lambda: all_final(ws, 1))
        ended = time.time()
        wait_for(lambda: len(hook.bodies("/fast")) == 1, 20)
        assert time.time() - ended < 4.0  # not behind the trickling target's 3 s per byte
        assert trickle.connections >= 1
        sp.stop()
    assert hook.bodies("/fast")[0]["job_id"] == job


def test_a_pending_claim_for_a_removed_target_is_dropped_after_a_restart(ws, hook):
    write_notify(ws, [{"url": hook.url + "/gone", "on": ["succeeded"], "format": "json"}])
    hook.down = True
    with Spooler(ws) as sp:
        submit(ws, spec("while-down", notes="sleep=0.05"))
        wait_for(lambda: hook.seen.get("/gone", 0) >= 1, 20)
        sp.kill9()
    hook.down = False
    write_notify(ws, [{"url": hook.url + "/kept", "on": ["failed"], "format": "json"}])  # /gone removed
    before = hook.seen.get("/gone", 0)
    with Spooler(ws) as sp:
        wait_for(lambda: "was removed from config.json; dropped" in sp.text(), 20)
        time.sleep(2)
        sp.stop()
    assert hook.seen.get("/gone", 0) == before and hook.bodies("/gone") == []
    claims = [json.loads(p.read_text()) for p in (ws.home / "notify" / "claims").glob("*.json")]
    assert [c["state"] for c in claims] == ["dropped"]


def test_an_empty_claim_left_by_a_crash_is_made_again_and_sent(ws, hook):
    url = hook.url + "/once"
    write_notify(ws, [{"url": url, "on": ["succeeded"], "format": "json"}])
    job, _ = submit(ws, spec("crashed-claim", notes="sleep=0.05"))
    claims = ws.home / "notify" / "claims"
    claims.mkdir(parents=True)
    (claims / f"{job}.1.succeeded.{_h(url + 'json')}.json").write_bytes(b"")  # what a kill -9 used to leave
    with Spooler(ws) as sp:
        wait_for(lambda: len(hook.bodies("/once")) == 1, 30)
        time.sleep(1.5)
        sp.stop()
    assert [b["job_id"] for b in hook.bodies("/once")] == [job]
    assert all(p.stat().st_size > 0 for p in claims.glob("*.json"))


def test_a_bad_dashboard_url_neither_loses_the_message_nor_leaves_an_empty_claim(ws, hook):
    atomic_write_json(config_path(ws), {"notify": [{"url": hook.url + "/d", "on": ["succeeded"]}],
                                        "dashboard_url": 5})
    with Spooler(ws) as sp:
        job, _ = submit(ws, spec("link", notes="sleep=0.05"))
        wait_for(lambda: len(hook.bodies("/d")) == 1, 30)
        assert "dashboard_url: must be an http:// or https:// address (got 5)" in sp.text()
        sp.stop()
    assert hook.bodies("/d")[0]["url"] == f"http://localhost:8501/training?id={job}"
    assert all(p.stat().st_size > 0 for p in (ws.home / "notify" / "claims").glob("*.json"))


BAD = {"notify": [{"url": "http://127.0.0.1:9/a hook", "on": ["failed"]},
                  {"url": "http://[::1/hook", "on": ["failed"]},
                  {"url": "GOOD", "on": ["succeeded"]}],
       "notify_retry_seconds": "ten", "model_roots": ["/data/models"]}


def test_every_bad_field_is_named_once_and_the_good_entry_still_delivers(ws, hook):
    atomic_write_json(config_path(ws), json.loads(json.dumps(BAD).replace("GOOD", hook.url + "/good")))
    problems = load_config(ws).problems
    assert problems == [
        "notify[0].url: must be an http:// or https:// address without spaces or control characters "
        "(got 'http://127.0.0.1:9/a hook')",
        "notify[1].url: is not a valid address (Invalid IPv6 URL) (got 'http://[::1/hook')",
        "notify_retry_seconds: must be a number of seconds from 1 to 604800 (got \"ten\"); using 600"]
    with Spooler(ws) as sp:
        submit(ws, spec("good", notes="sleep=0.05"))
        wait_for(lambda: len(hook.bodies("/good")) == 1, 30)
        time.sleep(2.5)
        text = sp.text()
        assert sp.p.poll() is None and "Traceback" not in text
        for p in problems:
            assert text.count(p) == 1, p  # one line per problem, not one per second
        sp.stop()


def test_a_config_that_does_not_parse_is_named_and_never_saved_over(ws):
    config_path(ws).write_text('{"model_roots": ["/data/models"],\n "notify": [],\n}\n')
    conf = load_config(ws)
    assert conf.parse_error.endswith("is not valid JSON: line 3 column 1: Expecting property name enclosed in "
                                     "double quotes") and conf.entries == []
    problems = write_notify(ws, [{"url": "http://127.0.0.1:9/x", "on": ["failed"]}])
    assert problems and "fix the file by hand first" in problems[0]
    assert config_path(ws).read_text().startswith('{"model_roots": ["/data/models"],')  # untouched


def test_user_info_in_a_url_is_hidden_and_sent_as_basic_auth(ws):
    seen = {}
    h = Hook()
    orig = h.server.RequestHandlerClass.do_POST  # each Hook has its own handler class

    def do_post(self):
        seen["auth"] = self.headers.get("Authorization")
        orig(self)
    h.server.RequestHandlerClass.do_POST = do_post
    try:
        url = h.url.replace("http://", "http://bot:s3cr3t-token@") + "/hook"
        assert shown_url(url) == f"http://127.0.0.1:{h.server.server_address[1]}/…"
        write_notify(ws, [{"url": url, "on": ["succeeded"], "format": "json"}])
        with Spooler(ws) as sp:
            submit(ws, spec("auth", notes="sleep=0.05"))
            wait_for(lambda: len(h.bodies("/hook")) == 1, 30)
            time.sleep(1)
            sp.stop()
            assert "s3cr3t" not in sp.text()
        assert seen["auth"] == "Basic " + base64.b64encode(b"bot:s3cr3t-token").decode()
        assert "s3cr3t" not in json.dumps(recent_attempts(ws))
    finally:
        h.close()


def test_a_redirect_is_not_followed_and_counts_as_a_failure(ws, hook):
    other = Hook()
    moved = {"/to-ftp": "ftp://example.invalid/x", "/to-other": other.url + "/stolen"}

    def do_post(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        hook.seen[self.path] = hook.seen.get(self.path, 0) + 1
        self.send_response(302)
        self.send_header("Location", moved[self.path])
        self.end_headers()
    hook.server.RequestHandlerClass.do_POST = do_post
    try:
        for path in moved:
            ok, detail = post(hook.url + path, {"x": 1})
            assert not ok and detail.startswith("HTTP 302: a redirect") and "not followed" in detail
        assert other.posts == [] and other.seen == {}
    finally:
        other.close()


def test_settings_shows_config_problems_hides_user_info_and_keeps_it_on_save(ws, monkeypatch):
    from tests.helpers import open_page, text_of
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    atomic_write_json(config_path(ws), {**BAD, "notify": [*BAD["notify"][:2], {
        "url": "https://bot:tok3n@hooks.example/x", "on": ["failed"]}]})
    at = open_page("settings")
    text = text_of(at)
    assert not at.exception
    assert "notify[1].url: is not a valid address (Invalid IPv6 URL)" in text and "notify_retry_seconds" in text
    assert list(at.dataframe[0].value["url"])[2] == "https://***@hooks.example/x" and "tok3n" not in text
    config_path(ws).write_text(json.dumps({"model_roots": ["/m"], "notify": [
        {"url": "https://bot:tok3n@hooks.example/x", "on": ["failed"]}]}))
    at = open_page("settings")
    at.button(key="btn_save_notify").click().run()
    saved = json.loads(config_path(ws).read_text())
    assert saved["notify"][0]["url"] == "https://bot:tok3n@hooks.example/x" and saved["model_roots"] == ["/m"]
    config_path(ws).write_text('{"model_roots": ["/m"],}')
    at = open_page("settings")
    assert "is not valid JSON: line 1 column 24" in text_of(at) and at.button(key="btn_save_notify").disabled
