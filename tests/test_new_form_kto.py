"""The New training form for KTO, which trains on answers marked good or bad and also on preference pairs (each
pair turned into one desirable and one undesirable row): the form shows the pickers of the dataset's own format and
says how pairs are turned into KTO rows. Through Streamlit's AppTest."""
import json

import pytest

from jobs.models.registry import dataset_info, list_datasets
from tests.conftest import write_jsonl
from tests.helpers import open_page, text_of

UNPAIRED = [{"prompt": f"Is {n} even?", "completion": "yes" if n % 2 == 0 else "no", "label": True} for n in range(6)] \
    + [{"prompt": f"Is {n} even?", "completion": "no" if n % 2 == 0 else "yes", "label": False} for n in range(6)]


@pytest.fixture
def home(ws, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    write_jsonl(ws.datasets / "thumbs.jsonl", UNPAIRED)
    return ws


def keys(widgets) -> set:
    return {w.key for w in widgets if w.key}


def test_kto_on_pairs_says_they_become_desirable_and_undesirable_rows_and_hides_the_unpaired_pickers(home):
    at = open_page("new")
    at.selectbox(key="m_method").set_value("kto").run()
    at.selectbox(key="m_dataset").set_value("demo-prefs").run()
    pairs = dataset_info(list_datasets(home)["demo-prefs"])["rows"]
    shown = text_of(at)
    assert "each pair becomes two rows: the chosen answer as desirable (label true), the rejected one as " \
           f"undesirable (label false) — {pairs} pairs give {2 * pairs} rows" in shown
    pickers = keys(at.selectbox)
    assert {"p_chosen_column", "p_rejected_column"} <= pickers
    assert not {"p_completion_column", "p_label_column"} & pickers          # pair rows have no completion / label
    assert at.selectbox(key="p_chosen_column").value == "chosen"
    assert at.selectbox(key="p_rejected_column").value == "rejected"
    spec = json.loads(at.code[-1].value)                                     # Spec as JSON: what will be spooled
    assert spec["method"] == "kto" and spec["params"]["chosen_column"] == "chosen"
    assert not at.button(key="btn_run").disabled

    at.sidebar.selectbox[0].set_value("zh").run()                           # the same in 中文
    assert not at.exception, [e.value for e in at.exception]
    assert f"{pairs} 个偏好对得到 {2 * pairs} 行" in text_of(at)


def test_kto_on_unpaired_rows_shows_the_completion_and_label_pickers_and_no_pair_note(home):
    at = open_page("new")
    at.selectbox(key="m_method").set_value("kto").run()
    at.selectbox(key="m_dataset").set_value("thumbs").run()
    pickers = keys(at.selectbox)
    assert {"p_completion_column", "p_label_column"} <= pickers
    assert not {"p_chosen_column", "p_rejected_column"} & pickers          # unpaired rows have no pairs
    assert at.selectbox(key="p_completion_column").value == "completion"
    assert at.selectbox(key="p_label_column").value == "label"
    assert "each pair becomes two rows" not in text_of(at)
    assert not at.button(key="btn_run").disabled


def test_dpo_on_pairs_keeps_its_pickers_and_shows_no_note(home):
    at = open_page("new")
    at.selectbox(key="m_method").set_value("dpo").run()
    at.selectbox(key="m_dataset").set_value("demo-prefs").run()
    assert {"p_chosen_column", "p_rejected_column"} <= keys(at.selectbox)
    assert "each pair becomes two rows" not in text_of(at)
