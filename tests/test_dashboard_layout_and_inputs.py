"""Dashboard defects from the new-user and hostile-input pass (#25), through Streamlit's AppTest and the chart and
table builders: whole rejection reasons in both languages, durations and chart axes in 中文, readable chart ticks,
values that cannot flatten a chart, ties, a confirmed cancel, the job picker, a negative step, wide and chat datasets."""
import csv
import html
import json

import pandas as pd
import pytest

from jobs.atomic import atomic_write_json
from tests.helpers import fake_run, open_page, text_of
from tests.light_workspace import light_workspace

LONG_REASON = ("params.learning_rate: must be one of 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4 and a few more values that "
               "make this line much longer than a table cell could ever show in full (got 5)")


@pytest.fixture
def home(tmp_path, monkeypatch):
    ws = light_workspace(tmp_path)  # no model is loaded by these pages
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    return ws


def open_zh(page: str, **query):
    """A page opened in 中文, the language coming from the URL as on a reload."""
    from streamlit.testing.v1 import AppTest

    from tests.helpers import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def write_metrics(ws, job, rows):
    with open(ws.run_dir(job) / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "loss", "tokens_per_second"])
        w.writerows(rows)


def test_rejected_reasons_are_whole_and_in_chinese(home):
    (home.rejected / "bad.json").write_text("{}")
    (home.rejected / "bad.json.error.txt").write_text(f"bad.json was rejected:\n{LONG_REASON}\nthe file is empty\n")
    at = open_page("trainings")
    assert LONG_REASON in text_of(at)  # every word, not a table cell cut mid-text
    at = open_zh("trainings")
    txt = text_of(at)
    assert "params.learning_rate: 必须是以下之一：" in txt and "（实际为 5）" in txt and "文件为空" in txt
    assert "must be one of" not in txt


def test_durations_and_chart_axes_in_chinese(home):
    job = fake_run(home, "busy", status="running", steps=5)
    atomic_write_json(home.run_dir(job) / "progress.json", {"step": 2, "total_steps": 5, "eta_seconds": 2274})
    at = open_zh("trainings")
    assert at.dataframe[0].value["eta"].iloc[0] == "37分54秒"
    at = open_zh("details", id=job)
    assert "剩余时间 37分54秒" in " ".join(str(p.proto.text) for p in at.get("progress"))
    specs = json.dumps(charts(at), ensure_ascii=False)
    assert '"title": "步数"' in specs and '"title": "损失"' in specs and "损失 (loss)" in specs  # axes, chart title
    at = open_page("trainings")
    assert at.dataframe[0].value["eta"].iloc[0] == "37m 54s"


def test_chart_ticks_read_as_numbers_and_one_point_shows():
    from dashboard.charts import overlay
    df = pd.DataFrame({"step": [1, 2, 3], "loss": [2.0, 1.5, 1.2], "tokens_per_second": [50.0, 52.0, 55.0]})
    spec = overlay({"a": df}, "tokens_per_second", "step", 0.0, {"a": "#000"}).to_dict()
    layer = spec["layer"][0]["encoding"]
    assert layer["x"]["axis"]["format"] == ",d" and layer["x"]["axis"]["tickMinStep"] == 1  # no step 1.5
    assert layer["y"]["axis"]["labelExpr"] == "format(datum.value, '~g')"  # 50, never 5e+1
    one = overlay({"a": df.head(1)}, "loss", "step", 0.6, {"a": "#000"}).to_dict()
    dots = [lay for lay in one["layer"] if (lay.get("mark") or {}).get("type") == "point"]
    assert dots and dots[0]["transform"] == [{"filter": "datum.single"}]
    values = next(iter(one["datasets"].values()))
    assert values[0]["single"] is True


def test_absurd_values_do_not_flatten_the_other_curves(home):
    normal = [fake_run(home, f"normal-{i}", steps=20) for i in range(2)]
    wild = fake_run(home, "wild", steps=20)
    write_metrics(home, wild, [[s, 1.0, 50] for s in range(1, 5)] + [[1e22, 1e308, 50], [6, "inf", 50]])
    at = open_page("compare", jobs=",".join([*normal, wild]))
    loss = next(c for c in charts(at) if c["layer"][0]["encoding"]["y"]["title"] == "loss")
    note = "\n".join(loss["title"]["subtitle"])
    assert "Left out of the axis range" in note and "wild" in note and "step 1e+22, loss 1e+308" in note
    from dashboard.charts import overlay
    from dashboard.common import metrics
    frames = {j: metrics(home.run_dir(j)) for j in [*normal, wild]}
    data = next(iter(overlay(frames, "loss", "step", 0.6, dict.fromkeys(frames, "#000")).to_dict()["datasets"].values()))
    assert max(v["x"] for v in data) <= 20 and max(v["raw"] for v in data) < 10


