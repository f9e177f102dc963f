"""In the browser: a prompt sent while trainings are queued says it waits for a training, and its Cancel button
cancels it (real spooler, fake trainings that hold the one slot, a real trained run)."""

from jobs.state import cancel_job
from jobs.use import requests as rq
from tests.helpers import chromium_browser, needs_chromium, screenshots
from tests.spool_helpers import FAKE, Spooler, drop, spec, statuses, wait_for
from tests.trainer_helpers import make_run, run

pytestmark = needs_chromium

def test_a_prompt_waits_for_trainings_and_can_be_cancelled(ws, dashboard):
    shots = screenshots(ws)
    run_dir = make_run(ws, max_steps=2, eval_ratio=0, num_sample_prompts=0)
    assert run(run_dir) == 0
    job = run_dir.name
    with Spooler(ws, "--try-idle", "30", trainer=FAKE) as sp, chromium_browser() as browser:
        drop(ws, "a.json", spec("busy-a", notes="sleep=120"))
        drop(ws, "b.json", spec("busy-b", notes="sleep=120"))     # queued behind it: a training waits
        wait_for(lambda: sorted(s for d, s in statuses(ws).items() if d != job) == ["queued", "running"], 60)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(dashboard)
        page.get_by_text("Trainings").first.wait_for(timeout=60000)
        page.goto(f"{dashboard}/training?id={job}")
        page.get_by_role("tab", name="Try & export").click()
        page.get_by_label("Prompt", exact=True).fill("Are you there?")
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Waiting: trainings are queued and go first").first.wait_for(timeout=60000)
        page.screenshot(path=str(shots / "try-waits-for-training.png"), full_page=True)
        rid = rq.try_history(ws, job)[0]["request_id"]
        page.get_by_role("button", name="Cancel this prompt").click()
        wait_for(lambda: rq.read_try(ws, job, rid)["status"] == "cancelled", 30)
        page.get_by_text("Cancelled.").first.wait_for(timeout=30000)
        page.screenshot(path=str(shots / "try-cancelled.png"), full_page=True)
        assert not rq.pending(ws) and not rq.list_workers(ws)           # never answered, no worker started
        browser.close()
        for d in statuses(ws):
            if d != job:
                cancel_job(ws, d)
        wait_for(lambda: sorted(s for d, s in statuses(ws).items() if d != job) == ["cancelled", "cancelled"], 60)
        sp.stop()
