"""Packing against padding: real (non-padding) tokens per second of SFT on alpaca_en_demo with SmolLM2-135M-Instruct,
the same rows and steps, side by side in one run. summary.json's tokens_per_second counts real tokens (TRL's
num_tokens). Alpaca's lengths vary widely, so padding wastes much of each padded batch: ≥ 1.3× expected.

    flock /work/heavy.lock .venv/bin/python bench/packing.py [--steps 8]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/X.py` from anywhere

from bench.common import cleanup  # noqa: E402
from bench.finetune_common import make_run, smol_workspace, train  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=512)
    args = ap.parse_args()
    ws = smol_workspace()
    try:
        tps = {}
        for packing in (False, True):
            run_dir = make_run(ws, packing=packing, max_steps=args.steps, batch_size=args.batch,
                               max_seq_length=args.seq, max_samples=2000, learning_rate=2e-4)
            s, wall = train(run_dir)
            tps[packing] = s["tokens_per_second"]
            print(f"packing={packing!s:5s} real tokens {s['train_tokens']}, {s['train_runtime_this_attempt']} s "
                  f"training, {tps[packing]} real tokens/s, final loss {s['final_loss']}")
        ratio = tps[True] / tps[False]
        print(f"packed / padded real tokens per second: {ratio:.2f}× (expected ≥ 1.3×)")
        return 0
    finally:
        cleanup(ws)


if __name__ == "__main__":
    raise SystemExit(main())
