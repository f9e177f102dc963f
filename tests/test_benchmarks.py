"""Benchmarks through lm-evaluation-harness: local suites registered with the CLI, scored on the base and the tuned
tiny-demo model in a real training job; the base cache, a stop, a suite that cannot be loaded, the alarm."""
import json

import pytest

from jobs import benchmarks
from jobs.__main__ import main as jobs_main
from jobs.atomic import atomic_write_json, read_json
from jobs.evaluation import EVALUATION_FILE
from jobs.state import EXIT_STOPPED
from tests.benchmark_data import register_arith
from tests.conftest import write_jsonl
from tests.trainer_helpers import make_run, run, state


def test_cli_registers_and_lists_and_refuses_bad_input(ws, tmp_path, capsys):
    register_arith(ws, tmp_path)
    out = capsys.readouterr().out
    assert "registered benchmark arith-mc: multiple_choice, 8 rows, 0-shot" in out
    assert jobs_main(["benchmark", "list", "--home", str(ws.home)]) == 0
    listing = capsys.readouterr().out
    assert "arith-mc" in listing and "arith-em" in listing and "exact_match" in listing
    info = read_json(ws.home / "benchmarks" / "arith-em" / benchmarks.INFO_FILE)
    assert info["final_number"] is True and info["few_shot"] == 1
    yaml_text = (ws.home / "benchmarks" / "arith-mc" / benchmarks.TASK_FILE).read_text()
    assert "dataset_path: json" in yaml_text and "data_files" in yaml_text and "multiple_choice" in yaml_text

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"q": "x?", "options": ["a", "b"], "gold": 5}])
    assert jobs_main(["benchmark", "add", "bad", "--jsonl", str(bad), "--kind", "multiple_choice",
                      "--question-column", "q", "--choices-column", "options", "--answer-column", "gold",
                      "--home", str(ws.home)]) == 1
    err = capsys.readouterr().err
    assert "row 1: gold = 5" in err and "0 to 1" in err and "A to B" in err
    assert jobs_main(["benchmark", "add", "bad", "--jsonl", str(bad), "--kind", "exact_match",
                      "--home", str(ws.home)]) == 1
    assert "no column 'question' (--question-column); its columns are gold, options, q" in capsys.readouterr().err
    assert jobs_main(["benchmark", "add", "arith-mc", "--jsonl", str(bad), "--kind", "exact_match",
                      "--question-column", "q", "--answer-column", "gold", "--home", str(ws.home)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert not (ws.home / "benchmarks" / "bad").exists()
    assert [s.name for s in benchmarks.list_suites(ws)] == ["arith-em", "arith-mc"]


def test_alarm_uses_stderr_or_the_workspace_threshold(ws):
    ev = {"metrics": {}, "benchmarks": {"s": {"acc": {"base": 0.6, "tuned": 0.5, "stderr": 0.05, "better": "higher"},
                                              "ppl": {"base": 3.0, "tuned": 3.01, "stderr": 0.1, "better": "lower"}}}}
    hits = benchmarks.regressions(ev)
    assert [(h["suite"], h["metric"], h["drop"]) for h in hits] == [("s", "acc", 0.1)]
    assert benchmarks.regressions(ev, threshold=0.2) == []
    atomic_write_json(ws.home / "config.json", {benchmarks.ALARM_KEY: 0.005})
    assert {h["metric"] for h in benchmarks.regressions(ev, benchmarks.alarm_threshold(ws))} == {"acc", "ppl"}


def scores(run_dir) -> dict:
    ev = read_json(run_dir / EVALUATION_FILE)
    assert ev and ev.get("benchmarks"), (run_dir / "train.log").read_text()[-4000:]
    return ev


def test_training_job_scores_base_and_tuned_then_a_copy_reuses_the_base(ws, tmp_path):
    register_arith(ws, tmp_path)
    run_dir = make_run(ws, "sft", max_steps=2, eval_max_rows=4, benchmarks=["arith-mc", "arith-em", "nope-suite"],
                       benchmark_limit=6)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-3000:]
    ev = scores(run_dir)
    b = ev["benchmarks"]
    assert set(b) == {"arith-mc", "arith-em"}
    acc = b["arith-mc"]["acc"]
    assert 0 <= acc["base"] <= 1 and 0 <= acc["tuned"] <= 1 and acc["better"] == "higher"
    assert acc["stderr"] is not None and acc["stderr"] > 0
    em = b["arith-em"]["exact_match (final_number)"]
    assert 0 <= em["base"] <= 1 and 0 <= em["tuned"] <= 1
    meta = ev["benchmarks_meta"]
    assert meta["lm_eval_version"] == "0.4.13" and meta["limit"] == 6
    assert len(meta["suites"]["arith-mc"]["config_hash"]) == 16
    assert "nope-suite" in ev["benchmark_errors"]["nope-suite"] and "neither a workspace benchmark" in \
        ev["benchmark_errors"]["nope-suite"]
    assert ev["metrics"]["rouge_l"]["base"] is not None  # the held-out evaluation is kept beside them
    progress = read_json(run_dir / "progress.json")
    assert progress["phase"] == "saving"
    log = (run_dir / "train.log").read_text()
    assert "phase: run benchmarks" in log and "benchmark arith-mc: acc" in log
    assert state(run_dir)["status"] == "succeeded"

    # on demand, on the finished run: the worker a queued benchmark job runs; the other suite's scores are kept
    from trainer import benchmarks as tb
    assert tb.main([str(run_dir), "--suite", "arith-mc", "--limit", "4"]) == 0
    again = scores(run_dir)
    assert set(again["benchmarks"]) == {"arith-mc", "arith-em"} and again["benchmarks_meta"]["limit"] == 4
    assert again["benchmarks"]["arith-em"] == b["arith-em"] and "nope-suite" in again["benchmark_errors"]

    copy = make_run(ws, "sft", max_steps=2, eval_max_rows=4, benchmarks=["arith-mc", "arith-em"], benchmark_limit=6,
                    learning_rate=5e-3)
    assert run(copy) == 0
    assert "base-model benchmarks reused from the cache" in (copy / "train.log").read_text()
    cb = scores(copy)["benchmarks"]
    assert {m: e["base"] for m, e in cb["arith-mc"].items()} == {m: e["base"] for m, e in b["arith-mc"].items()}


def test_stop_during_benchmarks_ends_within_seconds_and_keeps_the_adapter(ws, tmp_path, monkeypatch):
    import time

    from trainer import benchmarks as tb
    register_arith(ws, tmp_path)
    run_dir = make_run(ws, "sft", max_steps=2, eval_max_rows=0, benchmarks=["arith-em", "arith-mc"],
                       benchmark_limit=8)
    original = tb.evaluate
    seen = {}

    def stop_then_evaluate(lm, tm, tasks, limit, seed=0):  # the stop arrives as the first suite starts scoring
        (run_dir / "stop").touch()
        seen["at"] = time.monotonic()
        return original(lm, tm, tasks, limit, seed)
    monkeypatch.setattr(tb, "evaluate", stop_then_evaluate)
    assert run(run_dir) == EXIT_STOPPED
    assert time.monotonic() - seen["at"] < 10
    st = state(run_dir)
    assert st["status"] == "cancelled" and "adapter" in st["error"]
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()
    assert not (read_json(run_dir / EVALUATION_FILE, {}) or {}).get("benchmarks")
    assert "stopped during the benchmarks" in (run_dir / "train.log").read_text()


@pytest.mark.parametrize("broken", ["missing_data"])
def test_a_suite_whose_data_is_gone_names_the_task_and_the_file(ws, tmp_path, broken):
    register_arith(ws, tmp_path)
    (ws.home / "benchmarks" / "arith-em" / benchmarks.DATA_FILE).unlink()
    run_dir = make_run(ws, "sft", max_steps=1, eval_max_rows=0, benchmarks=["arith-em", "arith-mc"], benchmark_limit=4)
    assert run(run_dir) == 0
    ev = scores(run_dir)
    assert set(ev["benchmarks"]) == {"arith-mc"}
    reason = ev["benchmark_errors"]["arith-em"]
    assert "arith-em" in reason and "could not be loaded" in reason and "data.jsonl" in reason, reason
    assert json.dumps(ev)  # plain JSON


def bench_eval(ws, job, tuned_acc, base_acc=0.75, stderr=0.05):
    atomic_write_json(ws.run_dir(job) / EVALUATION_FILE, {
        "metrics": {"rouge_l": {"base": 0.2, "tuned": 0.3, "better": "higher"}},
        "benchmarks": {"arith-mc": {"acc": {"base": base_acc, "tuned": tuned_acc, "stderr": stderr,
                                            "better": "higher"}}},
        "benchmarks_meta": {"lm_eval_version": "0.4.13", "limit": 100, "suites": {}},
        "benchmark_errors": {"gsm8k": "suite 'gsm8k': task gsm8k could not be loaded: ConnectionError: offline"}})


def test_pages_show_benchmarks_the_alarm_and_compare_columns(ws, monkeypatch):
    from tests.helpers import fake_run, open_page, text_of
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    forgot = fake_run(ws, "forgot")
    kept = fake_run(ws, "kept", lr=2e-3)
    bench_eval(ws, forgot, tuned_acc=0.5)
    bench_eval(ws, kept, tuned_acc=0.74)
    at = open_page("details", id=forgot)
    table = next(d.value for d in at.dataframe if "suite" in d.value.columns)
    row = table.iloc[0]
    assert (row["suite"], row["metric"], row["base"], row["tuned"]) == ("arith-mc", "acc", 0.75, 0.5)
    text = text_of(at)
    assert "Forgetting alarm" in text and "arith-mc" in text and "0.75 → 0.5 (−0.25, more than 0.05)" in text
    assert "task gsm8k could not be loaded" in text and "lm-eval 0.4.13" in text

    at = open_page("trainings")
    df = at.dataframe[0].value
    assert df[df["name"] == "forgot"]["eval"].iloc[0].startswith("⚠️ arith-mc -0.25 · rouge_l")
    assert "⚠️" not in df[df["name"] == "kept"]["eval"].iloc[0]  # 0.01 below the base is within the stderr

    at = open_page("compare", jobs=f"{forgot},{kept}")
    finals = next(d.value for d in at.dataframe if "bench · arith-mc · acc" in d.value.index)
    assert [c for c in finals.columns if str(c).startswith("base")] == ["base · tiny-demo"]  # the base once
    assert float(finals.loc["bench · arith-mc · acc", "base · tiny-demo"]) == 0.75


def test_smollm2_forgets_capitals_after_a_high_learning_rate_and_the_alarm_fires(smollm2_home, tmp_path, monkeypatch):
    """The real model knows its capitals; LoRA at a learning rate far too high, on unrelated data, breaks that."""
    from jobs.models import smollm2
    from jobs.workspace import Workspace
    from tests.benchmark_data import capitals, sums
    from tests.helpers import open_page
    ws = Workspace(smollm2_home)
    mc = write_jsonl(tmp_path / "capitals.jsonl", capitals(16))
    em = write_jsonl(tmp_path / "sums.jsonl", sums())
    assert jobs_main(["benchmark", "add", "capitals", "--jsonl", str(mc), "--kind", "multiple_choice", "--replace",
                      "--home", str(ws.home)]) == 0
    assert jobs_main(["benchmark", "add", "sums", "--jsonl", str(em), "--kind", "exact_match", "--few-shot", "2",
                      "--replace", "--home", str(ws.home)]) == 0
    raw = {"name": "too-hot", "method": "sft", "base_model": smollm2.NAME, "dataset": "demo-instruct",
           "params": {"max_steps": 6, "batch_size": 2, "learning_rate": 0.05, "max_seq_length": 256,
                      "max_input_length": 128, "max_content_length": 64,
                      "eval_max_rows": 0, "num_sample_prompts": 0, "benchmarks": ["capitals", "sums"],
                      "benchmark_limit": 16}}
    from jobs.spec import validate
    from jobs.state import create_run, new_job_id
    v = validate(raw, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-3000:]
    ev = scores(run_dir)
    acc = ev["benchmarks"]["capitals"]["acc"]
    assert acc["base"] >= 0.75, acc  # the base model knows them
    em_entry = ev["benchmarks"]["sums"]["exact_match (final_number)"]
    assert em_entry["base"] is not None and em_entry["tuned"] is not None
    hits = benchmarks.regressions(ev, benchmarks.alarm_threshold(ws))
    assert any(h["suite"] == "capitals" and h["metric"] == "acc" for h in hits), ev["benchmarks"]

    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    at = open_page("trainings")
    df = at.dataframe[0].value
    badge = df[df["name"] == "too-hot"]["eval"].iloc[0]
    assert badge.startswith("⚠️ "), badge  # the worst drop first (here sums and capitals both dropped)


def test_base_models_page_lists_the_workspace_benchmarks(ws, tmp_path, monkeypatch):
    from tests.helpers import open_page, text_of
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    register_arith(ws, tmp_path)
    at = open_page("models")
    listing = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    assert set(listing["name"]) == {"arith-mc", "arith-em"}
    assert "Benchmarks" in text_of(at)

    from jobs.benchmarks import add
    with pytest.raises(benchmarks.BenchmarkError, match="already exists"):  # the page's button calls this
        add(ws, "arith-mc", tmp_path / "em.jsonl", "exact_match")


def test_sweep_compare_charts_each_benchmark_against_the_swept_params(ws, monkeypatch):
    from tests.helpers import make_group, open_page
    monkeypatch.setenv("TUNEDECK_HOME", str(ws.home))
    x = make_group(ws)
    for i, s in enumerate(x.specs):
        bench_eval(ws, s["group"]["job_id"], tuned_acc=0.5 + 0.1 * i)
    at = open_page("compare", group=x.group["id"])
    at.selectbox(key="g_metric").set_value("bench · arith-mc · acc").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["bench · arith-mc · acc"]) == [0.8, 0.7, 0.6, 0.5]  # best (highest) first
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    layers = [la for sp in specs for la in sp.get("layer", [sp])]
    assert any(la.get("encoding", {}).get("y", {}).get("field") == "bench · arith-mc · acc" for la in layers)


def test_a_suite_that_is_not_a_workspace_benchmark_is_a_warning_not_an_error(ws, tmp_path):
    from jobs.spec import validate
    register_arith(ws, tmp_path)
    v = validate({"name": "x", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                  "params": {"benchmarks": ["arith-mc", "gsm8k"], "benchmark_limit": 5}}, ws)
    assert v.ok and v.spec["params"]["benchmarks"] == ["arith-mc", "gsm8k"]
    assert [w.field for w in v.warnings if "benchmarks" in w.field] == ["params.benchmarks[1]"]
    bad = validate({"name": "x", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                    "params": {"benchmark_limit": 0}}, ws)
    assert not bad.ok and "benchmark_limit" in str(bad.errors[0])
