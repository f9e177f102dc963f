"""Every method trains tiny-demo for real on the CPU and writes every artefact."""
import json

import pytest

from tests.conftest import shared_dataset, write_jsonl
from tests.trainer_helpers import make_run, metrics, run, state, summary, train_rows


def check_artefacts(run_dir, method):
    assert state(run_dir)["status"] == "succeeded", state(run_dir)
    rows = train_rows(run_dir)
    assert rows and all(r["step"] and r["learning_rate"] and r["elapsed_seconds"] for r in rows)
    cols = set(metrics(run_dir)[0])
    assert {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "elapsed_seconds"} <= cols
    progress = json.loads((run_dir / "progress.json").read_text())
    assert progress["step"] == progress["total_steps"] and progress["percent"] == 100
    s = summary(run_dir)
    assert s["total_steps"] == progress["step"] and s["dataset_sha256"] and s["versions"]["trl"]
    assert s["peak_memory_bytes"] > 0 and s["device"] == "cpu" and s["runtime_seconds"] > 0
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert samples and all({"prompt", "reference", "base", "tuned"} <= set(x) for x in samples)
    cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA"
    assert (run_dir / "adapter" / "tokenizer.json").exists()
    log = (run_dir / "train.log").read_text()
    assert " INFO " in log and "rows read" in log
    return cols


def test_sft_loss_falls_and_adapter_loads(ws):
    run_dir = make_run(ws, "sft", max_steps=40, batch_size=8, learning_rate=3e-3, warmup_steps=0)
    assert run(run_dir) == 0
    cols = check_artefacts(run_dir, "sft")
    assert "eval_loss" in cols
    losses = [float(r["loss"]) for r in train_rows(run_dir)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first * 0.8, (first, last)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(ws.models / ".." / "models", local_files_only=True) \
        if False else AutoModelForCausalLM.from_pretrained(json.loads((ws.models / "tiny-demo.json").read_text())["path"])
    tuned = PeftModel.from_pretrained(base, str(run_dir / "adapter"))
    assert tuned.peft_config["default"].r == 8


def test_grpo_logs_rewards(ws):
    run_dir = make_run(ws, "grpo", dataset="demo-math", max_steps=3, batch_size=4, num_generations=2,
                       reward_functions=["correctness", "format", "length_penalty"], beta=0.1)
    assert run(run_dir) == 0
    cols = check_artefacts(run_dir, "grpo")
    assert {"reward", "reward_std", "kl", "reward_correctness", "reward_format", "reward_length_penalty",
            "completion_length"} <= cols
    pen = [float(r["reward_length_penalty"]) for r in train_rows(run_dir)]
    assert all(-1 <= p < 0 for p in pen)


def test_dpo_logs_preferences(ws):
    run_dir = make_run(ws, "dpo", dataset="demo-prefs", max_steps=4, batch_size=2, beta=0.2)
    assert run(run_dir) == 0
    cols = check_artefacts(run_dir, "dpo")
    assert {"rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy", "eval_loss"} <= cols


def test_custom_method_from_template(ws):
    from tests.conftest import REPO
    (ws.methods / "fullseq.py").write_text((REPO / "jobs/templates/custom_method.py").read_text())
    run_dir = make_run(ws, "fullseq", max_steps=2, neftune_noise_alpha=5)
    assert run(run_dir) == 0
    check_artefacts(run_dir, "fullseq")


def test_custom_method_that_raises(ws):
    (ws.methods / "explodes.py").write_text(
        "DESCRIPTION = 'raises'\nPARAMS = []\n"
        "DEFAULT_COLUMNS = {'prompt_input_column': 'instruction', 'prompt_output_column': 'output'}\n"
        "def build_trainer(model, tokenizer, train, eval, config, params):\n    raise ValueError('bad idea')\n")
    run_dir = make_run(ws, "explodes")
    assert run(run_dir) == 1
    st = state(run_dir)
    assert st["status"] == "failed" and "explodes" in st["error"] and "bad idea" in st["error"]
    assert "Traceback" in (run_dir / "train.log").read_text()
    assert not (run_dir / "adapter").exists()


def test_custom_reward_function(ws):
    from tests.conftest import REPO
    (ws.methods / "rewards_extra.py").write_text((REPO / "jobs/templates/custom_method.py").read_text())
    run_dir = make_run(ws, "grpo", dataset="demo-math", max_steps=2, batch_size=2, num_generations=2,
                       reward_functions=["brevity"])
    assert run(run_dir) == 0
    assert "reward_brevity" in metrics(run_dir)[0]


def test_chinese_columns_and_text(ws):
    rows = [{"问题": f"{i} 加 {i} 等于多少？", "答案": f"{i} 加 {i} 等于 {2 * i}。"} for i in range(24)]
    write_jsonl(ws.datasets / "zh.jsonl", rows)
    run_dir = make_run(ws, "sft", dataset="zh", prompt_input_column="问题", prompt_output_column="答案",
                       max_steps=2)
    assert run(run_dir) == 0
    sample = json.loads((run_dir / "samples.jsonl").read_text().splitlines()[0])
    assert "等于" in sample["reference"] and "加" in sample["prompt"]


@pytest.mark.parametrize("method,file,params", [
    ("sft", "alpaca_en_demo.jsonl", {}),
    ("grpo", "gsm8k_train.jsonl", {"batch_size": 2, "num_generations": 2, "max_content_length": 16}),
    ("dpo", "dpo_en_demo.jsonl", {"max_seq_length": 256, "max_input_length": 128, "max_content_length": 64}),
])
def test_real_public_datasets(ws, method, file, params):
    src = shared_dataset(file)
    import shutil
    shutil.copy(src, ws.datasets / f"real-{method}.jsonl")
    run_dir = make_run(ws, method, dataset=f"real-{method}", max_samples=16, max_steps=2, **params)
    assert run(run_dir) == 0, (run_dir / "train.log").read_text()[-2000:]
    s = summary(run_dir)
    assert s["rows"]["read"] == 16
    check_artefacts(run_dir, method)
