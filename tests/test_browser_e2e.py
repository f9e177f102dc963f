"""End to end in a real browser: Debian's chromium driven by Playwright, against the real spooler and trainer."""
import re
from io import BytesIO

from tests.helpers import chromium_browser, needs_chromium, screenshots
from tests.spool_helpers import Spooler, wait_for

pytestmark = needs_chromium


def set_number(page, label, value):
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(700)


def wait_status(page, status, timeout=180):
    page.get_by_text(status, exact=False).first.wait_for(timeout=timeout * 1000)


def job_id_of(page) -> str:
    return re.search(r"id=([\w\-]+)", page.url).group(1)


def palette_colors_in(png: bytes, colors: list[str]) -> int:
    """How many of the given line colours appear in a chart's pixels."""
    from PIL import Image
    img = Image.open(BytesIO(png)).convert("RGB")
    pixels = set(img.getdata())
    found = 0
    for hexcolor in colors:
        target = tuple(int(hexcolor[i:i + 2], 16) for i in (1, 3, 5))
        if any(sum(abs(a - b) for a, b in zip(px, target, strict=False)) < 40 for px in pixels):
            found += 1
    return found


def test_submit_watch_copy_and_compare(ws, dashboard):

    from dashboard.charts import PALETTE
    shots = screenshots(ws)
    with Spooler(ws, trainer=None) as sp, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        # Streamlit shows a spurious "Page not found" on the very first deep link after a server start
        # (streamlit/streamlit#9992); open the root once first.
        page.goto(dashboard)
        page.get_by_text("Trainings").first.wait_for(timeout=60000)
        page.get_by_text("Welcome to Tunedeck").wait_for()

        # 1. Submit an SFT training of tiny-demo through the form.
        page.goto(dashboard + "/new")
        page.get_by_text("Training parameters").wait_for(timeout=60000)
        set_number(page, "MAX_STEPS", 12)
        set_number(page, "BATCH_SIZE", 4)
        set_number(page, "LEARNING_RATE", 0.002)
        page.get_by_role("button", name="Run training").click()
        page.wait_for_url(re.compile(r".*/training\?id=.*"), timeout=30000)
        first = job_id_of(page)

        # 2. It reaches succeeded; the loss chart and the logs show.
        wait_status(page, "succeeded")
        page.get_by_role("tab", name="Evaluation").click()
        page.get_by_text("loss").first.wait_for()
        wait_for(lambda: page.locator('[data-testid="stVegaLiteChart"]').count() >= 4, 30)
        page.get_by_text("Tuned model (after)").first.wait_for()
        page.get_by_text("Held-out evaluation: base vs tuned").first.wait_for()  # the metrics table above the charts
        assert page.get_by_text("No evaluation yet").count() == 0
        page.screenshot(path=str(shots / "details.png"), full_page=True)
        page.get_by_role("tab", name="Logs").click()
        page.get_by_text("adapter saved").first.wait_for(timeout=20000)

        # 3. Copy it twice with other learning rates and run the copies.
        ids = [first]
        for lr in (0.0005, 0.005):
            page.goto(f"{dashboard}/training?id={ids[0]}")
            page.get_by_role("button", name="Copy training").click()
            page.wait_for_url(re.compile(r".*/new\?copy=.*"), timeout=30000)
            page.get_by_text(f"Copy of job {ids[0]}").wait_for()
            set_number(page, "LEARNING_RATE", lr)
            page.get_by_role("button", name="Run training").click()
            page.wait_for_url(re.compile(r".*/training\?id=.*"), timeout=30000)
            ids.append(job_id_of(page))
            wait_status(page, "succeeded")
        from jobs.state import read_spec
        specs = [read_spec(ws.run_dir(i)) for i in ids]
        assert [s["params"]["learning_rate"] for s in specs] == [0.002, 0.0005, 0.005]
        assert specs[1]["parent_job"] == first and specs[2]["parent_job"] == first

        # 4. Select the three on the Trainings page and compare them: the learning-rate row is highlighted,
        #    the loss chart has three curves, and the outputs show.
        page.goto(dashboard)
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for(timeout=60000)
        page.wait_for_timeout(1000)
        box = table.bounding_box()
        for row in range(3):  # the grid draws on a canvas: click each row's selection box
            page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)
            page.wait_for_timeout(500)
        page.get_by_role("button", name="Compare", exact=True).click()
        page.wait_for_url(re.compile(r".*/compare\?jobs=.*"), timeout=30000)
        from urllib.parse import parse_qs, urlparse
        assert sorted(parse_qs(urlparse(page.url).query)["jobs"][0].split(",")) == sorted(ids)
        page.get_by_text("Parameters").first.wait_for(timeout=60000)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for()
        wait_for(lambda: page.locator('[data-testid="stVegaLiteChart"]').count() >= 3, 30)
        page.get_by_text("Outputs").first.wait_for()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        params_png = grid.screenshot()
        assert palette_colors_in(params_png, ["#fff3b0"]) == 1  # the highlighted differing row
        loss_chart = page.locator('[data-testid="stVegaLiteChart"]').first
        loss_chart.scroll_into_view_if_needed()
        assert palette_colors_in(loss_chart.screenshot(), PALETTE[:3]) == 3
        assert page.get_by_text("Base model (before)").count() >= 1
        assert page.get_by_text("Evaluation metrics (eval ·)", exact=False).count() == 1  # in the final-metrics table

        # 5. Delete the last copy from the Trainings page, with its confirmation.
        page.goto(dashboard)
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for(timeout=60000)
        page.wait_for_timeout(1000)
        box = table.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # newest first: the second copy
        page.get_by_text("Delete", exact=True).click()
        page.get_by_role("button", name="Yes, delete").click()
        wait_for(lambda: not ws.run_dir(ids[2]).exists(), 15)
        assert ws.run_dir(ids[0]).exists() and ws.run_dir(ids[1]).exists()
        browser.close()
        sp.stop()


