"""The dashboard's pages in headless Chromium, against one server: no magic output on failed and cancelled jobs,
no request to any other host whatever the names and outputs say, and a ticked job stays ticked when the list moves."""
import json
import os
import re
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from jobs.state import update_state
from tests.conftest import REPO, demo_workspace
from tests.helpers import chromium_browser, fake_run, needs_chromium, streamlit_server
from tests.spool_helpers import Spooler, wait_for

pytestmark = needs_chromium

EVIL = "http://attacker.example"


@pytest.fixture(scope="module")
def site(tmp_path_factory, demo_home):
    """One workspace and one dashboard server for the whole module."""
    ws = demo_workspace(tmp_path_factory.mktemp("pages") / "ws", demo_home)
    # The repository's .streamlit/config.toml applies (runner.magicEnabled = false is part of what is tested).
    with streamlit_server(ws.home, ws.home / "dashboard.log") as base, chromium_browser() as browser:
        yield ws, base, browser


def open_page(browser, base, path, wait_text, timeout=60000):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname not in ("127.0.0.1", None) else None)
    page.goto(base + path)
    page.get_by_text(wait_text).first.wait_for(timeout=timeout, state="attached")  # grid cells are hidden a11y text
    return page, outside


def test_config_turns_magic_off():
    import tomllib
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["magicEnabled"] is False
    # An idle tab's live check is a fragment run: a full gc after each one was most of what idle tabs cost.
    assert cfg["runner"]["postScriptGC"] is False and cfg["server"]["fileWatcherType"] == "none"
    # `tunedeck start` may run from any folder, where streamlit does not read this file: it passes the same.
    from tunedeck.cli import dashboard_cmd
    cmd = " ".join(dashboard_cmd([]))
    for section, values in cfg.items():
        for key, value in values.items():
            if section == "server" and key == "port":
                continue
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            assert f"--{section}.{key} {shown}" in cmd, (section, key)


def test_failed_and_cancelled_jobs_show_their_reason_and_no_internals(site):
    ws, base, browser = site
    failed = fake_run(ws, "broken-run", status="failed", metrics=False)
    cancelled = fake_run(ws, "stopped-run", status="cancelled", metrics=False)
    update_state(ws.run_dir(cancelled), error="cancelled by request")
    for job, reason in ((failed, "boom: something broke"), (cancelled, "cancelled by request")):
        page, _ = open_page(browser, base, f"/training?id={job}", reason)
        page.get_by_role("tab", name="Overview").wait_for()
        body = page.inner_text("body")
        assert "DeltaGenerator" not in body and "Docstring" not in body and "Parameters\n----------" not in body
        page.close()


def test_no_request_leaves_the_dashboard_host(site):
    ws, base, browser = site
    img = lambda tag: f"![{tag}]({EVIL}/{tag}.png)"  # noqa: E731 - a Markdown image would make the browser fetch it
    evil = fake_run(ws, "evil " + img("name") + " <img src=" + EVIL + "/html.png>", lr=3e-4)
    other = fake_run(ws, "plain-run", lr=1e-3)
    for job in (evil, other):
        (ws.run_dir(job) / "samples.jsonl").write_text(json.dumps({
            "prompt": "Q " + img("prompt"), "reference": "#### 33 " + img("ref"),
            "base": f"<img src={EVIL}/base.png> **bold**", "tuned": img("tuned") + " $x^2$ 33\ufffd"}) + "\n")
    update_state(ws.run_dir(evil), status="failed", error="bad row " + img("error"))
    (ws.datasets / "evil-data.jsonl").write_text(json.dumps({img("column"): img("value"), "b": "x"}) + "\n")
    seen = []
    page, out = open_page(browser, base, f"/training?id={evil}", "bad row")
    assert page.locator("h1").first.inner_text().startswith("evil ![name](")  # the name is shown as typed
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_text("#### 33").first.wait_for(timeout=30000)  # a GSM8K reference is text, not a heading
    assert page.locator("h4", has_text="33").count() == 0
    assert "\ufffd" not in page.inner_text("body")
    page.get_by_role("tab", name="Logs").click()
    page.wait_for_timeout(1500)
    seen += out
    page.close()
    for path, text in ((f"/compare?jobs={evil},{other}", "Final metrics"), ("/", "plain-run"),
                       ("/datasets", "evil-data")):
        page, out = open_page(browser, base, path, text)
        if path == "/datasets":
            page.get_by_text("evil-data").first.click()
        page.wait_for_timeout(2500)
        seen += out
        page.close()
    assert seen == [], seen


def selected_ids(page) -> list[str]:
    """Job ids of the ticked rows, read from the grid's accessible table."""
    rows = page.locator('[data-testid="stDataFrame"] [role="row"][aria-selected="true"]')
    return [m.group(0) for i in range(rows.count())
            for m in [re.search(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{6}", rows.nth(i).text_content())] if m]


def test_a_ticked_job_stays_ticked_when_a_new_job_arrives(site, tmp_path):
    ws, base, browser = site
    with Spooler(ws):
        target = fake_run(ws, "tick-me", lr=2e-3)
        page, _ = open_page(browser, base, "/", "tick-me")
        table = page.locator('[data-testid="stDataFrame"]').first
        page.wait_for_timeout(1000)
        row = next(i for i, r in enumerate(page.locator('[data-testid="stDataFrame"] [role="row"]').all()[1:])
                   if "tick-me" in r.text_content())
        box = table.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)
        wait_for(lambda: selected_ids(page) == [target], 20)
        spec = tmp_path / "new.json"
        spec.write_text(json.dumps({"name": "arrives-later", "method": "sft", "base_model": "tiny-demo",
                                    "dataset": "demo-instruct", "params": {"max_steps": 1}}))
        out = subprocess.run([sys.executable, "-m", "spooler", "submit", str(spec), "--home", str(ws.home)], cwd=REPO,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert out.returncode == 0, out.stderr
        # the refresh brings the new row in above the ticked one
        page.get_by_text("arrives-later").first.wait_for(timeout=30000, state="attached")
        page.wait_for_timeout(1500)
        assert selected_ids(page) == [target]
        # The delete confirmation names the job it acts on; Details opens that same job.
        page.get_by_text("Delete", exact=True).click()
        page.get_by_text(re.compile(r"Delete 1 job\(s\).*tick-me")).wait_for(timeout=20000)
        page.get_by_role("button", name="Details").click()
        page.wait_for_url(re.compile(rf".*/training\?id={target}"), timeout=30000)
        page.close()
