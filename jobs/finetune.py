"""Rules for how a job trains: finetuning_type, sharding, packing, gradient checkpointing, Liger kernels, and whether
the memory estimate fits the slots. Called from jobs.spec's cross-field rules; the form and `python -m jobs validate`
show the same estimate."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from jobs import memory
from jobs.atomic import read_json
from jobs.methods import BUILTINS, method_of
from jobs.state import spooler_alive
from jobs.workspace import Workspace


def world_size(params: dict) -> int:
    return int(params.get("num_gpus") or 1) * int(params.get("num_nodes") or 1)


def target_device(ws: Workspace) -> tuple[str, str]:
    """("gpu" | "cpu", why) for where this workspace's jobs will train: the live spooler's slots, a Slurm runner
    (the cluster's GPUs), or, with no spooler running, this machine."""
    if spooler_alive(ws):
        hb = read_json(ws.spooler_heartbeat) or {}
        if (hb.get("runner") or "local") != "local":
            return "gpu", f"the spooler's {hb.get('runner')} runner"
        slots = hb.get("slots") or []
        if any(s.get("gpu") is not None for s in slots if isinstance(s, dict)):
            return "gpu", "the spooler's GPU slots"
        return "cpu", "the spooler's slots are CPU processes (it found no GPU)"
    if shutil.which("nvidia-smi"):
        return "gpu", "this machine's GPUs"
    return "cpu", "this machine has no GPU"


def memory_limit(ws: Workspace, device: str, processes: int) -> tuple[int | None, str]:
    """(bytes one GPU or one CPU process may use, what that is) from spooler.json, else this machine."""
    hb = (read_json(ws.spooler_heartbeat) or {}) if spooler_alive(ws) else {}
    slots = [s for s in hb.get("slots") or [] if isinstance(s, dict) and isinstance(s.get("memory_bytes"), int)]
    if device == "gpu":
        gpu = [s["memory_bytes"] for s in slots if s.get("memory_kind") == "gpu"]
        if gpu:
            return min(gpu), f"the {memory.fmt_bytes(min(gpu))} of the spooler's smallest GPU"
        return None, ""
    total = next((s["memory_bytes"] for s in slots if s.get("memory_kind") == "cpu"), None) or memory.machine_memory()
    share = total // max(processes, 1)
    what = f"this machine's {memory.fmt_bytes(total)}" + (f" shared by {processes} processes" if processes > 1 else "")
    return share, what


def estimate_for(params: dict, model_path: Path | None, ws: Workspace) -> tuple[memory.Estimate | None, int | None, str]:
    """The estimate for this job on this workspace's slots, the memory it must fit in, and what that memory is."""
    if model_path is None:
        return None, None, ""
    from jobs.models import registry
    shape = memory.Shape.of(model_path, registry.model_info(model_path).get("parameters"))
    if shape is None:
        return None, None, ""
    device, _ = target_device(ws)
    est = memory.estimate(shape, params, device)
    limit, what = memory_limit(ws, device, int(params.get("num_gpus") or 1))
    return est, limit, what


def problems(params: dict, method_name: str | None, ws: Workspace, model_path: Path | None,
             check_refs: bool = True) -> tuple[list, list]:
    """(errors, warnings) as (field, value, message). What a method allows (packing, full) is its declaration's."""
    errors, warnings = [], []
    method = method_of(method_name, ws.methods) if method_name is not None else None
    ft, sharding = params.get("finetuning_type"), params.get("sharding")
    if ft == "full" and params.get("load_in_4bit"):
        errors.append(("params.load_in_4bit", True, "must be false with finetuning_type=full: 4-bit (NF4) weights "
                       "are stored quantized and cannot be trained; a full fine-tune trains every weight in bf16 "
                       "(fp32 on the CPU). Use finetuning_type=lora for QLoRA"))
    if ft == "full" and method is not None and method.lora_only:
        errors.append(("params.finetuning_type", ft, f"must be lora for method {method_name!r}: {method.lora_only}"))
    if sharding == "fsdp" and world_size(params) < 2:
        errors.append(("params.sharding", sharding, "fsdp shards the model across the job's GPUs, so it needs "
                       "num_gpus × num_nodes > 1 (now 1); use none for a one-GPU job"))
    if params.get("packing") and method_name is not None and (method is None or not method.packs):
        packed = " and ".join(n for n, m in BUILTINS.items() if m.packs)
        errors.append(("params.packing", True, f"applies to {packed} data (rows packed into "
                       f"sequences); method {method_name!r} trains on pairs or groups that cannot be packed"))
    device, why = target_device(ws) if check_refs else ("", "")
    if params.get("use_liger_kernel"):
        if importlib.util.find_spec("liger_kernel") is None:
            errors.append(("params.use_liger_kernel", True, "needs the liger-kernel package, which is not "
                           "installed here (pip install liger-kernel); set it to false"))
        elif check_refs and device != "gpu":
            errors.append(("params.use_liger_kernel", True, f"Liger's kernels are Triton GPU kernels and this job "
                           f"will run on the CPU ({why}); set it to false"))
    if check_refs:
        est, limit, what = estimate_for(params, model_path, ws)
        if est is not None and limit is not None and est.total > limit:
            warnings.append(("memory", memory.fmt_bytes(est.total),
                             f"the estimated peak memory per {'GPU' if device == 'gpu' else 'process'} "
                             f"({memory.fmt_bytes(est.total)}) exceeds {what}; try sharding=fsdp, load_in_4bit, "
                             "gradient_checkpointing, or a smaller batch_size or max_seq_length"))
    return errors, warnings


def estimate_text(spec: dict, ws: Workspace) -> list[str]:
    """The estimate of a normalized spec, line by line, and what it must fit in (`python -m jobs validate`)."""
    from jobs.models import registry
    params = spec.get("params") or {}
    est, limit, what = estimate_for(params, registry.list_models(ws).get(spec.get("base_model") or ""), ws)
    if est is None:
        return []
    out = est.text()
    out[0] += (f" (model {spec.get('base_model')}, {params.get('finetuning_type', 'lora')}"
               + (", 4-bit" if params.get("load_in_4bit") else "") + f", sharding {params.get('sharding', 'none')}"
               + f" over {est.world_size} process(es), batch {params.get('batch_size')} × {params.get('max_seq_length')}"
               + " tokens" + (", gradient checkpointing" if params.get("gradient_checkpointing") else "") + ")")
    if limit is not None:
        out.append(f"  fits in: {what}" if est.total <= limit else f"  does NOT fit in: {what}")
    return out
