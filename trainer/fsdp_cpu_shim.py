"""CPU-ONLY SHIM: lets the HF Trainer's own FSDP2 path run on CPU processes (gloo), so CI can prove sharding.

accelerate's AcceleratorState turns an FSDP plugin into `DistributedType.FSDP` only for GPU-like distributed types
(MULTI_GPU, MULTI_XPU, ...). On CPU processes (`use_cpu=True` under torchrun: MULTI_CPU) it silently drops the plugin
and the job trains as DDP. PyTorch's FSDP2 (`fully_shard`) itself runs on a CPU device mesh over gloo, so this shim
does the one thing accelerate leaves out: when a plugin is given on MULTI_CPU, it sets `distributed_type = FSDP` and
`fsdp_plugin`, exactly as accelerate does for a GPU.

It is applied by trainer/full_model.py only when the job trains on the CPU with sharding=fsdp and several
processes. A GPU job never calls it.
"""
from __future__ import annotations

import logging

log = logging.getLogger("tunedeck.fsdp_cpu_shim")
_applied = False


def apply() -> None:
    """Patch AcceleratorState.__init__ once per process (idempotent)."""
    global _applied
    if _applied:
        return
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    original = AcceleratorState.__init__

    def __init__(self, *args, fsdp_plugin=None, **kwargs):
        original(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    AcceleratorState.__init__ = __init__
    _applied = True
    log.info("FSDP on CPU processes: accelerate's state is told to shard over gloo (trainer/fsdp_cpu_shim.py)")
