"""Dashboard defects from the new-user pass (#14), through Streamlit's AppTest, and the change stamp behind live pages."""
import html
import json
import time

from jobs.atomic import atomic_write_json
from jobs.changes import stamp
from jobs.spec import validate
from jobs.state import update_state
from tests.helpers import fake_run, open_page, text_of


def test_state_changes_and_new_runs_move_the_change_stamp(home):
    before = stamp(home)
    job = fake_run(home, "stamped", metrics=False)
    after_create = stamp(home)
    assert after_create != before
    update_state(home.run_dir(job), status="failed")
    assert stamp(home) != after_create
    still = stamp(home)
    time.sleep(0.05)
    assert stamp(home) == still  # nothing written, nothing moved


def test_waiting_specs_and_rejections_show_and_can_be_dismissed(home):
    (home.incoming / "20261128-050000-000000-abcdef.json").write_text(json.dumps({"name": "sits-in-incoming"}))
    (home.rejected / "bad.json").write_text("{oops")
    (home.rejected / "bad.json.error.txt").write_text("bad.json was rejected:\nspec: not valid JSON\n")
    at = open_page("trainings")
    assert "Waiting for the spooler (1)" in text_of(at)
    tables = "\n".join(d.value.to_string() for d in at.dataframe)
    assert "sits-in-incoming" in tables and "waiting for the spooler" in tables
    assert any("Recently rejected specs (1)" in e.label for e in at.expander)
    assert "not valid JSON" in text_of(at) and "bad.json" in text_of(at)  # each reason whole, as text
    at.button(key="btn_dismiss_rejected").click().run()
    assert not any("Recently rejected" in e.label for e in at.expander)
    assert (home.rejected / "bad.json").exists()  # dismissing hides it; the file stays for a look in the shell


def test_switching_dataset_picks_columns_by_role_and_never_the_same_twice(home):
    at = open_page("new")
    assert at.selectbox(key="m_model").value == "tiny-demo"  # fresh install: the embedded demo
    assert at.selectbox(key="m_dataset").value == "demo-instruct"
    at.selectbox(key="m_dataset").set_value("demo-math").run()
    cols = (at.selectbox(key="p_prompt_input_column").value, at.selectbox(key="p_prompt_output_column").value)
    assert cols == ("question", "answer")
    at.selectbox(key="p_prompt_output_column").set_value("question").run()
    assert "PROMPT_INPUT_COLUMN and PROMPT_OUTPUT_COLUMN are both question" in text_of(at)
    assert at.button(key="btn_run").disabled
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-math",
                  "params": {"prompt_input_column": "question", "prompt_output_column": "question"}}, home)
    assert v.ok and any("same column as prompt_input_column" in w.message for w in v.warnings)


def test_form_starts_on_the_last_used_model_and_dataset(home):
    atomic_write_json(home.models / "other-model.json", {"path": str(home.home / "elsewhere")})
    fake_run(home, "last-one", method="grpo", metrics=False)
    at = open_page("new")
    assert (at.selectbox(key="m_method").value, at.selectbox(key="m_model").value,
            at.selectbox(key="m_dataset").value) == ("grpo", "tiny-demo", "demo-math")


def test_blank_name_is_flagged_beside_its_field(home):
    at = open_page("new")
    at.text_input(key="m_name").set_value("   ").run()
    assert any(c.value.startswith("❌") and "visible character" in html.unescape(c.value) for c in at.caption)
    assert at.button(key="btn_run").disabled


def test_demo_examples_validate_without_warnings(home):
    from dashboard.views.new import REPO_EXAMPLES
    for path in sorted(REPO_EXAMPLES.glob("*.json")):
        v = validate(json.loads(path.read_text()), home)
        assert v.ok and not v.warnings, (path.name, v.errors, v.warnings)


def test_max_seq_length_past_the_models_context_names_the_limit(home):
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                  "params": {"max_seq_length": 100000}}, home)
    msgs = [w.message for w in v.warnings if w.field == "params.max_seq_length"]
    assert len(msgs) == 1 and "context of model 'tiny-demo'" in msgs[0] and "tokens" in msgs[0]


def test_truncation_estimate_counts_rows_past_the_caps(home):
    rows = [{"instruction": "say " + "word " * (1500 if i % 4 == 0 else 3), "output": "ok"} for i in range(40)]
    (home.datasets / "long-rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    at = open_page("new")
    at.selectbox(key="m_dataset").set_value("long-rows").run()
    line = next(c.value for c in at.caption if c.value.startswith("✂️"))
    assert "About 10 of the first 40 rows (25.0 %) would be cut" in line and "10 by MAX_INPUT_LENGTH" in line, line
    at.number_input(key="p_max_seq_length").set_value(8192).run()
    at.number_input(key="p_max_input_length").set_value(4096).run()
    assert any(c.value.startswith("✂️ No row is cut") for c in at.caption)


def test_chinese_form_messages_and_language_from_the_url(home):
    from streamlit.testing.v1 import AppTest

    from tests.helpers import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "zh"  # a reload or a new tab: the language comes from the URL
    at.run()
    assert at.title[0].value == "训练列表"
    at.switch_page("views/new.py").run()
    assert at.title[0].value == "新建训练"
    at.number_input(key="p_lora_rank").set_value(2000).run()
    assert any("必须是整数" in html.unescape(c.value) for c in at.caption), [c.value for c in at.caption]
    assert "整数" in at.number_input(key="p_lora_rank").help
    assert "行" in at.selectbox(key="m_dataset").format_func("demo-instruct")


def test_details_header_and_overview_of_a_failed_job(home):
    job = fake_run(home, "hdr", status="failed", metrics=True)
    at = open_page("details", id=job)
    txt = text_of(at)
    assert "Duration: 1m 00s" in txt and "final loss" in txt and "boom: something broke" in txt
    info = at.dataframe[0].value
    # No browser here, so the viewer's zone is UTC: the local times are the UTC ones and no second column repeats them.
    assert "UTC" not in info.columns and "Job id" in info[""].tolist() and job in info[" "].tolist()
    assert any(v.endswith(" UTC") for v in info[" "].tolist())
