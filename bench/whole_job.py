"""The whole job against a bare script doing the same work, side by side in one run.

python bench/whole_job.py [--model-path DIR] [--dataset-path FILE] [--steps 10] [--rows 50] [--new-tokens 64]
    Tunedeck: the real spooler daemon runs; a spec is dropped into spool/incoming/ and timed until state.json says
    succeeded (SFT, --steps steps, batch 2, LoRA r8; eval_max_rows --rows, max_content_length --new-tokens: the base
    answers --rows held-out rows before training and the tuned model after, with the eval_loss pass, the reference
    perplexity and the sample answers). Bare: one Python process (`bare` below) that loads the model, answers the
    same --rows held-out prompts with --new-tokens greedy tokens, trains the same steps with TRL's SFTTrainer and one
    eval_loss pass on the same held-out rows, and answers the prompts again (on a GPU when there is one, in bf16
    where it has it, else fp32: the device and precision Tunedeck picks). Prints both times and the ratio
    (target: ≤ 1.0), plus where Tunedeck's time went (summary.json's phase seconds, train.log's phase lines).
python bench/whole_job.py conversation [--turns 5000] [--model-path DIR]
    Truncating one conversation of --turns turns to max_seq_length 1024 (trainer/chat_data.truncate_left).

Defaults: SmolLM2-135M-Instruct from ~/.cache/tunedeck-tests (built by `python -m jobs init --with smollm2` or the
tests), alpaca_en_demo from /work/shared/datasets. A fresh workspace each time: no base-answer cache.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, cleanup, fresh_workspace

from jobs.atomic import atomic_write_json, read_json
from jobs.rundir import RunDir
from jobs.status import FINAL, JobStatus

SMOLLM2 = Path.home() / ".cache" / "tunedeck-tests" / "smollm2-135m-instruct"
ALPACA = REPO.parent / "shared" / "datasets" / "alpaca_en_demo.jsonl"
PYTHONPATH = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
ENV = {**os.environ, "PYTHONPATH": PYTHONPATH, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def spec(args) -> dict:
    return {"name": "whole-job", "method": "sft", "base_model": "bench-model", "dataset": "bench-data",
            "params": {"max_steps": args.steps, "batch_size": 2, "lora_rank": 8, "eval_max_rows": args.rows,
                       "max_content_length": args.new_tokens, "seed": 7}}


def tunedeck(args) -> dict:
    ws = fresh_workspace()
    atomic_write_json(ws.models / "bench-model.json", {"path": str(Path(args.model_path).resolve())})
    (ws.datasets / "bench-data.jsonl").write_bytes(Path(args.dataset_path).read_bytes())
    p = subprocess.Popen([sys.executable, "-m", "spooler", "--home", str(ws.home)], cwd=REPO, env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ws.spooler_heartbeat.exists():
            time.sleep(0.05)
        tmp = ws.spool_tmp / "whole-job.json"
        tmp.write_text(json.dumps(spec(args)))
        t0 = time.time()
        os.rename(tmp, ws.incoming / "whole-job.json")
        run_dir, status = None, None
        while time.time() - t0 < args.timeout:
            run_dir = next((d for d in ws.runs.iterdir() if d.is_dir() and not d.name.startswith(".")), None) \
                if ws.runs.exists() else None
            status = (read_json(RunDir(run_dir).state) or {}).get("status") if run_dir else None
            if status in FINAL:
                break
            time.sleep(0.1)
        seconds = time.time() - t0
        assert status == JobStatus.SUCCEEDED, (status, RunDir(run_dir).log.read_text()[-3000:] if run_dir else "no run")
        summary = read_json(RunDir(run_dir).summary) or {}
        evals = sum(1 for line in RunDir(run_dir).metrics.read_text().splitlines()[1:] if _has_eval(line, run_dir))
        return {"seconds": round(seconds, 1), "train_seconds": summary.get("train_runtime_this_attempt"),
                "eval_loss_passes": evals, "phase_seconds": summary.get("phase_seconds"),
                "phases_in_log": _phase_times(RunDir(run_dir).log.read_text())}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        cleanup(ws)


def _has_eval(line: str, run_dir) -> bool:
    import csv
    header = next(csv.reader([RunDir(run_dir).metrics.read_text().splitlines()[0]]))
    row = dict(zip(header, next(csv.reader([line])), strict=False))
    return bool(row.get("eval_loss"))


def _phase_times(log: str) -> dict:
    """Seconds between train.log's 'phase: …' lines (its timestamps), as a rough map of where the time went."""
    from datetime import datetime
    marks = []
    for line in log.splitlines():
        if "phase: " in line:
            try:
                marks.append((line.split("phase: ", 1)[1].strip(), datetime.fromisoformat(line[:19])))
            except ValueError:
                pass
    return {name: round((marks[i + 1][1] - at).total_seconds(), 1) for i, (name, at) in enumerate(marks[:-1])}