def test_a_tie_is_nobodys_win():
    from dashboard.compare_data import winners
    assert winners([(1.0, "a"), (1.0, "b")], lower=True) == set()
    assert winners([(1.0, "a"), (1.0, "b"), (2.0, "c")], lower=True) == {"a", "b"}
    assert winners([(1.0, "a"), (2.0, "b")], lower=False) == {"b"}


def test_a_tie_is_not_highlighted_on_compare(home):
    a, b = fake_run(home, "same-a", steps=10), fake_run(home, "same-b", steps=10)
    at = open_page("compare", jobs=f"{a},{b}")
    styled = at.dataframe[-1]  # the final metrics
    assert "d6f5d6" not in json.dumps(str(styled.proto.arrow_data.styler.styles))


def test_cancel_on_details_asks_first(home):
    job = fake_run(home, "running-one", status="running")
    at = open_page("details", id=job)
    at.button(key="d_cancel").click().run()
    cancel_file = home.run_dir(job) / "cancel.request.json"
    assert not any(home.run_dir(job).glob("cancel*")), "cancelled without asking"
    assert "running-one" in text_of(at) and at.button(key="d_cancel_yes")
    at.button(key="d_cancel_no").click().run()
    assert not any(home.run_dir(job).glob("cancel*"))
    at.button(key="d_cancel").click().run()
    at.button(key="d_cancel_yes").click().run()
    assert any(home.run_dir(job).glob("cancel*")), cancel_file


def test_details_without_an_id_offers_a_picker(home):
    first = fake_run(home, "first-job", metrics=False)
    fake_run(home, "second-job", metrics=False)
    at = open_page("details")
    pick = at.selectbox(key="d_pick")
    assert len(pick.options) == 2 and any("first-job" in o for o in pick.options)
    pick.set_value(first).run()
    assert at.query_params["id"] == [first] or at.query_params["id"] == first
    assert "first-job" in text_of(at)


def test_negative_or_absurd_step_does_not_break_the_page(home):
    job = fake_run(home, "odd-progress", status="running", metrics=False)
    for step in (-5, 10**30):
        atomic_write_json(home.run_dir(job) / "progress.json",
                          {"step": step, "total_steps": 10, "phase": "tuned_evaluation", "done": -3, "total": 8})
        open_page("details", id=job)  # open_page asserts there is no exception


def test_trainings_watched_columns_first_and_created_names_its_zone(home):
    fake_run(home, "one", metrics=False)
    at = open_page("trainings")
    df = at.dataframe[0].value
    assert list(df.columns)[:11] == ["details", "name", "status", "progress", "steps", "eta", "phase", "result",
                                     "eval", "owner", "queue"]  # the owner right after: "Mine" already filters
    assert df["created"].iloc[0].endswith("UTC")
    config = json.loads(at.dataframe[0].proto.columns)
    watched = ["details", "name", "status", "progress", "steps", "eta", "phase", "result", "eval"]
    # They fit the table on a 1440 px laptop screen (about 980 px of table beside the sidebar, 33 px of ticks).
    assert sum(config[c]["width"] for c in watched) + 33 <= 985


def test_overview_shows_utc_in_the_same_cell_and_spans_the_page(home):
    job = fake_run(home, "overview-job")
    at = open_page("details", id=job)
    overview = next(d for d in at.dataframe if "Adapter" in list(d.value.iloc[:, 0]))
    assert list(overview.value.columns) == ["", " "]  # no third UTC column to be cut off
    assert json.loads(overview.proto.columns)[" "]["width"] >= 700


def test_messages_dataset_preview_shows_turns(home):
    (home.datasets / "chat.jsonl").write_text(json.dumps({"messages": [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."}]}) + "\n")
    at = open_page("datasets")
    assert "system: You are terse.\nuser: What is 2+2?\nassistant: 4." in [t.value for t in at.text]
    assert not any('"role"' in str(d.value.to_string()) for d in at.dataframe)


def test_a_dataset_with_100000_columns_is_capped_counted_and_searchable(home):
    row = {f"c_{i:06d}": "x" for i in range(100_000)}
    (home.datasets / "wide.jsonl").write_text("".join(json.dumps(row) + "\n" for _ in range(3)))
    at = open_page("datasets", timeout=120)
    label = html.unescape(next(e.label for e in at.expander if "wide" in e.label))
    assert len(label) < 600 and "99,992" in label
    table = at.dataframe[-1].value
    assert table.shape == (3, 40)
    assert "Showing 40 of 100,000 columns" in text_of(at)
    at.text_input(key="colq_wide").set_value("c_09999").run()
    assert list(at.dataframe[-1].value.columns) == [f"c_09999{i}" for i in range(10)]
    shown = [html.unescape(c.value) for c in at.caption if "Showing" in c.value]
    assert shown == ["Showing 10 of 100,000 columns matching “c_09999”."], shown
