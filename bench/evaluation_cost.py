"""What evaluation and sample answers cost, measured side by side in one run.

python bench/evaluation_cost.py floor [--model tiny-demo] [--rows 50] [--new-tokens 64] [--repeats 2]
    Tunedeck's evaluation of N held-out rows (greedy answers, ROUGE-L/chrF/exact match, reference perplexity)
    against the floor: a plain batched model.generate over the same prompts and settings. Prints the ratio.
python bench/evaluation_cost.py share [--model smollm2-135m-instruct] [--dataset alpaca_en_demo] [--steps 10]
    A real trainer run: the share of training time spent on sample answers (eval_max_rows 0), then the same run
    with a base+tuned evaluation of --rows rows and --new-tokens tokens, against its training time.

python bench/evaluation_cost.py tuned [--model smollm2-135m-instruct --model-path DIR] [--rows 50] [--new-tokens 64]
    Generation speed of the base model against the tuned one (LoRA r8 on every linear layer, as a run trains it):
    the adapter applied on the side (PEFT's forward, three matrix products a layer) and merged into the weights
    (trainer.generate.merged, what the tuned evaluation uses). Prints each time and the ratios to the base.

--home DIR reuses a workspace (default: a fresh one with the embedded demo); --model-path DIR registers a local
Hugging Face model folder under --model; --dataset-path FILE registers a JSONL file under --dataset.
"""
import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from common import fresh_workspace  # noqa: E402

from jobs.atomic import atomic_write_json  # noqa: E402
from jobs.models.registry import list_models  # noqa: E402
from jobs.rundir import RunDir  # noqa: E402
from jobs.spec import validate  # noqa: E402
from jobs.state import create_run, new_job_id  # noqa: E402
from jobs.workspace import Workspace  # noqa: E402


def workspace(args) -> Workspace:
    ws = Workspace(Path(args.home)).ensure() if args.home else fresh_workspace()
    if args.model_path:
        atomic_write_json(ws.models / f"{args.model}.json", {"path": str(Path(args.model_path).resolve())})
    if args.dataset_path:
        dst = ws.datasets / f"{args.dataset}.jsonl"
        if not dst.exists():
            dst.write_bytes(Path(args.dataset_path).read_bytes())
    return ws