def bare_process(args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "bare", "--model-path", args.model_path,
           "--dataset-path", args.dataset_path, "--steps", str(args.steps), "--rows", str(args.rows),
           "--new-tokens", str(args.new_tokens)]
    t0 = time.time()
    out = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=args.timeout)
    seconds = time.time() - t0
    assert out.returncode == 0, out.stderr[-3000:]
    return {"seconds": round(seconds, 1), **json.loads(out.stdout.strip().splitlines()[-1])}


def bare(args) -> None:
    """What one would write by hand with TRL and PEFT, in one process: the same data, steps and generations."""
    import random
    import time as t

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    t0 = t.time()
    cuda = torch.cuda.is_available()  # the precision Tunedeck picks too: bf16 where the GPU has it, else fp32
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    tok = AutoTokenizer.from_pretrained(args.model_path)
    model = AutoModelForCausalLM.from_pretrained(args.model_path, dtype=dtype).to("cuda" if cuda else "cpu")
    rows = [json.loads(x) for x in Path(args.dataset_path).read_text().splitlines() if x.strip()]
    recs = [{"prompt": [{"role": "user", "content": (r["instruction"] + ("\n\n" + r["input"] if r.get("input") else ""))}],
             "completion": [{"role": "assistant", "content": r["output"]}]} for r in rows]
    random.Random(7).shuffle(recs)
    n_eval = round(len(recs) * 0.1)
    held, train = recs[:n_eval], recs[n_eval:]
    prompts = [r["prompt"] for r in held[:args.rows]]

    def answers(m):
        tok.padding_side = "left"
        out = []
        for i in range(0, len(prompts), 16):
            texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts[i:i + 16]]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(m.device)
            with torch.no_grad():
                ids = m.generate(**enc, max_new_tokens=args.new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            out += tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        tok.padding_side = "right"
        return out

    t1 = t.time()
    answers(model)
    t2 = t.time()
    cfg = SFTConfig(output_dir=str(Path(args.out) / "bare"), max_steps=args.steps, per_device_train_batch_size=2,
                    per_device_eval_batch_size=2, learning_rate=2e-4, logging_steps=1, eval_strategy="no",
                    save_strategy="no", report_to=[], use_cpu=not cuda, disable_tqdm=True, max_length=1024,
                    gradient_checkpointing=False,
                    # TRL turns bf16 on by default; on a CPU that is autocast to bf16, many times slower than the
                    # fp32 that Tunedeck trains in there: the same work means the same precision.
                    bf16=dtype == torch.bfloat16, lr_scheduler_type="linear")
    trainer = SFTTrainer(model=model, args=cfg, processing_class=tok, train_dataset=Dataset.from_list(train),
                         eval_dataset=Dataset.from_list(held),
                         peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    trainer.train()
    eval_loss = trainer.evaluate()["eval_loss"]
    t3 = t.time()
    answers(trainer.model)
    t4 = t.time()
    print(json.dumps({"load_seconds": round(t1 - t0, 1), "base_answers_seconds": round(t2 - t1, 1),
                      "train_and_eval_seconds": round(t3 - t2, 1), "tuned_answers_seconds": round(t4 - t3, 1),
                      "eval_loss": round(eval_loss, 4)}))


def conversation(args) -> None:
    """One long conversation truncated to 1,024 tokens, timed."""
    from transformers import AutoTokenizer

    from trainer.chat_data import truncate_left
    tok = AutoTokenizer.from_pretrained(args.model_path)
    msgs = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(args.turns):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant",
                     "content": f"Turn {i}: " + "some words of this turn " * (3 + i % 7)})
    t0 = time.perf_counter()
    kept, cut = truncate_left(tok, {"messages": msgs, "tools": None}, 1024)
    print(json.dumps({"turns": args.turns, "kept_messages": len(kept["messages"]) if kept else 0, "cut": cut,
                      "seconds": round(time.perf_counter() - t0, 2)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="compare", choices=("compare", "bare", "conversation"))
    ap.add_argument("--model-path", default=str(SMOLLM2))
    ap.add_argument("--dataset-path", default=str(ALPACA))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--turns", type=int, default=5000)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default="/tmp/tunedeck-bench-bare")
    args = ap.parse_args()
    if args.what == "bare":
        return bare(args)
    if args.what == "conversation":
        return conversation(args)
    ours = tunedeck(args)
    plain = bare_process(args)
    print(json.dumps({"model": Path(args.model_path).name, "steps": args.steps, "rows": args.rows,
                      "new_tokens": args.new_tokens, "tunedeck": ours, "bare": plain,
                      "ratio": round(ours["seconds"] / plain["seconds"], 3)}, indent=2))


if __name__ == "__main__":
    main()
