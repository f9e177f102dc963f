"""LoRA, full and full + gradient checkpointing on a GPU, for a model bigger than SmolLM2: tokens/s, peak GPU memory
and the memory estimate (jobs/memory.py) side by side in one run, each through the real trainer as the spooler
starts it. Needs a CUDA GPU; CI has none, so this is run by hand and its figures go in
docs/full-finetuning-and-sharding.md.

    python bench/gpu_finetune.py --tokenizer DIR [--out FILE] [--steps 12] [--seq 1024] [--batch 8]

The model is random-initialised in the shape of TinyLlama-1.1B (22 layers, hidden 2048, GQA 32/4 heads) with the
tokenizer of DIR (e.g. SmolLM2's): the machines we are lent reach no model hub, and throughput and memory depend on
the shape, not on the weights. The loss it prints is that of random weights. `--tiny` makes a 2-layer model of the
same kind for a CPU smoke run of this script.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cleanup, fresh_workspace  # noqa: E402
from bench.finetune_common import ALPACA, gib, make_run, train  # noqa: E402
from jobs.atomic import atomic_write_json  # noqa: E402
from jobs.finetune import estimate_for  # noqa: E402
from jobs.models import registry  # noqa: E402
from jobs.rundir import RunDir  # noqa: E402

NAME = "tinyllama-shape-1b-random"


def build(folder: Path, tokenizer_dir: Path, tiny: bool) -> int:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2) if tiny else \
        dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
             num_key_value_heads=4)
    cfg = LlamaConfig(vocab_size=len(tok), max_position_embeddings=2048, tie_word_embeddings=False,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, **shape)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    for f in ("chat_template.jinja",):
        if (tokenizer_dir / f).is_file():
            shutil.copy(tokenizer_dir / f, folder / f)
    return sum(p.numel() for p in model.parameters())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    args = ap.parse_args()
    ws = fresh_workspace()
    folder = ws.home / "models-on-disk" / NAME
    n = build(folder, args.tokenizer, args.tiny)
    print(f"model: {NAME}, {n / 1e9:.2f} B parameters (bf16 on disk)", flush=True)
    atomic_write_json(ws.models / f"{NAME}.json", {"path": str(folder)})
    shutil.copy(ALPACA, ws.datasets / ALPACA.name)
    b, seq = args.batch, args.seq
    configs = {
        "lora r16": dict(finetuning_type="lora", lora_rank=16, batch_size=b),
        "full": dict(finetuning_type="full", batch_size=b),
        "full + gradient checkpointing": dict(finetuning_type="full", batch_size=b, gradient_checkpointing=True),
        "full + gradient checkpointing, 2× batch": dict(finetuning_type="full", batch_size=2 * b,
                                                         gradient_checkpointing=True),
    }
    rows = []
    try:
        for name, params in configs.items():
            if args.only and name not in args.only:
                continue
            # packing fills every sequence to max_seq_length: the shape the estimate assumes, and a fair tokens/s
            run_dir = make_run(ws, base_model=NAME, max_steps=args.steps, max_samples=4000, packing=True,
                               max_seq_length=seq, max_input_length=seq // 2, max_content_length=seq // 2,
                               learning_rate=1e-5, **params)
            spec = json.loads(RunDir(run_dir).spec.read_text())
            est, _, _ = estimate_for(spec["params"], registry.list_models(ws)[NAME], ws)
            row = {"configuration": name, "batch": f"{params['batch_size']} × {seq}"}
            try:
                s, wall = train(run_dir, timeout=900)
            except (SystemExit, Exception) as e:  # one failing configuration (say, out of memory) is a figure too
                row["error"] = str(e)[-600:]
                rows.append(row)
                print(json.dumps(row), flush=True)
                continue
            est_gpu = est.total - est.lines.get("runtime", 0) if est else None
            row.update(tokens_per_second=s.get("tokens_per_second"), peak_bytes=s.get("peak_memory_bytes"),
                       peak_kind=s.get("peak_memory_kind"), estimate_bytes=est_gpu, wall_seconds=round(wall, 1),
                       train_seconds=s.get("train_runtime_this_attempt"), final_loss=s.get("final_loss"))
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        cleanup(ws)
    print("\n| configuration | batch × tokens | tokens/s | peak memory | estimate | whole job |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['configuration']} | {r['batch']} | failed: {r['error'][-120:]} | | | |")
            continue
        print(f"| {r['configuration']} | {r['batch']} | {r['tokens_per_second']} | {gib(r['peak_bytes'])} "
              f"({r['peak_kind']}) | {gib(r['estimate_bytes']) if r['estimate_bytes'] else '?'} | "
              f"{r['wall_seconds']:.0f} s |")
    if args.out:
        args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows},
                                       indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