def choose_upload(page, dashboard: str, path, name: str) -> None:
    """Open the Datasets page's upload form, choose `path`, and wait for the rerun that fills the Name field."""
    from playwright.sync_api import expect
    page.goto(dashboard)
    page.get_by_text("Welcome to Tunedeck").wait_for(timeout=60000)
    page.goto(dashboard + "/datasets")
    page.get_by_text("Upload a JSONL dataset").click()
    page.locator('input[type="file"]').set_input_files(str(path))
    expect(page.get_by_role("textbox", name="Name")).to_have_value(name, timeout=20000)


def test_dataset_upload_is_validated_in_the_browser(ws, dashboard, tmp_path):
    from playwright.sync_api import expect
    bad = tmp_path / "zh-bad.jsonl"
    bad.write_text('{"问题": "一加一", "答案": "二"}\n{"问题": "二加二", "答案": "四"}\n{"问题": oops}\n', encoding="utf-8")
    good = tmp_path / "zh-good.jsonl"
    good.write_text('{"问题": "一加一", "答案": "二"}\n{"问题": "二加二", "答案": "四"}\n', encoding="utf-8")
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        choose_upload(page, dashboard, bad, "zh-bad")
        page.get_by_role("button", name="Validate and register").click()
        page.get_by_text("line 3: invalid JSON").wait_for(timeout=20000)
        assert not (ws.datasets / "zh-bad.jsonl").exists()
        page.locator('input[type="file"]').set_input_files(str(good))
        # wait for the rerun that takes the new file (its name fills the Name field) before clicking
        expect(page.get_by_role("textbox", name="Name")).to_have_value("zh-good", timeout=20000)
        page.get_by_role("button", name="Validate and register").click()
        page.get_by_text("Registered zh-good (2 rows).").wait_for(timeout=20000)
        assert (ws.datasets / "zh-good.jsonl").read_text(encoding="utf-8") == good.read_text(encoding="utf-8")
        browser.close()