def held_out(ws, args) -> list[dict]:
    from trainer import data
    from trainer import model as model_mod
    from trainer.evaluate import setup_for

    raw = {"method": "sft", "base_model": args.model, "dataset": args.dataset,
           "params": {"max_content_length": args.new_tokens, "eval_ratio": 0.5, "eval_max_rows": args.rows}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    tok = model_mod.load_tokenizer(list_models(ws)[args.model])
    from jobs.models.registry import list_datasets
    rows = data.read_jsonl(list_datasets(ws)[args.dataset], -1, args.dataset)
    prepared = data.prepare(rows, v.spec["params"], tok, "prompt_completion", args.dataset)
    return setup_for("sft", v.spec["params"], prepared.eval), tok


def floor(args) -> None:
    import torch

    from trainer import model as model_mod
    from trainer.evaluate import aggregate, score_model
    from trainer.generate import GEN_BATCH, chat_text

    ws = workspace(args)
    setup, tok = held_out(ws, args)
    model = model_mod.load_base(list_models(ws)[args.model], args.model, False)
    model.eval()
    from trainer import prompt_context
    prompts = [prompt_context.of_row(r) for r in setup.rows]  # what the evaluation sends: system turn, context

    def plain():
        """What one would write by hand: batches in dataset order, left padding, greedy, the KV cache."""
        tok.padding_side = "left"
        out = []
        for i in range(0, len(prompts), GEN_BATCH):
            enc = tok([chat_text(tok, p) for p in prompts[i:i + GEN_BATCH]], return_tensors="pt", padding=True,
                      add_special_tokens=False)
            with torch.no_grad():
                ids = model.generate(**enc, max_new_tokens=args.new_tokens, do_sample=False, use_cache=True,
                                     pad_token_id=tok.pad_token_id)
            out += tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        tok.padding_side = "right"
        return out

    from trainer.callbacks import StopCallback
    stop = StopCallback(ws.home)  # the stop check a real run makes per token and batch is part of the cost

    def ours():
        result = score_model(model, tok, setup, should_stop=stop.check)
        aggregate(setup, result)
        return result["answers"]

    plain(), ours()  # warm up both paths once
    t_plain, t_ours = [], []
    for _ in range(args.repeats):  # interleaved, so a busy machine slows both alike
        t0 = time.perf_counter()
        plain()
        t_plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours()
        t_ours.append(time.perf_counter() - t0)
    p, o = statistics.median(t_plain), statistics.median(t_ours)
    print(json.dumps({"model": args.model, "rows": len(prompts), "new_tokens": args.new_tokens,
                      "floor_seconds": round(p, 2), "evaluation_seconds": round(o, 2), "ratio": round(o / p, 3),
                      # another process on the cores only ever adds time: the fastest runs are the least disturbed
                      "ratio_of_fastest": round(min(t_ours) / min(t_plain), 3),
                      "floor_runs": [round(x, 2) for x in t_plain], "evaluation_runs": [round(x, 2) for x in t_ours]}))


def tuned(args) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from trainer import model as model_mod
    from trainer import prompt_context
    from trainer.generate import generate, merged

    ws = workspace(args)
    setup, tok = held_out(ws, args)
    prompts = [prompt_context.of_row(r) for r in setup.rows]
    model = get_peft_model(model_mod.load_base(list_models(ws)[args.model], args.model, False),
                           LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)  # a trained adapter is not zero; PEFT starts B at zero
    model.eval()

    def base():
        with model.disable_adapter():
            return generate(model, tok, prompts, args.new_tokens)

    def side():
        return generate(model, tok, prompts, args.new_tokens)

    def folded():
        with merged(model):
            return generate(model, tok, prompts, args.new_tokens)

    runs = {"base": base, "tuned_unmerged": side, "tuned_merged": folded}
    for fn in runs.values():  # warm up each path once
        fn()
    times = {k: [] for k in runs}
    for _ in range(args.repeats):  # interleaved, so a busy machine slows all alike
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}  # the least disturbed run of each
    print(json.dumps({"model": args.model, "rows": len(prompts), "new_tokens": args.new_tokens,
                      "seconds": {k: round(v, 2) for k, v in best.items()},
                      "unmerged_vs_base": round(best["tuned_unmerged"] / best["base"], 3),
                      "merged_vs_base": round(best["tuned_merged"] / best["base"], 3),
                      "runs": {k: [round(x, 2) for x in v] for k, v in times.items()}}))


def one_run(ws, args, eval_rows: int, max_content: int) -> dict:
    from trainer.run import main
    raw = {"name": "bench", "method": "sft", "base_model": args.model, "dataset": args.dataset,
           "params": {"max_steps": args.steps, "eval_max_rows": eval_rows, "max_content_length": max_content,
                      "num_sample_prompts": 5, "sample_generations": 1, "checkpoint_steps": 100000,
                      "eval_ratio": 0.1, "seed": 7}}
    v = validate(raw, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    run_dir = ws.run_dir(job)
    assert main([str(run_dir)]) == 0, RunDir(run_dir).log.read_text()[-2000:]
    s = json.loads(RunDir(run_dir).summary.read_text())
    return {"train_seconds": s["train_runtime_this_attempt"], **s["phase_seconds"]}


def share(args) -> None:
    ws = workspace(args)
    shutil.rmtree(ws.home / "cache", ignore_errors=True)  # measure the base model's work too, not a cache hit
    samples_only = one_run(ws, args, 0, 512)  # the defaults: 5 sample prompts, up to 256 new tokens each
    gen = samples_only.get("base_samples", 0) + samples_only.get("tuned_samples", 0)
    out = {"model": args.model, "steps": args.steps, "samples_only": samples_only,
           "sample_share_of_training": round(gen / samples_only["train_seconds"], 3)}
    if args.rows:
        shutil.rmtree(ws.home / "cache", ignore_errors=True)
        with_eval = one_run(ws, args, args.rows, args.new_tokens)
        ev = sum(with_eval.get(k, 0) for k in ("base", "tuned", "base_samples", "tuned_samples"))
        out.update(with_evaluation=with_eval, evaluation_vs_training=round(ev / with_eval["train_seconds"], 3))
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("floor", "share", "tuned"))
    ap.add_argument("--home")
    ap.add_argument("--model", default="tiny-demo")
    ap.add_argument("--model-path")
    ap.add_argument("--dataset", default="demo-instruct")
    ap.add_argument("--dataset-path")
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    {"floor": floor, "share": share, "tuned": tuned}[args.what](args)


if __name__ == "__main__":
    main()
