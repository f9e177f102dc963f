"""Real tiny-demo runs write evaluation.json with base and tuned values; the base is cached; stop and resume."""
import json
import os
import signal
import subprocess
import sys
import time

from jobs.atomic import read_json
from jobs.evaluation import EVALUATION_FILE, read_evaluation, read_rows
from jobs.state import EXIT_STOPPED, latest_checkpoint
from tests.conftest import REPO
from tests.trainer_helpers import make_run, run, state, summary, train_rows


def metrics_of(run_dir) -> dict:
    ev = read_evaluation(run_dir)
    assert ev is not None, (run_dir / "train.log").read_text()[-3000:]
    return ev["metrics"]


def both(entry) -> bool:
    return isinstance(entry["base"], float) and isinstance(entry["tuned"], float)


def test_sft_evaluation_then_a_copy_reuses_the_base(ws):
    run_dir = make_run(ws, "sft", max_steps=2, eval_max_rows=6, num_sample_prompts=2, sample_generations=2)
    assert run(run_dir) == 0
    m = metrics_of(run_dir)
    assert {"exact_match", "rouge_l", "chrf", "bleu", "perplexity"} <= set(m)
    assert all(both(m[k]) for k in ("rouge_l", "chrf", "perplexity", "exact_match"))
    assert 0 <= m["rouge_l"]["tuned"] <= 1 and m["perplexity"]["base"] > 1
    assert m["perplexity"]["better"] == "lower" and m["rouge_l"]["better"] == "higher"
    ev = read_evaluation(run_dir)
    assert ev["rows"] == 6 and ev["decoding"] == {"do_sample": False, "max_new_tokens": 24}
    rows = read_rows(run_dir)
    assert len(rows) == 6 and {"prompt", "reference", "base", "tuned", "scores"} <= set(rows[0])
    assert set(rows[0]["scores"]["base"]) >= {"rouge_l", "perplexity"}
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 and all(len(s["base_samples"]) == 2 == len(s["tuned_samples"]) for s in samples)
    progress = read_json(run_dir / "progress.json")
    assert progress["phase"] == "saving" and progress["step"] == 2
    log = (run_dir / "train.log").read_text()
    assert "evaluating the base model on 6 held-out rows" in log

    copy = make_run(ws, "sft", max_steps=2, eval_max_rows=6, num_sample_prompts=2, sample_generations=2,
                    learning_rate=5e-3)
    assert run(copy) == 0
    clog = (copy / "train.log").read_text()
    assert "evaluating the base model" not in clog and "base-model evaluation reused from the cache" in clog
    assert "base-model samples reused from the cache" in clog
    assert {k: v["base"] for k, v in metrics_of(copy).items()} == {k: v["base"] for k, v in m.items()}


def test_grpo_with_correctness_reports_accuracy(ws):
    run_dir = make_run(ws, "grpo", dataset="demo-math", max_steps=2, batch_size=2, num_generations=2,
                       reward_functions=["correctness", "format"], eval_max_rows=8, max_content_length=24)
    assert run(run_dir) == 0
    m = metrics_of(run_dir)
    assert {"accuracy", "reward_correctness", "reward_format", "completion_length"} <= set(m)
    for k in ("accuracy", "reward_correctness", "reward_format", "completion_length"):
        assert both(m[k]), k
    assert 0 <= m["accuracy"]["base"] <= 1 and 0 <= m["accuracy"]["tuned"] <= 1
    assert m["accuracy"]["tuned"] == m["reward_correctness"]["tuned"]
    assert 0 < m["completion_length"]["tuned"] <= 24


def test_dpo_preference_accuracy_and_margin(ws):
    run_dir = make_run(ws, "dpo", dataset="demo-prefs", max_steps=3, batch_size=2, beta=0.2, eval_max_rows=8,
                       learning_rate=5e-3)
    assert run(run_dir) == 0
    m = metrics_of(run_dir)
    assert m["reward_margin"]["base"] == 0 and m["preference_accuracy"]["base"] == 0  # the base is the reference
    assert 0 <= m["preference_accuracy"]["tuned"] <= 1 and m["reward_margin"]["tuned"] != 0
    assert 0 <= m["logprob_accuracy"]["base"] <= 1
    rows = read_rows(run_dir)
    assert len(rows) == 8 and rows[0]["chosen"] and rows[0]["rejected"]


CUSTOM = '''
DESCRIPTION = "SFT with its own evaluation metric."
DEFAULT_COLUMNS = {"prompt_input_column": "instruction", "prompt_output_column": "output"}
PARAMS = []


def build_trainer(model, tokenizer, train_dataset, eval_dataset, config, params):
    from trl import SFTTrainer
    return SFTTrainer(model=model, args=config, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      processing_class=tokenizer)


def answer_chars(prompts, completions, references):
    return [float(len(c)) for c in completions]


EVAL_METRICS = {"answer_chars": answer_chars}
EVAL_METRICS_BETTER = {"answer_chars": "lower"}
REWARD_FUNCTIONS = {"nonempty": lambda prompts, completions, reference=None, **kw: [float(bool(c)) for c in completions]}
'''


