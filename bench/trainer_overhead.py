"""Trainer overhead: Tunedeck's trainer vs a bare TRL script, same model, data, config and seed, on the CPU.

python bench/trainer_overhead.py [--steps 300] [--repeats 3]
Prints steps/s of each, the overhead ratio, whether the loss curves are identical, and the
metrics callback's cost per step.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from common import cleanup, fresh_workspace  # noqa: E402

from jobs.spec import validate  # noqa: E402
from jobs.state import create_run, new_job_id  # noqa: E402


def tunedeck_run(ws, steps: int) -> tuple[float, list[float]]:
    from trainer.run import main
    raw = {"name": "bench", "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
           "params": {"max_steps": steps, "batch_size": 8, "learning_rate": 1e-3, "eval_ratio": 0,
                      "num_sample_prompts": 0, "checkpoint_steps": 100000, "warmup_steps": 0, "seed": 7}}
    v = validate(raw, ws)
    job = new_job_id()
    create_run(ws, job, v.spec)
    run_dir = ws.run(job)
    assert main([str(run_dir.path)]) == 0
    summary = json.loads(run_dir.summary.read_text())
    import csv
    losses = [float(r["loss"]) for r in csv.DictReader(open(run_dir.metrics)) if r.get("loss")]
    return steps / summary["train_runtime_this_attempt"], losses


def bare_trl(ws, steps: int) -> tuple[float, list[float]]:
    """What a user would write by hand with TRL: same rows, LoRA and SFTConfig."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(7)
    path = ws.models / "tiny-demo"
    tok = AutoTokenizer.from_pretrained(path)
    rows = [json.loads(line) for line in open(ws.datasets / "demo-instruct.jsonl", encoding="utf-8")]
    recs = []
    for r in rows:
        prompt = r["instruction"].strip() + (f"\n\n{r['input'].strip()}" if r["input"].strip() else "")
        recs.append({"prompt": [{"role": "user", "content": prompt}],
                     "completion": [{"role": "assistant", "content": r["output"].strip()}]})
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    set_seed(7)
    out = ws.home / "bare"
    cfg = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=8, learning_rate=1e-3,
                    warmup_steps=0, max_grad_norm=1.0, lr_scheduler_type="linear", logging_steps=1,
                    save_strategy="no", seed=7, data_seed=7, use_cpu=True, report_to="none", disable_tqdm=True,
                    max_length=1024, completion_only_loss=True, include_num_input_tokens_seen=True,
                    logging_nan_inf_filter=False, dataloader_num_workers=0, gradient_accumulation_steps=1,
                    bf16=False, gradient_checkpointing=False)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(recs), processing_class=tok)
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)  # printing every step is not training
    t0 = time.time()
    trainer.train()
    elapsed = time.time() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return steps / elapsed, losses


def callback_cost(ws, n: int = 2000) -> float:
    """Milliseconds per step spent in the metrics callback (on_step_end + on_log), on a real file."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from trainer.callbacks import MetricsCallback
    run_dir = ws.home / "cb"
    run_dir.mkdir()
    cb = MetricsCallback(run_dir)
    args = TrainingArguments(output_dir=str(run_dir / "o"), report_to="none", use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    state.max_steps = n
    cb.on_train_begin(args, state, control)
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        state.global_step, state.epoch = i, i / n
        cb.on_step_end(args, state, control)
        cb.on_log(args, state, control, logs={"loss": 1.0 / i, "grad_norm": 0.5, "learning_rate": 1e-4,
                                              "num_tokens": 100.0 * i, "entropy": 1.0})
    return (time.perf_counter() - t0) * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    ws = fresh_workspace()
    try:
        ours, bare, same = [], [], True
        for i in range(args.repeats):  # interleaved and alternating, so machine noise hits both alike
            if i % 2:
                r2, l2 = tunedeck_run(ws, args.steps)
                r1, l1 = bare_trl(ws, args.steps)
            else:
                r1, l1 = bare_trl(ws, args.steps)
                r2, l2 = tunedeck_run(ws, args.steps)
            bare.append(r1)
            ours.append(r2)
            same &= len(l1) == len(l2) and all(abs(a - b) < 1e-6 for a, b in zip(l1, l2, strict=False))
        b, o = statistics.median(bare), statistics.median(ours)
        print(json.dumps({"steps": args.steps, "bare_trl_steps_per_s": round(b, 2), "tunedeck_steps_per_s": round(o, 2),
                          "overhead_pct": round(100 * (b / o - 1), 2), "identical_losses": same,
                          "metrics_callback_ms_per_step": round(callback_cost(ws), 3)}, indent=2))
    finally:
        cleanup(ws)


if __name__ == "__main__":
    main()
