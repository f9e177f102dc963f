"""Gradient checkpointing: peak memory and time per step with it against without, SmolLM2-135M-Instruct full
fine-tune on alpaca_en_demo, side by side in one run (peak: the process's RSS on the CPU, the GPU's peak allocation on
a GPU).

    flock /work/heavy.lock .venv/bin/python bench/checkpointing.py [--steps 4]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/X.py` from anywhere

from bench.common import cleanup  # noqa: E402
from bench.finetune_common import gib, make_run, smol_workspace, train  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    args = ap.parse_args()
    ws = smol_workspace()
    try:
        out = {}
        for gc in (False, True):
            run_dir = make_run(ws, finetuning_type="full", gradient_checkpointing=gc, packing=True,
                               max_steps=args.steps, batch_size=args.batch, max_seq_length=args.seq,
                               max_samples=2000, learning_rate=2e-5)
            s, _ = train(run_dir)
            out[gc] = (s["peak_memory_bytes"], s["train_runtime_this_attempt"] / args.steps)
            print(f"gradient_checkpointing={gc!s:5s} peak {gib(out[gc][0])} ({s['peak_memory_kind']}), "
                  f"{out[gc][1]:.2f} s/step")
        print(f"with / without: memory {out[True][0] / out[False][0]:.2f}×, time per step "
              f"{out[True][1] / out[False][1]:.2f}×")
        return 0
    finally:
        cleanup(ws)


if __name__ == "__main__":
    raise SystemExit(main())