def test_custom_method_eval_metrics_and_rewards_as_metrics(ws):
    (ws.methods / "mine.py").write_text(CUSTOM)
    run_dir = make_run(ws, "mine", max_steps=2, eval_max_rows=4, num_sample_prompts=1)
    assert run(run_dir) == 0
    m = metrics_of(run_dir)
    assert both(m["answer_chars"]) and m["answer_chars"]["better"] == "lower"
    assert both(m["reward_nonempty"]) and both(m["rouge_l"])


def test_eval_max_rows_zero_writes_no_evaluation(ws):
    run_dir = make_run(ws, "sft", max_steps=1, eval_max_rows=0, num_sample_prompts=1)
    assert run(run_dir) == 0
    assert not (run_dir / EVALUATION_FILE).exists() and (run_dir / "samples.jsonl").exists()


def test_stop_during_tuned_evaluation_keeps_adapter_then_resume_trains_no_extra_step(ws, monkeypatch):
    from trainer import eval_run
    run_dir = make_run(ws, "sft", max_steps=4, eval_max_rows=6, checkpoint_steps=2)
    original = eval_run.EvalRun.run_tuned

    def stop_then_run(self, model):  # the stop request arrives as the tuned evaluation starts
        (run_dir / "stop").touch()
        return original(self, model)
    monkeypatch.setattr(eval_run.EvalRun, "run_tuned", stop_then_run)
    assert run(run_dir) == EXIT_STOPPED
    st = state(run_dir)
    assert st["status"] == "cancelled" and "adapter" in st["error"]
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()
    assert latest_checkpoint(run_dir).name == "checkpoint-4"
    assert not (run_dir / EVALUATION_FILE).exists() and summary(run_dir)["status"] == "stopped"
    rows_before = train_rows(run_dir)
    evals_before = [r for r in json_rows(run_dir) if r.get("eval_loss")]

    monkeypatch.setattr(eval_run.EvalRun, "run_tuned", original)
    (run_dir / "stop").unlink()
    assert run(run_dir, resume=True) == 0
    assert train_rows(run_dir) == rows_before  # no extra step (was "step 5/4")
    assert [r for r in json_rows(run_dir) if r.get("eval_loss")] == evals_before  # and no extra eval
    log = (run_dir / "train.log").read_text()
    assert "the checkpoint is the final step (4/4)" in log
    assert "base-model evaluation reused from this run's earlier attempt" in log
    assert both(metrics_of(run_dir)["rouge_l"]) and summary(run_dir)["total_steps"] == 4
    assert state(run_dir)["status"] == "succeeded"


def json_rows(run_dir):
    from tests.trainer_helpers import metrics
    return metrics(run_dir)


def test_evaluation_json_never_partial_after_kill9(ws):
    run_dir = make_run(ws, "sft", max_steps=1, eval_max_rows=40, eval_ratio=0.1, max_content_length=48,
                       num_sample_prompts=0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = open(run_dir / "train.log", "ab")
    p = subprocess.Popen([sys.executable, "-m", "trainer", str(run_dir)], cwd=REPO, env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 1200  # generous: a loaded CI machine can take minutes to reach the evaluation
    phase = None
    while time.time() < deadline and phase != "tuned_evaluation":
        assert p.poll() is None, (run_dir / "train.log").read_text()[-2000:]
        phase = (read_json(run_dir / "progress.json") or {}).get("phase")
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert phase == "tuned_evaluation"
    assert (run_dir / "adapter").exists()  # saved before the tuned evaluation
    if (run_dir / EVALUATION_FILE).exists():  # only when the kill came after the rename: then it is complete
        assert read_evaluation(run_dir)["metrics"]["rouge_l"]["tuned"] is not None
    else:
        assert read_evaluation(run_dir) is None


def test_stop_is_honoured_inside_data_preparation_and_generation(ws):
    import pytest

    from jobs.models.registry import list_models
    from trainer import data
    from trainer import model as model_mod
    from trainer.errors import Stopped
    from trainer.generate import generate
    path = list_models(ws)["tiny-demo"]
    tok = model_mod.load_tokenizer(path)
    rows = [{"instruction": f"say {i}", "output": str(i)} for i in range(2000)]
    params = {"prompt_input_column": "instruction", "prompt_output_column": "output", "prompt_context_column": None,
              "max_input_length": 32, "max_content_length": 16, "max_seq_length": 64, "eval_ratio": 0.1, "seed": 1,
              "num_sample_prompts": 1}
    asked = []

    def stop_after(n):
        return lambda: asked.append(1) or len(asked) > n
    with pytest.raises(Stopped):
        data.prepare(rows, params, tok, "prompt_completion", "big", should_stop=stop_after(2))
    assert len(asked) == 3  # asked every 256 rows: stopped in the third chunk, not after all 2000 rows

    model = model_mod.load_base(path, "tiny-demo", False)
    asked.clear()
    with pytest.raises(Stopped):
        generate(model, tok, ["a", "b", "c"], 500, should_stop=stop_after(2))  # asked before the batch, then per token
    assert len(asked) <= 8  # the per-token check ended generation a few tokens in, not after 500 tokens
