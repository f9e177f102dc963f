"""In a real browser: a sweep group in the Trainings list, compared by group, the best run one click away."""

from jobs.queue.steer import hold
from jobs.spec import validate
from jobs.state import create_run, new_job_id
from tests.helpers import chromium_browser, make_group, needs_chromium, screenshots

pytestmark = needs_chromium

def test_group_row_compare_by_group_and_best_run(ws, dashboard):
    shots = screenshots(ws)
    x = make_group(ws)
    waiting = new_job_id()
    create_run(ws, waiting, validate({"name": "waiting-job", "method": "sft", "base_model": "tiny-demo",
                                      "dataset": "demo-instruct"}, ws).spec)
    hold(ws, waiting)
    best_id = x.specs[2]["group"]["job_id"]
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 2400, "height": 1000})
        page.goto(dashboard)  # the root first (streamlit/streamlit#9992)
        cells = page.locator('[role="gridcell"]')
        page.get_by_text("Flatten groups").wait_for(timeout=60000)
        # glide-data-grid keeps its cells in an accessibility table: attached, not visible
        cells.filter(has_text="📁 lr-rank · 4 runs").first.wait_for(state="attached", timeout=30000)
        cells.filter(has_text="best: lr-rank-lr1e-3-r8 (loss 1.08)").first.wait_for(state="attached")
        cells.filter(has_text="held").first.wait_for(state="attached")
        page.screenshot(path=str(shots / "sweeps-trainings.png"), full_page=True)

        page.goto(f"{dashboard}/compare?group={x.group['id']}")
        page.get_by_text("Sweep lr-rank: 4 runs").wait_for(timeout=60000)
        page.get_by_text("Swept parameters against final metrics").wait_for()
        cells.filter(has_text="lr-rank-lr2e-4-r16").first.wait_for(state="attached", timeout=30000)
        page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for(timeout=30000)  # lr and rank vs the metric
        page.screenshot(path=str(shots / "sweeps-compare.png"), full_page=True)
        href = page.get_by_role("link", name="lr-rank-lr1e-3-r8").get_attribute("href")
        assert href.endswith(f"/training?id={best_id}")
        page.goto(dashboard + href if href.startswith("/") else href)
        page.get_by_text("lr-rank-lr1e-3-r8").first.wait_for(timeout=30000)

        page.goto(f"{dashboard}/settings")
        page.get_by_text("Last 20 delivery attempts").wait_for(timeout=60000)
        page.screenshot(path=str(shots / "sweeps-settings.png"), full_page=True)
        browser.close()
