"""KTO, ORPO, SimPO, continued pre-training and reward models train tiny-demo for real, validate their data
format before the run, and write their evaluation base vs tuned; a reward model then scores GRPO completions."""
import json

import pytest

from jobs.evaluation import headline, read_evaluation, read_rows
from jobs.models import registry
from jobs.spec import validate
from tests.conftest import write_jsonl
from tests.trainer_helpers import kill9_at_checkpoint, make_run, metrics, resume, run, state, train_rows


def spec(method, dataset, **params):
    return {"name": f"t-{method}", "method": method, "base_model": "tiny-demo", "dataset": dataset,
            "params": {"max_steps": 3, "batch_size": 2, **params}}


def unpaired_rows(n=40):
    from jobs.data.demo_data import prefs_rows
    out = []
    for i, r in enumerate(prefs_rows(n)):
        good = i % 2 == 0
        out.append({"prompt": r["prompt"], "completion": r["chosen"] if good else r["rejected"], "label": good})
    return out


def register(ws, name, rows):
    path = write_jsonl(ws.home / f"{name}.jsonl", rows)
    registry.register_dataset(ws, name, path.read_bytes())


def evaluation(run_dir):
    ev = read_evaluation(run_dir)
    assert ev is not None, (run_dir / "train.log").read_text()[-3000:]
    return ev


def both(entry):
    return isinstance(entry["base"], (int, float)) and isinstance(entry["tuned"], (int, float))


def test_kto_on_unpaired_data_detects_the_format_and_writes_label_accuracy(ws):
    register(ws, "fb", unpaired_rows())
    v = validate(spec("kto", "fb"), ws)
    assert v.ok, v.errors
    run_dir = make_run(ws, "kto", dataset="fb", eval_max_rows=8, learning_rate=5e-3, beta=0.2)
    assert run(run_dir) == 0, state(run_dir)
    assert train_rows(run_dir)
    ev = evaluation(run_dir)
    m = ev["metrics"]
    assert m["label_accuracy"]["base"] == 0 and both(m["reward_margin"])   # the base is KTO's reference
    assert 0 <= m["label_accuracy"]["tuned"] <= 1 and m["reward_margin"]["tuned"] != 0
    assert headline("kto", ev)[0] == "label_accuracy"
    rows = read_rows(run_dir)
    assert rows and {"completion", "label"} <= set(rows[0])
    assert (run_dir / "adapter" / "adapter_config.json").exists()


def test_kto_takes_preference_pairs_as_good_and_bad_answers(ws):
    run_dir = make_run(ws, "kto", dataset="demo-prefs", eval_max_rows=6, max_samples=40)
    assert run(run_dir) == 0, state(run_dir)
    rows = read_rows(run_dir)
    assert {r["label"] for r in rows} == {True, False}


@pytest.mark.parametrize("method,params", [("orpo", {"beta": 0.2}), ("simpo", {"beta": 2.0, "simpo_gamma": 0.5})])
def test_reference_free_preference_methods(ws, method, params):
    run_dir = make_run(ws, method, dataset="demo-prefs", eval_max_rows=8, max_samples=60, learning_rate=5e-3,
                       **params)
    assert run(run_dir) == 0, state(run_dir)
    cols = set(metrics(run_dir)[0])
    assert "loss" in cols
    m = evaluation(run_dir)["metrics"]
    assert both(m["logprob_accuracy"]) and both(m["reward_margin"])
    assert m["reward_margin"]["base"] == 0 and m["reward_margin"]["tuned"] != 0
    assert headline(method, evaluation(run_dir))[0] == "logprob_accuracy"
    assert json.loads((run_dir / "samples.jsonl").read_text().splitlines()[0])["tuned"] is not None


def test_cpt_on_text_lowers_held_out_perplexity(ws):
    from jobs.data.demo_data import instruct_rows
    register(ws, "corpus", [{"text": r["output"]} for r in instruct_rows(80)])
    run_dir = make_run(ws, "cpt", dataset="corpus", max_steps=12, learning_rate=5e-3, eval_max_rows=8)
    assert run(run_dir) == 0, state(run_dir)
    m = evaluation(run_dir)["metrics"]
    assert set(m) == {"perplexity"} and m["perplexity"]["better"] == "lower"
    assert m["perplexity"]["tuned"] < m["perplexity"]["base"]
    assert (run_dir / "samples.jsonl").read_text() == ""      # raw text has no prompts to answer


def test_cpt_reads_any_column_as_text(ws):
    v = validate(spec("cpt", "demo-instruct", dataset_format="text", text_column="output"), ws)
    assert v.ok, v.errors
    v = validate(spec("cpt", "demo-instruct"), ws)  # read as alpaca: not text
    assert any(e.field == "params.dataset_format" and "CPT trains on raw text" in e.message for e in v.errors)
    v = validate(spec("cpt", "demo-instruct", dataset_format="text", text_column="nope"), ws)
    assert any(e.field == "params.text_column" and "nope" in str(e.value) for e in v.errors)


def test_rm_pairwise_accuracy_base_head_vs_tuned(ws):
    run_dir = make_run(ws, "rm", dataset="demo-prefs", eval_max_rows=16, max_samples=80, max_steps=10,
                       learning_rate=5e-3)
    assert run(run_dir) == 0, state(run_dir)
    m = evaluation(run_dir)["metrics"]
    assert both(m["pairwise_accuracy"]) and both(m["score_margin"])
    assert m["score_margin"]["tuned"] > m["score_margin"]["base"]
    cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["task_type"] == "SEQ_CLS"
    rows = read_rows(run_dir)
    assert "chosen_score" in rows[0]["scores"]["tuned"]


