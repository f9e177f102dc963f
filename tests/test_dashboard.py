"""AppTest covers every page without a browser: empty states, filters, the form, copy, language, compare."""
import html
import json
import re

import pytest

from jobs.atomic import atomic_write_json
from tests.conftest import REPO
from tests.helpers import fake_run, open_page, text_of


def test_first_run_panel_and_spooler_down(home):
    at = open_page("trainings")
    txt = text_of(at)
    assert "Welcome to Tunedeck" in txt and "tiny-demo" in txt
    assert "spooler is not running" in txt


def test_spooler_heartbeat_hides_the_warning(home):
    import time
    atomic_write_json(home.spooler_heartbeat, {"updated_at": time.time(), "stopped": False})
    at = open_page("trainings")
    assert "spooler is not running" not in text_of(at)


def test_trainings_list_and_filters(home):
    fake_run(home, "alpha", status="succeeded")
    fake_run(home, "beta", status="failed")
    fake_run(home, "gamma", method="dpo", status="queued", metrics=False)
    at = open_page("trainings")
    df = at.dataframe[0].value
    assert list(df["name"]) == ["gamma", "beta", "alpha"]  # newest first
    assert "loss" in df[df["name"] == "alpha"]["result"].iloc[0]
    at.multiselect(key="f_status_en").set_value(["failed"]).run()
    assert list(at.dataframe[0].value["name"]) == ["beta"]
    at.multiselect(key="f_status_en").set_value([]).run()
    at.multiselect(key="f_method").set_value(["dpo"]).run()
    assert list(at.dataframe[0].value["name"]) == ["gamma"]
    at.multiselect(key="f_method").set_value([]).run()
    at.text_input(key="f_search").set_value("alp").run()
    assert list(at.dataframe[0].value["name"]) == ["alpha"]


def test_broken_run_folders_never_traceback(home):
    ok = fake_run(home, "fine")
    (home.runs / "20260101-000000-000000-abcdef").mkdir()  # no state.json, no spec.json
    with open(home.run_dir(ok) / "metrics.csv", "a") as fh:
        fh.write("21,1.0,0.5,0.001")  # half-written last line
    at = open_page("trainings")
    assert len(at.dataframe[0].value) == 2
    at = open_page("details", id=ok)
    assert not at.exception
    at = open_page("details", id="20260101-000000-000000-abcdef")
    assert "no state.json" in text_of(at)
    at = open_page("details", id="does-not-exist")  # not even an id: refused by the one job-id check
    assert "does not name a job" in text_of(at)
    at = open_page("details", id="20990101-000000-000000-abcdef")
    assert "no job with id" in text_of(at)


def test_details_tabs_and_logs(home):
    job = fake_run(home, "detailed", status="failed")
    at = open_page("details", id=job)
    txt = text_of(at)
    assert "boom: something broke" in txt and "tuned detailed answer" in txt
    assert [t.label for t in at.tabs] == ["Overview", "Evaluation", "Logs", "Try & export"]
    logs = at.code[-1].value
    assert "careful" in logs and "broke" in logs
    at.multiselect(key="d_levels").set_value(["ERROR"]).run()
    assert "careful" not in at.code[-1].value and "broke" in at.code[-1].value


def test_new_training_form_validates_live_and_submits(home):
    at = open_page("new")
    assert at.selectbox(key="m_method").value == "sft"
    at.number_input(key="p_lora_rank").set_value(0).run()
    assert any("LORA" in e.value or "lora_rank" in html.unescape(e.value) for e in at.error)
    assert at.button(key="btn_run").disabled
    assert any("must be an integer" in html.unescape(c.value) for c in at.caption)
    at.number_input(key="p_lora_rank").set_value(16).run()
    at.number_input(key="p_max_steps").set_value(5).run()
    assert not at.button(key="btn_run").disabled
    spec_json = json.loads(at.code[0].value)
    assert spec_json["params"]["lora_rank"] == 16 and spec_json["params"]["max_steps"] == 5
    at.button(key="btn_run").click().run()
    files = list(home.incoming.glob("*.json"))
    assert len(files) == 1
    spooled = json.loads(files[0].read_text())
    assert spooled == spec_json


def test_new_training_method_params_and_columns(home):
    at = open_page("new")
    at.selectbox(key="m_method").set_value("grpo").run()
    at.selectbox(key="m_dataset").set_value("demo-math").run()
    assert at.multiselect(key="p_reward_functions").value == ["correctness", "format"]
    assert at.selectbox(key="p_prompt_input_column").options == ["question", "answer"]
    assert at.number_input(key="p_beta").value == pytest.approx(0.04)
    at.selectbox(key="m_method").set_value("dpo").run()
    at.selectbox(key="m_dataset").set_value("demo-prefs").run()
    assert at.selectbox(key="p_chosen_column").value == "chosen"


