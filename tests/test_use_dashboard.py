"""The Try & export tab and Compare's Try it, through Streamlit's AppTest (the browser test drives the real worker)."""
import json

import pytest

from jobs.use import requests as rq
from tests.helpers import fake_run, open_page, real_adapter, text_of


@pytest.fixture
def home(ws, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    return ws


def test_try_form_writes_a_request_and_shows_it_waiting(home):
    job = fake_run(home, "tuned", status="succeeded")
    peer = fake_run(home, "peer", status="succeeded")
    real_adapter(home, home.run_dir(job))
    real_adapter(home, home.run_dir(peer))
    at = open_page("details", id=job)
    models = next(m for m in at.multiselect if m.label == "Models that answer")
    assert models.value == ["base", job] and "peer" in models.options  # another run of the same base may answer
    at.text_area(key=f"try_{job}_prompt").set_value("<b>Hi</b> there")
    at.checkbox(key=f"try_{job}_greedy").check()
    at.button(key=f"FormSubmitter:try_{job}_form-Send").click().run()
    assert not at.exception, [e.value for e in at.exception]
    hist = rq.try_history(home, job)
    assert len(hist) == 1 and hist[0]["targets"] == ["base", job] and hist[0]["settings"]["greedy"] is True
    assert hist[0]["prompt"] == "<b>Hi</b> there" and rq.pending(home)[0]["request_id"] == hist[0]["request_id"]
    assert "Waiting for a free slot…" in text_of(at)
    assert "<b>Hi</b> there" in [t.value for t in at.text]          # the prompt shows as text, not markup


def test_try_and_export_need_an_adapter_in_both_languages(home):
    job = fake_run(home, "broken", status="failed")
    at = open_page("details", id=job)
    assert "This run ended without an adapter, so there is nothing to try" in text_of(at)
    assert not [b for b in at.button if b.label == "Export merged model"]
    at.sidebar.selectbox[0].set_value("zh").run()
    assert "没有生成适配器，因此无法试用" in text_of(at) and "导出" in text_of(at)


def test_export_button_queues_an_export(home):
    job = fake_run(home, "done", status="succeeded")
    real_adapter(home, home.run_dir(job))
    at = open_page("details", id=job)
    at.button(key="x_export").click().run()
    assert rq.export_state(home.run_dir(job))["status"] == "waiting"
    assert [p["kind"] for p in rq.pending(home)] == ["export"]
    assert "Export queued: waiting for a free slot…" in text_of(at)
    assert json.loads((rq.inbox(home) / f"{rq.pending(home)[0]['request_id']}.json").read_text())["job_id"] == job


def test_compare_sends_one_prompt_to_every_run(home):
    a, b = fake_run(home, "a", status="succeeded"), fake_run(home, "b", status="succeeded")
    for j in (a, b):
        real_adapter(home, home.run_dir(j))
    at = open_page("compare", jobs=f"{a},{b}")
    key = next(t.key for t in at.text_area if t.key and t.key.startswith("try_compare_"))
    at.text_area(key=key).set_value("2+2?")
    form = key[: -len("_prompt")] + "_form"
    at.button(key=f"FormSubmitter:{form}-Send").click().run()
    assert not at.exception, [e.value for e in at.exception]
    req = rq.try_history(home, a)[0]
    assert req["targets"] == ["base", a, b]
