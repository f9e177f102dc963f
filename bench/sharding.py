"""FSDP against DDP: each rank's peak memory in a 2-rank full fine-tune of SmolLM2-135M-Instruct (AdamW), side by
side in one run, from each run's own summary.json (rank_peak_memory_bytes: the process's peak RSS on the CPU, the
GPU's peak allocation on a GPU). Target: FSDP holds at most 0.7× what DDP holds per rank.

    flock /work/heavy.lock .venv/bin/python bench/sharding.py [--steps 6]

Both runs return freed large blocks to the OS (glibc: MALLOC_MMAP_THRESHOLD_=65536, MALLOC_TRIM_THRESHOLD_=0), so
the peak RSS counts what the process holds, not all-gather buffers it freed long ago; on a GPU the peak is torch's
live allocation anyway.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/X.py` from anywhere

from bench.common import cleanup  # noqa: E402
from bench.finetune_common import gib, make_run, smol_workspace, train  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seq", type=int, default=256)
    args = ap.parse_args()
    for var, value in (("MALLOC_MMAP_THRESHOLD_", "65536"), ("MALLOC_TRIM_THRESHOLD_", "0")):
        os.environ.setdefault(var, value)  # the trainers inherit it (bench.finetune_common.train)
    ws = smol_workspace()
    try:
        peaks = {}
        for sharding in ("none", "fsdp"):
            run_dir = make_run(ws, finetuning_type="full", sharding=sharding, num_gpus=2, max_steps=args.steps,
                               batch_size=2, max_seq_length=args.seq, max_input_length=args.seq // 2,
                               max_content_length=args.seq // 2, max_samples=200, learning_rate=2e-5)
            s, wall = train(run_dir, nproc=2)
            peaks[sharding] = s["rank_peak_memory_bytes"]
            print(f"sharding={sharding:5s} world_size={s['world_size']} peak per rank "
                  f"{[gib(b) for b in peaks[sharding]]} ({s['peak_memory_kind']}), final loss {s['final_loss']}, "
                  f"{wall:.0f} s")
        ratio = max(peaks["fsdp"]) / max(peaks["none"])
        print(f"FSDP / DDP peak per rank: {ratio:.2f}× (target ≤ 0.70×) -> {'OK' if ratio <= 0.7 else 'MISSED'}")
        return 0 if ratio <= 0.7 else 1
    finally:
        cleanup(ws)


if __name__ == "__main__":
    raise SystemExit(main())