def test_copy_prefills_every_field_and_records_parent(home):
    job = fake_run(home, "orig", lr=7e-4, steps=9, lora_rank=32, batch_size=3)
    at = open_page("new", copy=job)
    assert at.number_input(key="p_learning_rate").value == pytest.approx(7e-4)
    assert at.number_input(key="p_lora_rank").value == 32 and at.number_input(key="p_max_steps").value == 9
    assert at.text_input(key="m_name").value == "orig-copy"
    assert f"Copy of job {job}" in text_of(at)
    at.number_input(key="p_learning_rate").set_value(1e-4).run()
    at.button(key="btn_run").click().run()
    spooled = json.loads(next(home.incoming.glob("*.json")).read_text())
    assert spooled["parent_job"] == job and spooled["params"]["learning_rate"] == pytest.approx(1e-4)
    assert spooled["params"]["lora_rank"] == 32


def test_language_switch(home):
    at = open_page("new")
    at.sidebar.selectbox[0].set_value("zh").run()
    assert at.title[0].value == "新建训练"
    assert "LoRA 矩阵的秩" in at.number_input(key="p_lora_rank").help
    assert any("监督微调" in c.value for c in at.caption)
    at.switch_page("views/trainings.py").run()
    assert at.title[0].value == "训练列表"


def test_i18n_catalogs_complete():
    from dashboard.i18n import EN, ZH
    assert set(EN) == set(ZH)
    used = set()
    for p in (REPO / "dashboard").rglob("*.py"):
        used |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_.]+[a-z_])"', p.read_text()))
    assert used and not (used - set(EN)), used - set(EN)
    for status in ("queued", "running", "succeeded", "failed", "cancelled", "unknown"):
        assert f"status.{status}" in EN
    assert all(v.strip() for v in ZH.values())
    from dashboard.i18n import PARAM_HELP_ZH
    from dashboard.i18n_methods import PARAM_HELP_ZH_BY_TEXT
    from jobs.methods import BUILTINS
    from jobs.params import COMMON_PARAMS
    declared = list(COMMON_PARAMS) + [p for m in BUILTINS.values() for p in m.params]
    untranslated = {p.name for p in declared if p.name not in PARAM_HELP_ZH and p.help not in PARAM_HELP_ZH_BY_TEXT}
    assert not untranslated, untranslated  # by name, or by its English help where the meaning depends on the method


def test_datasets_models_methods_pages(home):
    (home.methods / "broken.py").write_text("import nonexistent_module_xyz\n")
    at = open_page("datasets")
    assert "demo-instruct" in html.unescape("\n".join(e.label for e in at.expander))
    at = open_page("models")
    assert "Qwen2ForCausalLM" in text_of(at)
    at.text_input(key="m_reg_name").set_value("bad").run()
    at.text_input(key="m_reg_path").set_value("/nonexistent/folder").run()
    at.button(key="m_reg_btn").click().run()
    assert "only folders under the model roots" in text_of(at)  # outside the roots: the same answer for any path
    at.text_input(key="m_reg_path").set_value(str(home.models / "nonexistent")).run()
    at.button(key="m_reg_btn").click().run()
    assert "not a folder" in text_of(at)
    at = open_page("methods")
    txt = text_of(at)
    assert "nonexistent_module_xyz" in txt and "sft" in txt and "grpo" in txt


# ---------------------------------------------------------------- compare
def test_compare_diff_toggle_missing_and_export(home):
    a = fake_run(home, "lr-a", lr=1e-3)
    b = fake_run(home, "lr-b", lr=5e-4)
    at = open_page("compare", jobs=f"{a},{b},nope-123")
    assert "nope-123" in text_of(at)
    diff_rows = list(at.dataframe[0].value.index)
    assert "learning_rate" in diff_rows and "lora_rank" not in diff_rows
    at.toggle(key="c_diff").set_value(False).run()
    all_rows = list(at.dataframe[0].value.index)
    assert "lora_rank" in all_rows and len(all_rows) > len(diff_rows)
    finals = at.dataframe[1].value
    assert "final_loss" in finals.index and finals.shape[1] == 2
    from dashboard import compare_data as cd
    jobs, missing = cd.load_jobs(home, [a, b, "nope-123"])
    assert missing == ["nope-123"]
    params = cd.params_table(jobs)
    finals, best = cd.final_metrics(jobs, {j["label"]: __import__("dashboard.common", fromlist=["x"]).metrics(j["dir"])
                                           for j in jobs})
    assert best["final_loss"] == {jobs[1]["label"]}  # lower loss wins
    text = cd.export_csv(params, finals)
    assert "learning_rate" in text and "final_loss" in text
    from dashboard.charts import overlay
    from dashboard.common import metrics as load_metrics
    chart = overlay({j["label"]: load_metrics(j["dir"]) for j in jobs}, "loss", "step", 0.5,
                    {j["label"]: j["color"] for j in jobs})
    samples, _ = cd.shared_samples(jobs)
    report = cd.export_html(jobs, params, finals, [chart], samples)
    assert "<table>" in report and "learning_rate" in report and "<script" not in report
    assert "<svg" in report and "What color is snow?" in report  # charts inline, no network needed


