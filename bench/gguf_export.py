"""GGUF export on SmolLM2-135M-Instruct: time per step, and llama.cpp against transformers side by side.

    python bench/gguf_export.py [--tokens 64] [--rounds 3]

1. Trains a 2-step LoRA SFT run on SmolLM2 (jobs init --with smollm2's model, cached like the tests' fixture) and
   exports it with `--gguf f16,q8_0,q4_k_m`; prints the export's own timings from export/status.json: merge (load,
   merge, save, and the merged model's reference answers), convert (llama.cpp's convert_hf_to_gguf.py to f16),
   quantize per type, smoke check per file.
2. Generates the same prompts greedily, `--tokens` new tokens each (end of turn ignored, so every side makes the
   same number), one prompt at a time, alternating in rounds in one process: transformers on the merged model
   (float32, as exported) against llama.cpp on each GGUF. Tokens per second include the prompt.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPTS = ["Give three tips for staying healthy.", "What is the capital of France?",
           "Write a short poem about the sea."]


def smollm2_folder() -> Path:
    from jobs.models import smollm2
    from jobs.models.registry import model_problem
    cache = Path(os.environ.get("TUNEDECK_TEST_CACHE", Path.home() / ".cache" / "tunedeck-tests")) / smollm2.NAME
    if model_problem(cache) is not None:
        smollm2.build(cache)
    return cache


def trained_run(home: Path) -> Path:
    from jobs.atomic import atomic_write_json
    from jobs.init import init_workspace
    from jobs.models import smollm2
    from jobs.spec import validate
    from jobs.state import create_run, new_job_id
    from jobs.workspace import Workspace
    from trainer import run as trainer_run
    ws = Workspace(home)
    demo = os.environ.get("TUNEDECK_TEST_DEMO")  # a workspace `jobs init` built: its demo datasets are reused
    if demo and (Path(demo) / "datasets").is_dir():
        ws.ensure()
        for f in (Path(demo) / "datasets").glob("*.jsonl"):
            shutil.copy(f, ws.datasets / f.name)
    else:
        init_workspace(ws, log=lambda *_: None)
    atomic_write_json(ws.models / f"{smollm2.NAME}.json", {"path": str(smollm2_folder())})
    v = validate({"name": "bench", "method": "sft", "base_model": smollm2.NAME, "dataset": "demo-instruct",
                  "params": {"max_steps": 2, "batch_size": 2, "eval_ratio": 0, "num_sample_prompts": 3,
                             "max_content_length": 32}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    assert create_run(ws, job, v.spec)
    assert trainer_run.main([str(ws.run_dir(job))]) == 0
    return ws.run_dir(job)


def side_by_side(merged: Path, gguf: dict[str, str], tokens: int, rounds: int) -> dict[str, float]:
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.gguf_export import threads
    tok = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged, dtype="auto").eval()
    ids = [tok(tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True),
               add_special_tokens=False)["input_ids"] for p in PROMPTS]
    n = threads()
    llms = {q: Llama(model_path=f, n_ctx=512, n_threads=n, n_threads_batch=n, verbose=False) for q, f in gguf.items()}
    secs = {"transformers (merged, float32)": 0.0, **{f"llama.cpp {q}": 0.0 for q in llms}}
    for _ in range(rounds):
        for p in ids:
            t0 = time.perf_counter()
            with torch.no_grad():
                model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                               max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                               pad_token_id=tok.pad_token_id)
            secs["transformers (merged, float32)"] += time.perf_counter() - t0
            for q, llm in llms.items():
                t0 = time.perf_counter()
                for i, _tok in enumerate(llm.generate(p, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                                      repeat_penalty=1.0)):
                    if i + 1 >= tokens:
                        break
                secs[f"llama.cpp {q}"] += time.perf_counter() - t0
    made = rounds * len(ids) * tokens
    return {k: made / v for k, v in secs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from jobs.use import requests as rq
    from trainer.export import main as export_main
    with tempfile.TemporaryDirectory(prefix="tunedeck-bench-gguf-") as tmp:
        run_dir = trained_run(Path(tmp))
        t0 = time.perf_counter()
        assert export_main([str(run_dir), "--gguf", "f16,q8_0,q4_k_m"]) == 0
        total = time.perf_counter() - t0
        st = rq.export_state(run_dir)
        if st.get("gguf_error"):
            print(f"error: {st['gguf_error']}", file=sys.stderr)
            return 1
        g = st["gguf_seconds"]
        print(f"## GGUF export of SmolLM2-135M-Instruct (LoRA SFT run), {os.cpu_count()} CPU threads\n")
        print("| step | seconds |\n|---|---|")
        print(f"| merge (load base + adapter, merge, save; the merged model's reference answers) | {st['merge_seconds']} |")
        print(f"| convert to f16 (llama.cpp convert_hf_to_gguf.py, child process) | {g['convert']} |")
        for k, v in g.items():
            if k != "convert":
                print(f"| {k.replace('_', ' ', 1)} | {v} |")
        print(f"| whole export (`python -m trainer.export RUN --gguf f16,q8_0,q4_k_m`, imports included) | "
              f"{total:.1f} |\n")
        print("| file | size (MiB) | load (s) | greedy match with the merged model | tensor types |\n|---|---|---|---|---|")
        for e in st["gguf"]:
            print(f"| {e['quant']} | {e['size_bytes'] / 2**20:.1f} | {e['load_seconds']} | {100 * e['match']:.0f} % | "
                  f"{json.dumps(e['tensor_types'])} |")
        speed = side_by_side(Path(st["merged"]), {e["quant"]: e["file"] for e in st["gguf"]}, args.tokens, args.rounds)
        base = speed["transformers (merged, float32)"]
        print(f"\n## Greedy generation, {len(PROMPTS)} prompts x {args.tokens} new tokens x {args.rounds} rounds, "
              "one prompt at a time, alternating in one process\n")
        print("| engine | tokens/s | vs transformers |\n|---|---|---|")
        for k, v in speed.items():
            print(f"| {k} | {v:.1f} | {v / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
