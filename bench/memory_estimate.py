"""The memory estimate (jobs/memory.py) against the peak each run measures itself (summary.json), for 4
configurations of SmolLM2-135M-Instruct on alpaca_en_demo, side by side in one run. On the CPU the peak is the
process's RSS (what the estimate's runtime line stands for: Python, torch and the libraries); on a GPU it is torch's
peak allocation, so the runtime line (the CUDA context) is left out of the comparison there.

    flock /work/heavy.lock .venv/bin/python bench/memory_estimate.py [--steps 3]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/X.py` from anywhere

from bench.common import cleanup  # noqa: E402
from bench.finetune_common import gib, make_run, smol_workspace, train  # noqa: E402
from jobs.finetune import estimate_for  # noqa: E402
from jobs.models import registry  # noqa: E402
from jobs.rundir import RunDir  # noqa: E402

CONFIGS = {
    "lora, batch 4 × 512": dict(finetuning_type="lora", batch_size=4, max_seq_length=512),
    "full, batch 4 × 512": dict(finetuning_type="full", batch_size=4, max_seq_length=512),
    "full + checkpointing, batch 8 × 512": dict(finetuning_type="full", batch_size=8, max_seq_length=512,
                                                gradient_checkpointing=True),
    "full, 2-rank FSDP, batch 4 × 512": dict(finetuning_type="full", batch_size=4, max_seq_length=512,
                                             num_gpus=2, sharding="fsdp"),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    ws = smol_workspace()
    try:
        print("| configuration | estimated | measured peak (max over ranks) | measured / estimated |")
        print("|---|---|---|---|")
        for name, params in CONFIGS.items():
            # packing fills every sequence to max_seq_length, the shape the estimate assumes
            run_dir = make_run(ws, max_steps=args.steps, max_samples=2000, packing=True, learning_rate=2e-5,
                               **params)
            spec = json.loads(RunDir(run_dir).spec.read_text())
            est, _, _ = estimate_for(spec["params"], registry.list_models(ws)[spec["base_model"]], ws)
            s, _ = train(run_dir, nproc=int(params.get("num_gpus", 1)))
            measured = max(s.get("rank_peak_memory_bytes") or [s["peak_memory_bytes"]])
            total = est.total - (est.lines["runtime"] if s["peak_memory_kind"] == "gpu" else 0)
            print(f"| {name} | {gib(total)} | {gib(measured)} ({s['peak_memory_kind']}) | {measured / total:.2f} |")
        return 0
    finally:
        cleanup(ws)


if __name__ == "__main__":
    raise SystemExit(main())
