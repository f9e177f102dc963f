"""Fail early, with the reason, when a checkpoint or the adapter will not fit on the disk.

Without the check a full disk kills the trainer mid-write with ENOSPC, and then its own outcome and state writes
fail too, so the job's reason is lost. The check keeps a reserve for those last writes.
"""
from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from jobs.disk import ensure_space, tree_bytes
from jobs.rundir import RunDir


def trainable_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def tokenizer_bytes(model_path: Path) -> int:
    names = ("tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", "tokenizer_config.json",
             "special_tokens_map.json", "added_tokens.json", "chat_template.jinja")
    return sum((Path(model_path) / n).stat().st_size for n in names if (Path(model_path) / n).is_file())


def adapter_bytes(model, model_path: Path) -> int:
    """The adapter's weights in their own dtype, the tokenizer files and 64 KiB of configs."""
    return trainable_bytes(model) + tokenizer_bytes(model_path) + (64 << 10)


def check_adapter_space(run_dir: Path, model, model_path: Path) -> None:
    ensure_space(run_dir, adapter_bytes(model, model_path), "saving the adapter")


class DiskSpaceCallback(TrainerCallback):
    """Before each checkpoint: the newest checkpoint's size (or, for the first one, weights plus two Adam moments in
    fp32, and the tokenizer) must fit beside the reserve."""

    def __init__(self, run_dir: Path, model, model_path: Path):
        self.run_dir = Path(run_dir)
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.first_estimate = trainable_bytes(model) + 8 * n + tokenizer_bytes(model_path) + (256 << 10)

    def need(self) -> int:
        ck = RunDir(self.run_dir).checkpoints
        done = sorted(ck.glob("checkpoint-*"), key=lambda p: p.stat().st_mtime) if ck.is_dir() else []
        return tree_bytes(done[-1]) if done else self.first_estimate

    def on_step_end(self, args, state, control, **kw):
        if control.should_save:
            ensure_space(self.run_dir, self.need(), f"the checkpoint at step {state.global_step}")