def test_compare_mixed_methods_and_shared_prompts(home):
    s = fake_run(home, "sft-job", method="sft")
    d = fake_run(home, "dpo-job", method="dpo")
    g = fake_run(home, "grpo-job", method="grpo", batch_size=4)
    at = open_page("compare", jobs=f"{s},{d},{g}")
    params = at.dataframe[0].value
    assert params.loc["beta", params.columns[0]] == "—"  # sft has no beta: shown as missing
    assert "reward_functions" in params.index
    assert "other prompt(s) differ" in text_of(at)
    from dashboard import compare_data as cd
    from dashboard.charts import overlay
    from dashboard.common import metrics
    jobs, _ = cd.load_jobs(home, [s, d, g])
    frames = {j["label"]: metrics(j["dir"]) for j in jobs}
    only_dpo = overlay({k: v for k, v in frames.items() if "reward_margin" in v}, "reward_margin", "step", 0.5,
                       {j["label"]: j["color"] for j in jobs})
    assert only_dpo is not None
    finals, best = cd.final_metrics(jobs, frames)
    assert finals.loc["final_reward", jobs[2]["label"]] == 0.5
    assert "final_loss" not in best  # one job per method: no loss is ranked against another method's loss
    assert "None" not in "\n".join(map(str, at.dataframe[1].value.to_numpy().ravel()))
    assert "MiB" in "\n".join(map(str, at.dataframe[1].value.to_numpy().ravel())) and "final_eval_loss" in finals.index


def test_compare_marks_best_only_among_jobs_whose_metric_means_the_same(home):
    from dashboard import compare_data as cd
    from dashboard.common import metrics
    low = fake_run(home, "sft-low", lr=1e-4)
    high = fake_run(home, "sft-high", lr=1e-2)
    grpo = fake_run(home, "grpo-lowest", method="grpo", lr=1e-5, batch_size=4)  # the lowest loss of all
    jobs, _ = cd.load_jobs(home, [low, high, grpo])
    finals, best = cd.final_metrics(jobs, {j["label"]: metrics(j["dir"]) for j in jobs})
    assert finals.loc["final_loss", jobs[2]["label"]] < finals.loc["final_loss", jobs[0]["label"]]
    assert best["final_loss"] == {jobs[0]["label"]}  # the best SFT loss; the GRPO loss is not comparable
    assert cd.fmt_metric("peak_memory_bytes", 10 ** 8) == "95.4 MiB" and cd.fmt_metric("final_loss", None) == "—"


def test_compare_two_jobs_word_diff(home):
    from dashboard import compare_data as cd
    a, b = cd.word_diff_html("the cat sat down", "the dog sat down")
    assert "<mark" in a and "cat" in a and "dog" in b and "sat down" in a


def test_compare_job_without_metrics(home):
    a = fake_run(home, "has", lr=1e-3)
    b = fake_run(home, "none-yet", status="queued", metrics=False)
    at = open_page("compare", jobs=f"{a},{b}")
    assert "No metrics yet" in text_of(at)


def test_broken_registry_entries_never_traceback(home):
    atomic_write_json(home.models / "gone.json", {"path": "/nonexistent/model"})
    (home.datasets / "empty.jsonl").write_text("")
    (home.datasets / "latin1.jsonl").write_bytes(b'{"q": "caf\xe9"}\n')
    for page in ("models", "datasets", "new"):
        at = open_page(page)
        assert not at.exception
    at = open_page("models")
    assert "not a folder" in text_of(at)
    at = open_page("new")
    at.selectbox(key="m_dataset").set_value("empty").run()
    assert not at.exception and at.button(key="btn_run").disabled
    assert any("empty" in e.value for e in at.error)


def test_copy_of_a_job_whose_dataset_is_gone(home):
    from tests.conftest import write_jsonl
    write_jsonl(home.datasets / "temp.jsonl", [{"instruction": "a", "output": "b"}] * 4)
    job = fake_run(home, "orphan", dataset="temp", lr=3e-4)
    (home.datasets / "temp.jsonl").unlink()
    at = open_page("new", copy=job)
    assert "temp is no longer registered" in text_of(at)
    assert at.number_input(key="p_learning_rate").value == pytest.approx(3e-4)


def test_downsample_keeps_at_most_2000_points_and_the_last():
    import pandas as pd

    from dashboard.common import downsample, ema
    df = pd.DataFrame({"step": range(1, 100_001), "loss": [1.0 / i for i in range(1, 100_001)]})
    small = downsample(df)
    assert len(small) <= 2001 and small["step"].iloc[-1] == 100_000 and small["step"].iloc[0] == 1
    assert downsample(df.head(50)).equals(df.head(50))
    s = ema(pd.Series([0.0, 10.0, 10.0]), 0.5)
    assert s.iloc[0] == 0 and 0 < s.iloc[1] < 10


def test_language_switch_on_pages_with_translated_choices(home):
    a = fake_run(home, "one")
    b = fake_run(home, "two", lr=5e-4)
    for page, query in (("compare", {"jobs": f"{a},{b}"}), ("trainings", {}), ("details", {"id": a})):
        at = open_page(page, **query)
        at.sidebar.selectbox[0].set_value("zh").run()
        assert not at.exception, [e.value for e in at.exception]
        at.sidebar.selectbox[0].set_value("en").run()
        assert not at.exception, [e.value for e in at.exception]
