"""In headless Chromium (#25): a log opens on its newest line, and after a queue action the ticks are what the user
sees and a click on a box toggles it, so the next action hits only the jobs that are ticked."""

import pytest

from jobs.spec import validate
from jobs.state import create_run, new_job_id, read_state
from tests.helpers import chromium_browser, fake_run, needs_chromium, screenshots, streamlit_server
from tests.light_workspace import light_workspace
from tests.spool_helpers import wait_for

pytestmark = needs_chromium
TABLE = '.st-key-jobs_table [data-testid="stDataFrame"]'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ws = light_workspace(tmp_path_factory.mktemp("issue25"))
    with streamlit_server(ws.home, ws.home / "dashboard.log") as base, chromium_browser() as browser:
        yield ws, base, browser


def test_the_log_opens_on_its_newest_line(site):
    ws, base, browser = site
    job = fake_run(ws, "long-log", status="running", metrics=False)
    lines = "".join(f"2026-11-28 05:00:00 INFO tunedeck: step {i}\n" for i in range(1000))
    (ws.run_dir(job) / "train.log").write_text(lines + "2026-11-28 05:59:59 INFO tunedeck: THE NEWEST LINE\n")
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{base}/training?id={job}")
    page.get_by_role("tab", name="Logs").click()
    box = page.locator(".st-key-d_log_box")
    box.get_by_text("THE NEWEST LINE").wait_for(timeout=60000)
    page.wait_for_timeout(500)
    # Where the newest line's text is drawn, against the scroll box it is in: inside it, near its bottom.
    where = page.evaluate("""() => {
        const box = document.querySelector('.st-key-d_log_box');
        const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
        let node; while ((node = walker.nextNode()) && !node.textContent.includes('THE NEWEST LINE')) {}
        const range = document.createRange(); range.selectNodeContents(node);
        const r = range.getBoundingClientRect(), b = box.getBoundingClientRect();
        return {top: r.top - b.top, bottom: b.bottom - r.bottom};
    }""")
    page.screenshot(path=str(screenshots(ws) / "issue25-logs.png"))
    assert where["top"] > 0 and where["bottom"] >= 0, where
    page.close()


def _row_point(page, name):
    """The centre of the tick box of the row that shows `name`."""
    rows = page.locator(TABLE + ' [role="row"]').all()[1:]
    i = next(i for i, r in enumerate(rows) if name in r.text_content())
    box = page.locator(TABLE).first.bounding_box()
    return box["x"] + 18, box["y"] + 35 + 17 + 35 * i


def _click_box(page, name):
    """As a hand does it: the pointer comes over the box, then presses."""
    x, y = _row_point(page, name)
    page.mouse.move(x + 60, y, steps=4)
    page.mouse.move(x, y, steps=6)
    page.wait_for_timeout(150)
    page.mouse.down()
    page.mouse.up()


def _ticked(page) -> list[str]:
    """The text of the ticked rows, read from the grid's accessible table in one go."""
    return sorted(page.evaluate("""sel => Array.from(document.querySelectorAll(sel)).map(r => r.textContent)""",
                                TABLE + ' [role="row"][aria-selected="true"]'))


def test_after_hold_a_click_unticks_and_the_next_action_hits_only_what_is_ticked(site):
    ws, base, browser = site
    ids = {}
    for name in ("steer-a", "steer-b"):
        ids[name] = new_job_id()
        create_run(ws, ids[name], validate({"name": name, "method": "sft", "base_model": "tiny-demo",
                                            "dataset": "demo-instruct"}, ws).spec)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(base + "/")
    page.locator(TABLE + ' [role="row"]').filter(has_text="steer-b").first.wait_for(state="attached", timeout=60000)
    page.wait_for_timeout(1500)
    _click_box(page, "steer-a")
    wait_for(lambda: [n for n in ids if any(n in t for t in _ticked(page))] == ["steer-a"], 20)
    page.get_by_role("button", name="Hold", exact=True).click()
    wait_for(lambda: read_state(ws.run_dir(ids["steer-a"])).get("held"), 20)
    page.get_by_role("button", name="Release", exact=True).wait_for(timeout=20000)
    page.wait_for_timeout(2500)  # the page's own refresh after the change comes in too
    _click_box(page, "steer-a")  # untick the held job
    wait_for(lambda: _ticked(page) == [], 20)
    wait_for(lambda: page.get_by_role("button", name="Release", exact=True).is_disabled(), 20)
    _click_box(page, "steer-b")
    wait_for(lambda: [n for n in ids if any(n in t for t in _ticked(page))] == ["steer-b"], 20)
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Priority").click()
    box = page.get_by_role("spinbutton", name="Priority")
    box.fill("10")
    box.press("Enter")
    page.wait_for_timeout(700)
    page.get_by_role("button", name="Set priority", exact=True).click()
    wait_for(lambda: read_state(ws.run_dir(ids["steer-b"])).get("priority") == 10, 20)
    page.wait_for_timeout(1000)
    assert read_state(ws.run_dir(ids["steer-a"])).get("priority", 0) != 10  # the unticked job is left alone
    page.screenshot(path=str(screenshots(ws) / "issue25-ticks.png"))
    page.close()
