"""Where this process sits in a torchrun job. Rank 0 owns the run folder's files; the other ranks only train and log.

torchrun sets RANK and WORLD_SIZE; transformers' Trainer sets up the process group itself (gloo on CPUs, NCCL on
GPUs), so nothing here chooses a backend.
"""
from __future__ import annotations

import logging
import os


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main() -> bool:
    return rank() == 0


class RankPrefix(logging.Filter):
    """Prefix every line of a non-zero rank with [rank N], so train.log tells the ranks apart."""

    def __init__(self, r: int):
        super().__init__()
        self.prefix = f"[rank {r}] "

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_rank_prefixed", False):
            record.msg = self.prefix + str(record.msg)
            record._rank_prefixed = True
        return True


def any_rank(flag: bool) -> bool:
    """True on every rank when it is True on one: a stop seen by one rank must stop them all at the same step."""
    if world_size() <= 1:
        return flag
    import torch
    import torch.distributed as td
    if not td.is_available() or not td.is_initialized():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32,
                     device="cuda" if td.get_backend() == "nccl" else "cpu")
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item())


def launcher_ident() -> dict:
    """The process to watch and signal for this job: torchrun (our parent) when there are several ranks."""
    import psutil
    me = psutil.Process()
    if world_size() > 1 and os.environ.get("TORCHELASTIC_RUN_ID") is not None:
        parent = me.parent()
        if parent is not None:
            return {"pid": parent.pid, "pid_create_time": parent.create_time()}
    return {"pid": me.pid, "pid_create_time": me.create_time()}
