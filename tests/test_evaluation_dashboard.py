"""The evaluation table on details, Compare (with a shared base shown once, exports) and the Trainings list."""
import json

import pandas as pd
import pytest

from jobs.atomic import atomic_write_json
from jobs.evaluation import EVALUATION_FILE, EVALUATION_ROWS_FILE
from tests.helpers import fake_run, open_page, text_of


@pytest.fixture
def home(ws, monkeypatch):
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    return ws


def write_eval(ws, job, rouge, ppl, base_rouge=0.2, base_ppl=9.0):
    run_dir = ws.run_dir(job)
    atomic_write_json(run_dir / EVALUATION_FILE, {
        "rows": 2, "decoding": {"do_sample": False, "max_new_tokens": 24},
        "metrics": {"rouge_l": {"base": base_rouge, "tuned": rouge, "better": "higher"},
                    "perplexity": {"base": base_ppl, "tuned": ppl, "better": "lower"}}})
    rows = [{"index": 0, "prompt": "What color is snow?", "reference": "white", "base": "white", "tuned": "blue",
             "scores": {"base": {"rouge_l": 1.0, "perplexity": 3.0}, "tuned": {"rouge_l": 0.0, "perplexity": 4.0}}},
            {"index": 1, "prompt": "Spell cat backwards.", "reference": "tac", "base": "cat", "tuned": "tac",
             "scores": {"base": {"rouge_l": 0.0, "perplexity": 5.0}, "tuned": {"rouge_l": 1.0, "perplexity": 2.0}}}]
    (run_dir / EVALUATION_ROWS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_details_shows_base_tuned_delta_and_rows_that_got_worse(home):
    job = fake_run(home, "evaluated")
    write_eval(home, job, rouge=0.35, ppl=12.0)
    at = open_page("details", id=job)
    element = next(d for d in at.dataframe if "metric" in d.value.columns)
    table = element.value
    rouge = table[table["metric"] == "rouge_l"].iloc[0]
    assert rouge["base"] == 0.2 and rouge["tuned"] == 0.35 and abs(rouge["delta"] - 0.15) < 1e-9
    ppl = table[table["metric"] == "perplexity"].iloc[0]
    assert ppl["delta"] == 3.0  # worse: perplexity should go down
    styles = element.proto.arrow_data.styler.styles
    assert "#137333" in styles and "#c5221f" in styles  # green for the better delta, red for the worse
    assert "Held-out evaluation" in text_of(at)
    rows = next(d.value for d in at.dataframe if "tuned_answer" in d.value.columns)
    assert len(rows) == 2
    at.toggle(key="evalm_worse").set_value(True).run()
    rows = next(d.value for d in at.dataframe if "tuned_answer" in d.value.columns)
    assert list(rows["prompt"]) == ["What color is snow?"]  # rouge_l fell from 1 to 0 on this row only
    at.selectbox(key="evalm_row_metric").set_value("perplexity").run()
    rows = next(d.value for d in at.dataframe if "tuned_answer" in d.value.columns)
    assert list(rows["prompt"]) == ["What color is snow?"]  # perplexity rose 3 -> 4 there, fell 5 -> 2 on the other


def test_details_without_evaluation_says_so_in_both_languages(home):
    job = fake_run(home, "plain", status="failed")
    at = open_page("details", id=job)
    assert "No evaluation yet" in text_of(at)
    at.session_state["lang"] = "zh"
    at.run()
    assert "暂无评估" in text_of(at)


def test_compare_gains_evaluation_rows_best_marked_base_once(home):
    a = fake_run(home, "lr-a", lr=1e-3)
    b = fake_run(home, "lr-b", lr=2e-3)
    write_eval(home, a, rouge=0.35, ppl=12.0)
    write_eval(home, b, rouge=0.30, ppl=7.0)
    at = open_page("compare", jobs=f"{a},{b}")
    finals = next(d.value for d in at.dataframe if "eval · rouge_l" in d.value.index)
    base_cols = [c for c in finals.columns if str(c).startswith("base")]
    assert base_cols == ["base · tiny-demo"]  # the two jobs share the base result: one column
    assert float(finals.loc["eval · rouge_l", base_cols[0]]) == 0.2  # shown formatted as text
    from dashboard import compare_data as cd
    from dashboard.compare_eval import eval_table
    jobs, _ = cd.load_jobs(home, [a, b])
    table, best = eval_table(jobs, lambda m: f"base · {m}")
    assert best["eval · rouge_l"] == {jobs[0]["label"]} and best["eval · perplexity"] == {jobs[1]["label"]}
    frames = {j["label"]: pd.DataFrame() for j in jobs}
    finals2, _ = cd.final_metrics(jobs, frames)
    csv = cd.export_csv(cd.params_table(jobs), pd.concat([finals2, table]))
    assert "eval · rouge_l" in csv and "base · tiny-demo" in csv
    html = cd.export_html(jobs, cd.params_table(jobs), pd.concat([finals2, table]), [], [])
    assert "eval · perplexity" in html and "base · tiny-demo" in html


def test_compare_outputs_sort_by_disagreement():
    from dashboard.compare_eval import disagreement, sort_by_disagreement
    same = {"prompt": "p1", "answers": {"a": "the cat sat", "b": "the cat sat"}}
    differ = {"prompt": "p2", "answers": {"a": "the cat sat", "b": "a dog ran far"}}
    assert disagreement(["x y", "x y"]) == 0 and disagreement(["x", "y"]) == 1
    assert [s["prompt"] for s in sort_by_disagreement([same, differ])] == ["p2", "p1"]


def test_trainings_list_headline_metric_and_phase(home):
    job = fake_run(home, "evaluated")
    write_eval(home, job, rouge=0.35, ppl=12.0)
    running = fake_run(home, "busy", status="running")
    atomic_write_json(home.run_dir(running) / "progress.json",
                      {"phase": "tuned_evaluation", "done": 3, "total": 8, "step": 20, "total_steps": 20})
    at = open_page("trainings")
    df = at.dataframe[0].value
    assert df[df["name"] == "evaluated"]["eval"].iloc[0] == "rouge_l 0.35 ▲ +0.15"
    assert df[df["name"] == "busy"]["phase"].iloc[0] == "tuned evaluation 3/8"
