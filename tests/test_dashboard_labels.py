"""Defects found by walking every page as a new user, in English and 中文: labels left in English, a duplicated
UTC column, "position ?" for a queue place nobody knows yet, Try/Export captions that ask a failed run to wait, and
chart axes printing "1,000.000000" for a flat series."""
import html

from jobs.state import QUEUE_FILE, update_state
from tests.helpers import fake_run, open_page, text_of


def _zh(at):
    at.sidebar.selectbox[0].set_value("zh").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _overview_table(at):
    df = at.dataframe[0].value
    return dict(zip(df[""], df[" "], strict=True)), list(df.columns)


def test_zh_overview_labels_are_translated_and_no_duplicate_utc_column(home):
    job = fake_run(home, "walked", status="failed")
    at = _zh(open_page("details", id=job))
    rows, cols = _overview_table(at)
    assert rows["任务 ID"] == job and rows["数据集 sha256"] == "—"
    assert not {"job id", "dataset sha256"} & set(rows)
    # The viewer's zone is UTC here (no browser), so local and UTC times are the same: one column, not two.
    assert cols == ["", " "]


def test_failed_run_says_it_has_no_adapter_instead_of_asking_to_wait(home):
    job = fake_run(home, "no-adapter", status="failed")
    txt = text_of(open_page("details", id=job))
    assert "ended without an adapter, so there is nothing to try" in txt
    assert "ended without an adapter, so there is nothing to export" in txt
    assert "Try it opens when" not in txt
    zh = text_of(_zh(open_page("details", id=job)))
    assert "无法试用" in zh and "无法导出" in zh


def test_queued_run_without_a_known_place_says_so(home):
    job = fake_run(home, "waiting", status="queued", metrics=False)
    update_state(home.run_dir(job), started_at=None, finished_at=None)
    (home.home / QUEUE_FILE).write_text('{"order": []}')  # the spooler's last snapshot predates this job
    txt = text_of(open_page("details", id=job))
    assert "position ?" not in txt and "place in the queue shows once the spooler" in txt
    assert "Export opens when the run has finished" in txt and "Try it opens when the run has finished" in txt


def test_flat_series_axis_is_not_printed_with_six_decimals(home):
    from dashboard.charts import overlay
    from dashboard.common import metrics as load_metrics
    job = fake_run(home, "flat", steps=5)
    chart = overlay({"flat": load_metrics(home.run_dir(job))}, "grad_norm", "step", 0.5, {"flat": "#1f77b4"})
    spec = html.unescape(chart.to_json())
    assert "\"labelExpr\": \"format(datum.value, '~g')\"" in spec  # 1000, not 1,000.000000 (nor 5e+1 for 50)


def test_methods_defaults_are_spelled_as_in_a_spec_not_as_python(home):
    at = open_page("methods")
    defaults = [v for df in (d.value for d in at.dataframe) if "Default" in df for v in df["Default"]]
    assert '["correctness", "format"]' in defaults and "null" in defaults
    assert not [v for v in defaults if v == "None" or "'" in v]


def test_compare_shows_an_unknown_dataset_hash_and_no_parent_as_dash(home):
    from dashboard import compare_data as cd
    a, b = fake_run(home, "left", lr=1e-3), fake_run(home, "right", lr=5e-4)
    update_state(home.run_dir(a), dataset_sha256="ab" * 32)
    jobs, _ = cd.load_jobs(home, [a, b])
    params = cd.params_table(jobs)
    assert list(params.loc["dataset_sha256"]) == ["ab" * 6, "—"]
    assert list(params.loc["parent_job"]) == ["—", "—"]
    assert params.loc["max_samples"].iloc[0] == "-1"  # params keep the spec's spelling


def test_trainings_name_column_is_wide_enough_for_a_name(home):
    import json
    fake_run(home, "a-rather-long-descriptive-run-name")
    cols = json.loads(open_page("trainings").dataframe[0].proto.columns)
    assert cols["name"]["width"] >= 160  # about 22 characters, and the watched columns still fit a laptop (#25)
