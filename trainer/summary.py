"""summary.json: what a finished (or stopped) run achieved, and what produced it."""
from __future__ import annotations

import resource
import sys
from pathlib import Path

from jobs.atomic import atomic_write_json
from jobs.metrics import CURVE_FINALS, S
from jobs.models import registry


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": sys.version.split()[0]}
    for pkg in ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def peak_memory(device: str) -> dict:
    """The GPU's peak allocation when there is one, otherwise the process's peak RSS."""
    if device == "cuda":
        import torch
        return {S.peak_memory_bytes: int(torch.cuda.max_memory_allocated()), "peak_memory_kind": "gpu"}
    return {S.peak_memory_bytes: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak_memory_kind": "rss"}


def write(path: Path, state, metrics, prepared, spec: dict, ds_path: Path, device: str, adapter: Path,
          runtime: float, stopped: bool, phase_seconds: dict | None = None, world_size: int = 1,
          extra: dict | None = None) -> dict:
    """`extra`: how the run trained (trainer/full_model.summary_fields: finetuning_type, sharding, packing,
    gradient_checkpointing, each rank's peak memory). tokens_per_second counts real tokens: TRL's num_tokens for SFT
    leaves padding out."""
    tokens = int(metrics.tokens_seen or getattr(state, "num_input_tokens_seen", 0) or 0)
    out = {
        "status": "stopped" if stopped else "completed",
        **{f.name: (metrics.last if f.pick == "last" else metrics.best).get(f.of) for f in CURVE_FINALS},
        S.total_steps: state.global_step, "epochs": state.epoch,
        S.runtime_seconds: round(metrics.elapsed(), 2), "train_runtime_this_attempt": round(runtime, 2),
        "train_tokens": tokens, S.tokens_per_second: round(tokens / runtime, 1) if runtime > 0 else None,
        "rows": {"read": prepared.rows_read, "truncated": prepared.truncated, "dropped": prepared.dropped,
                 "train": len(prepared.train), "eval": len(prepared.eval)},
        "dataset": spec["dataset"], "dataset_sha256": registry.sha256_file(ds_path),
        "base_model": spec["base_model"], "seed": spec["params"]["seed"], "device": device, "world_size": world_size,
        "adapter": str(adapter), "versions": versions(), **peak_memory(device),
        "phase_seconds": {k: round(v, 2) for k, v in (phase_seconds or {}).items()},  # evaluation and samples
        **(extra or {}),
    }
    atomic_write_json(path, out)
    return out