def test_the_first_upload_stays_confirmed_and_the_form_stays_open(ws, dashboard, tmp_path):
    """On an empty workspace: the confirmation and token lengths stay through later reruns (they were gone at the
    next one), a second click on the same file registers it once, and a new file leaves the form open (Streamlit
    folded it when the form's `expanded` flipped after the first dataset)."""
    from playwright.sync_api import expect
    for f in ws.datasets.iterdir():
        f.unlink()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text('{"instruction": "hi", "output": "hello"}\n' * 5)
    second.write_text('{"instruction": "yo", "output": "hey"}\n' * 3)
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(dashboard + "/datasets")
        page.locator('input[type="file"]').set_input_files(str(first), timeout=60000)  # open: nothing registered
        name = page.get_by_role("textbox", name="Name")
        expect(name).to_have_value("first", timeout=20000)
        register = page.get_by_role("button", name="Validate and register")
        register.click()
        confirmed = page.get_by_text("Registered first (5 rows).")
        confirmed.wait_for(timeout=30000)
        tokens = page.get_by_text("Tokens per row under tiny-demo's chat template", exact=False).first
        tokens.wait_for(timeout=60000)
        page.get_by_role("combobox", name="Format").click()  # another widget: a rerun
        page.get_by_role("option", name="alpaca").click()
        page.wait_for_timeout(1500)
        assert confirmed.is_visible() and tokens.is_visible()
        register.click()  # the same file under the same name: once
        page.wait_for_timeout(1500)
        assert page.get_by_text("already exists").count() == 0 and confirmed.is_visible()
        page.screenshot(path=str(screenshots(ws) / "datasets-first-upload.png"), full_page=True)
        page.locator('input[type="file"]').set_input_files(str(second))
        expect(name).to_have_value("second", timeout=20000)
        expect(confirmed).to_have_count(0)
        name.fill("second-set")
        name.press("Enter")
        page.wait_for_timeout(1500)
        assert name.is_visible() and register.is_visible()  # the form is still open
        register.click()
        page.get_by_text("Registered second-set (3 rows).").wait_for(timeout=30000)
        assert sorted(p.name for p in ws.datasets.glob("*.jsonl")) == ["first.jsonl", "second-set.jsonl"]
        # deleted (from another tab or the CLI): nothing left to confirm at the next rerun
        from jobs.models import registry
        registry.unregister_dataset(ws, "second-set")
        page.get_by_role("combobox", name="Format").click()
        page.get_by_role("option", name="messages").click()
        expect(page.get_by_text("Registered second-set (3 rows).")).to_have_count(0, timeout=20000)
    assert sorted(p.name for p in ws.datasets.glob("*.jsonl")) == ["first.jsonl"]


def test_sharegpt_upload_shows_its_format_and_trains(ws, dashboard, tmp_path):
    from playwright.sync_api import expect

    from tests.conftest import shared_dataset
    src = tmp_path / "toolchat.jsonl"
    src.write_text("".join(shared_dataset("sharegpt_en_toolcall.jsonl").read_text().splitlines(True)[:30]))
    with Spooler(ws, trainer=None) as sp, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        choose_upload(page, dashboard, src, "toolchat")
        page.get_by_role("button", name="Validate and register").click()
        page.get_by_text("Registered toolchat (30 rows).").wait_for(timeout=30000)
        # token lengths are counted at upload, without a click, under the model new trainings start on
        page.get_by_text("Tokens per row under tiny-demo's chat template: min", exact=False).first.wait_for(timeout=60000)
        assert (ws.datasets / "toolchat.tokens.json").is_file()
        page.locator("summary").filter(has_text="sharegpt").first.click()  # the dataset's expander
        page.get_by_text("Format: sharegpt (detected)").wait_for(timeout=20000)
        page.get_by_text("rows with tools:", exact=False).first.wait_for()
        page.screenshot(path=str(tmp_path / "datasets.png"), full_page=True)

        page.goto(dashboard + "/new")
        page.get_by_text("Training parameters").wait_for(timeout=60000)
        page.get_by_role("combobox", name="Dataset", exact=True).click()
        page.get_by_role("option", name=re.compile("^toolchat")).click()
        page.wait_for_timeout(1500)
        # conversations carry their roles: no prompt/answer column pickers
        expect(page.locator("text=PROMPT_INPUT_COLUMN >> visible=true")).to_have_count(0)
        set_number(page, "MAX_STEPS", 2)
        set_number(page, "BATCH_SIZE", 2)
        page.get_by_role("button", name="Run training").click()
        page.wait_for_url(re.compile(r".*/training\?id=.*"), timeout=30000)
        job = job_id_of(page)
        wait_status(page, "succeeded")
        from jobs.state import read_spec
        spec = read_spec(ws.run_dir(job))
        assert spec["dataset"] == "toolchat" and spec["params"]["dataset_format"] == "auto"
        browser.close()
        sp.stop()
