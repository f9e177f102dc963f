"""In the browser: type a prompt on a trained run's details page and see the base and tuned answers side by side;
export the merged model and register it as a base model. Real trainer, real spooler, real try worker."""
import re

from jobs.models.registry import list_models
from jobs.use import requests as rq
from tests.helpers import chromium_browser, needs_chromium, screenshots
from tests.spool_helpers import FAKE, Spooler, wait_for
from tests.trainer_helpers import make_run, run

pytestmark = needs_chromium

def test_try_it_answers_side_by_side_then_export_and_register(ws, dashboard):
    shots = screenshots(ws)
    run_dir = make_run(ws, max_steps=3, eval_ratio=0, num_sample_prompts=0, learning_rate=5e-3)
    assert run(run_dir) == 0
    job = run_dir.name
    with Spooler(ws, "--try-idle", "120", trainer=FAKE) as sp, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(dashboard)  # the first deep link after a server start can show a spurious "Page not found"
        page.get_by_text("Trainings").first.wait_for(timeout=60000)
        page.goto(f"{dashboard}/training?id={job}")
        page.get_by_role("tab", name="Try & export").click()
        page.get_by_label("Prompt", exact=True).fill("Say hello to the sea")
        page.get_by_role("button", name="Send").click()
        wait_for(lambda: [h["status"] for h in rq.try_history(ws, job)] == ["done"], 240)
        timing = page.get_by_text(re.compile(r"^\d+\.\d\d s · \d+ tokens$"))
        wait_for(lambda: timing.count() == 2, 30)                       # both columns show their answer and time
        answers = rq.try_history(ws, job)[0]["answers"]
        assert [a["target"] for a in answers] == ["base", job]
        panel = page.locator('[data-testid="stHorizontalBlock"]').filter(has_text="Base model (tiny-demo)").last
        cols = panel.locator('[data-testid="stColumn"]')
        assert cols.count() == 2
        assert "Base model (tiny-demo)" in cols.nth(0).inner_text() and "t-sft" in cols.nth(1).inner_text()

        def shown(col, a):  # the page reruns once when the answer lands; a stale column can show "…" meanwhile
            return a["text"].split()[0] in col.inner_text() and f"{a['tokens']} tokens" in col.inner_text()

        wait_for(lambda: all(shown(c, a) for c, a in zip((cols.nth(0), cols.nth(1)), answers, strict=True)), 30)
        page.screenshot(path=str(shots / "try-it.png"), full_page=True)

        page.get_by_role("button", name="Export merged model").click()
        wait_for(lambda: rq.export_state(run_dir).get("status") == "done", 300)
        code = page.locator('[data-testid="stCode"]')
        code.filter(has_text="FROM ./merged").wait_for(timeout=30000)
        code.filter(has_text="--enable-lora").wait_for()
        code.filter(has_text="PeftModel.from_pretrained").wait_for()
        page.screenshot(path=str(shots / "export.png"), full_page=True)
        page.get_by_role("button", name="Register", exact=True).click()
        page.get_by_text("Registered as base model").first.wait_for(timeout=30000)
        wait_for(lambda: rq.registered_from(ws, job))
        name = rq.registered_from(ws, job)[0]
        assert list_models(ws)[name] == ws.models / name                # stored in the workspace, outlives the job
        page.get_by_text(f"stored in workspace/models/{name}").first.wait_for(timeout=30000)
        page.screenshot(path=str(shots / "registered.png"), full_page=True)
        browser.close()
        sp.stop()
