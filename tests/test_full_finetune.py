"""finetuning_type=full on tiny-demo: every weight trains, runs/<id>/model/ loads with from_pretrained, evaluation
and samples answer from it, and a kill -9 resumes with no gap or duplicate step."""
import json

import pytest

from jobs.rundir import RunDir
from jobs.spec import validate
from tests.trainer_helpers import Probe, kill9_at_checkpoint, make_run, resume, run, summary, train_rows


def test_full_finetune_writes_a_loadable_model_folder_and_evaluates_it(ws):
    run_dir = make_run(ws, finetuning_type="full", max_steps=12, learning_rate=3e-3, eval_max_rows=4,
                       num_sample_prompts=2, checkpoint_steps=6)
    assert run(run_dir) == 0
    rd = RunDir(run_dir)
    assert rd.is_full and not rd.adapter.exists() and rd.trained == rd.model
    files = {p.name for p in rd.model.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= files, files
    losses = [float(r["loss"]) for r in train_rows(run_dir)]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses

    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tuned = AutoModelForCausalLM.from_pretrained(rd.model)
    from jobs.models import registry
    base = AutoModelForCausalLM.from_pretrained(registry.list_models(ws)["tiny-demo"])
    changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, dict(base.named_parameters())[n])]
    assert len(changed) == len(list(tuned.parameters())), "every weight trains in a full fine-tune"
    assert set(load_file(rd.model / "model.safetensors")) and AutoTokenizer.from_pretrained(rd.model).chat_template

    s = summary(run_dir)
    assert s["finetuning_type"] == "full" and s["sharding"] == "none" and s["world_size"] == 1
    assert s["packing"] is False and s["gradient_checkpointing"] is False
    assert s["model"] == str(rd.model) and s["model_bytes"] > 0 and len(s["rank_peak_memory_bytes"]) == 1
    ev = json.loads((run_dir / "evaluation.json").read_text())
    assert all(m.get("tuned") is not None for m in ev["metrics"].values()), ev
    rows = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert rows and all("after" in r or "tuned" in json.dumps(r) for r in rows)


@pytest.mark.parametrize("method, params, field, says", [
    ("sft", {"finetuning_type": "full", "load_in_4bit": True}, "params.load_in_4bit", "cannot be trained"),
    ("sft", {"sharding": "fsdp"}, "params.sharding", "num_gpus × num_nodes > 1"),
    ("sft", {"finetuning_type": "fully"}, "params.finetuning_type", "one of lora, full"),
    ("sft", {"use_liger_kernel": True}, "params.use_liger_kernel", "liger"),
    ("dpo", {"packing": True}, "params.packing", "cannot be packed"),
    ("rm", {"finetuning_type": "full"}, "params.finetuning_type", "score head"),
])
def test_full_sharding_packing_and_liger_rules_name_the_reason(ws, method, params, field, says):
    ds = "demo-instruct" if method == "sft" else "demo-prefs"
    v = validate({"method": method, "base_model": "tiny-demo", "dataset": ds, "params": params}, ws)
    assert [p.field for p in v.errors] == [field], v.errors
    assert says in v.errors[0].message


def test_validate_prints_the_memory_estimate_and_warns_past_the_machine(ws, tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                                "params": {"finetuning_type": "full", "num_gpus": 2, "sharding": "fsdp"}}))
    r = subprocess.run([sys.executable, "-m", "jobs", "validate", str(spec), "--home", str(ws.home)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for line in ("estimated peak memory per", "weights:", "gradients:", "optimizer:", "activations:", "fits in:"):
        assert line in r.stderr, r.stderr
    huge = {"finetuning_type": "full", "batch_size": 4096, "max_seq_length": 2048}
    v = validate({"method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct", "params": huge}, ws)
    assert v.ok and [w.field for w in v.warnings if "exceeds" in w.message] == ["memory"], v.warnings


def test_fsdp_halves_the_sharded_lines_of_the_estimate():
    from jobs import memory
    shape = memory.Shape(params=135_000_000, hidden=576, layers=30, intermediate=1536, vocab=49152, kv_hidden=192)
    ddp = memory.estimate(shape, {"finetuning_type": "full", "num_gpus": 2, "sharding": "none"})
    fsdp = memory.estimate(shape, {"finetuning_type": "full", "num_gpus": 2, "sharding": "fsdp"})
    assert fsdp.lines["optimizer"] * 2 == ddp.lines["optimizer"]
    assert fsdp.lines["gradients"] * 4 == ddp.lines["gradients"]  # DDP's all-reduce buckets hold a second copy
    assert fsdp.lines["activations"] == ddp.lines["activations"]
    gc = memory.estimate(shape, {"finetuning_type": "full", "gradient_checkpointing": True})
    assert gc.lines["activations"] < memory.estimate(shape, {"finetuning_type": "full"}).lines["activations"]
    lora4 = memory.estimate(shape, {"finetuning_type": "lora", "load_in_4bit": True})
    assert lora4.lines["weights"] < memory.estimate(shape, {"finetuning_type": "lora"}).lines["weights"] / 2


def test_full_finetune_resumes_after_kill9_with_no_gap_or_duplicate_step(ws):
    run_dir = make_run(ws, finetuning_type="full", max_steps=30, checkpoint_steps=4, save_total_limit=2,
                       max_samples=60, eval_max_rows=4, num_sample_prompts=1)
    kill9_at_checkpoint(run_dir, 8)
    assert not (run_dir / "model").exists()
    code = resume(run_dir)
    text = (run_dir / "train.log").read_text()
    assert code == 0, text[-3000:]
    assert [int(r["step"]) for r in train_rows(run_dir)] == list(range(1, 31))  # no gap, no step twice
    assert "resuming from checkpoint-" in text
    assert RunDir(run_dir).is_full and summary(run_dir)["finetuning_type"] == "full"


def test_packed_sft_loss_matches_unpacked_on_the_same_rows(ws, monkeypatch):
    """One batch holding every row, packed (padding-free, position ids restarting per row) or padded: the same
    tokens, the same loss, up to float error; and no row attends to another (or the losses would differ)."""
    common = dict(max_steps=1, batch_size=16, max_samples=16, eval_ratio=0, eval_max_rows=0, num_sample_prompts=0,
                  learning_rate=1e-3, max_seq_length=512, logging_steps=1)
    runs = {packed: make_run(ws, packing=packed, **common) for packed in (False, True)}
    probes = {k: Probe() for k in runs}
    for k, run_dir in runs.items():
        with monkeypatch.context() as m:
            assert run(run_dir, m, probes[k]) == 0
    # padding-free packing flattens the batch into one row of real tokens; padding keeps 16 rows
    assert probes[True].batch_rows == [1] and probes[False].batch_rows == [16]
    assert probes[True].seq_lens[0] < 16 * probes[False].seq_lens[0]
    loss = {k: float(train_rows(d)[0]["loss"]) for k, d in runs.items()}
    assert abs(loss[True] - loss[False]) < 1e-3 * max(1.0, loss[False]), loss
    s = {k: summary(d) for k, d in runs.items()}
    assert s[True]["packing"] is True and s[False]["packing"] is False
    assert s[True]["train_tokens"] == s[False]["train_tokens"] > 0  # real tokens: padding is not counted