@pytest.mark.parametrize("method", ["dpo", "orpo", "simpo", "rm"])
def test_pair_methods_refuse_data_that_is_not_pairs(ws, method):
    v = validate(spec(method, "demo-instruct"), ws)
    assert any(e.field == "params.dataset_format" and "preference data" in e.message for e in v.errors), v.errors


def test_kto_refuses_a_bad_label_at_upload_and_before_the_run(ws):
    rows = unpaired_rows(10)
    rows[1]["label"] = "yes"
    with pytest.raises(registry.JsonlError, match="line 2: label is 'yes'; it must be true"):
        register(ws, "badfb", rows)
    write_jsonl(ws.datasets / "badfb.jsonl", rows)   # a file put there by hand is checked by validation
    v = validate(spec("kto", "badfb"), ws)
    assert any(e.field == "dataset" and "row 2" in e.message and "label is 'yes'" in e.message for e in v.errors), \
        v.errors


# ------------------------------------------------------------------ kill -9, then --resume
RESUME_CASES = {"kto": ("demo-prefs", {}), "orpo": ("demo-prefs", {}), "simpo": ("demo-prefs", {}),
                "rm": ("demo-prefs", {}), "cpt": ("demo-instruct", {"dataset_format": "text", "text_column": "output"})}


@pytest.mark.parametrize("method", list(RESUME_CASES))
def test_new_methods_resume_after_kill9(ws, method):
    dataset, extra = RESUME_CASES[method]
    run_dir = make_run(ws, method, dataset=dataset, max_steps=24, checkpoint_steps=4, save_total_limit=2,
                       max_samples=60, eval_max_rows=4, num_sample_prompts=1, logging_steps=1, **extra)
    kill9_at_checkpoint(run_dir, 8)
    killed_at = max(int(r["step"]) for r in train_rows(run_dir))
    assert killed_at < 24 and not (run_dir / "adapter").exists() and read_evaluation(run_dir) is None
    code = resume(run_dir)
    text = (run_dir / "train.log").read_text()
    assert code == 0, text[-3000:]
    assert [int(r["step"]) for r in train_rows(run_dir)] == list(range(1, 25))  # no gap, no step twice
    assert "resuming from checkpoint-" in text
    assert "base-model evaluation reused from this run's earlier attempt" in text
    assert read_evaluation(run_dir)["metrics"], "the evaluation is written after the resume"
    assert (run_dir / "adapter" / "adapter_config.json").exists()


# ------------------------------------------------------------------ a reward model as a GRPO reward
def other_family_model(ws):
    """tiny-demo's folder with another model family in its config.json: a base whose tokens differ."""
    import shutil
    src = registry.list_models(ws)["tiny-demo"]
    dst = ws.home / "other-family"
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(model_type="gpt2" if cfg.get("model_type") != "gpt2" else "llama", vocab_size=cfg["vocab_size"] + 7)
    (dst / "config.json").write_text(json.dumps(cfg))
    registry.register_model(ws, "other-family", dst)


def test_grpo_scores_completions_with_a_finished_reward_model(ws):
    rm_dir = make_run(ws, "rm", dataset="demo-prefs", max_samples=40, max_steps=4, eval_max_rows=4)
    name = "rm:" + rm_dir.name
    v = validate(spec("grpo", "demo-math", reward_functions=[name], num_generations=2), ws)
    assert any(e.field == "params.reward_functions" and "not a finished reward model" in e.message
               for e in v.errors), v.errors                     # queued, no head saved yet
    assert run(rm_dir) == 0, state(rm_dir)

    from jobs.reward_models import finished
    assert name in finished(ws, "tiny-demo")
    run_dir = make_run(ws, "grpo", dataset="demo-math", reward_functions=[name, "format"], num_generations=2,
                       max_steps=2, eval_max_rows=3, max_content_length=12)
    assert run(run_dir) == 0, state(run_dir)
    col = "reward_rm_" + rm_dir.name
    rows = train_rows(run_dir)
    assert col in rows[0] and all(r[col] not in ("", None) for r in rows)  # per-function reward curve
    scores = {float(r[col]) for r in rows}
    assert len(scores) >= 1 and all(s == s for s in scores)
    m = evaluation(run_dir)["metrics"]
    assert both(m["reward_" + name])
    assert "reward model " + name + " loaded" in (run_dir / "train.log").read_text()


def test_grpo_refuses_a_reward_model_it_cannot_use(ws):
    sft_dir = make_run(ws, "sft", max_steps=1)
    v = validate(spec("grpo", "demo-math", reward_functions=["rm:" + sft_dir.name]), ws)
    assert any("trained 'sft', which is not a reward model" in e.message for e in v.errors), v.errors
    v = validate(spec("grpo", "demo-math", reward_functions=["rm:20990101-000000-000000-abcdef"]), ws)
    assert any("no run '20990101-000000-000000-abcdef'" in e.message for e in v.errors), v.errors
    v = validate(spec("grpo", "demo-math", reward_functions=["rm:../../etc"]), ws)
    assert any("'../../etc' is not a job id" in e.message for e in v.errors), v.errors

    other_family_model(ws)
    rm_dir = make_run(ws, "rm", dataset="demo-prefs", max_samples=20, max_steps=1, eval_max_rows=0)
    assert run(rm_dir) == 0, state(rm_dir)
    raw = spec("grpo", "demo-math", reward_functions=["rm:" + rm_dir.name])
    raw["base_model"] = "other-family"
    v = validate(raw, ws)
    assert any(e.field == "params.reward_functions" and "must share the policy's tokenizer and base family"
               in e.message for e in v.errors), v.errors

