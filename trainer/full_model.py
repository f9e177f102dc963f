"""Full fine-tuning, FSDP sharding, gradient checkpointing, packing and Liger kernels: the trainer's side of
finetuning_type, sharding, gradient_checkpointing, packing and use_liger_kernel (jobs/params.py).

Each is the libraries' own path: transformers' `fsdp` / `fsdp_config` (accelerate's FSDP2 plugin, `fully_shard`
per decoder layer), TRL's padding-free packing (`packing=True`, best-fit decreasing, position ids restarting per
row), `gradient_checkpointing`, `use_liger_kernel`. On CPU processes (gloo) accelerate needs the one patch in
trainer/fsdp_cpu_shim.py to enable FSDP; a GPU job never applies it.

A full run writes runs/<id>/model/ (written aside and renamed, like the adapter); a sharded run gathers the full
state dict (FULL_STATE_DICT) and rank 0 writes every file.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from jobs.disk import ensure_space
from jobs.metrics import S
from jobs.rundir import RunDir

from . import dist
from .errors import TrainerError

log = logging.getLogger("tunedeck.full")


def is_full(params: dict) -> bool:
    return params.get("finetuning_type") == "full"


def sharded(params: dict) -> bool:
    return params.get("sharding") == "fsdp" and dist.world_size() > 1


def make_trainable(model, params: dict):
    """finetuning_type=full: the base model itself, every weight trainable (no adapter)."""
    for p in model.parameters():
        p.requires_grad_(True)
    n = sum(p.numel() for p in model.parameters())
    log.info("full fine-tuning: all %d parameters trainable", n)
    return model


def decoder_layer_classes(model) -> list[str]:
    """The decoder layer class FSDP wraps one by one (the model's _no_split_modules, e.g. LlamaDecoderLayer)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = list(getattr(base, "_no_split_modules", None) or [])
    if not names:
        layers = getattr(getattr(base, "model", None), "layers", None)
        if layers is not None and len(layers):
            names = [type(layers[0]).__name__]
    if not names:
        raise TrainerError(f"sharding=fsdp: cannot find the decoder layers of {type(base).__name__} to wrap; "
                           "use sharding=none for this model")
    return names


def training_args(params: dict, device: str, model) -> dict:
    """What these params add to transformers' TrainingArguments (every recipe's config gets them)."""
    gc = bool(params.get("gradient_checkpointing"))
    out: dict = {"gradient_checkpointing": gc}
    if gc:  # non-reentrant checkpointing works with frozen base weights and LoRA inputs
        out["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if params.get("use_liger_kernel"):
        out["use_liger_kernel"] = True
    if sharded(params):
        if device != "cuda":
            from . import fsdp_cpu_shim
            fsdp_cpu_shim.apply()
        out["fsdp"] = True
        out["fsdp_config"] = {
            "version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "transformer_layer_cls_to_wrap": decoder_layer_classes(model), "reshard_after_forward": True,
            # the final model/adapter and the checkpoints hold whole tensors, gathered to rank 0, which writes them
            "state_dict_type": "FULL_STATE_DICT", "cpu_ram_efficient_loading": False,
            "activation_checkpointing": gc,  # FSDP's own, instead of the Trainer's (that one re-gathers weights)
        }
        out["gradient_checkpointing"] = False
        out.pop("gradient_checkpointing_kwargs", None)
    return out


def packing_args(params: dict) -> dict:
    """SFT's packing (validation allows it for SFT and CPT only): TRL's best-fit-decreasing packing, padding-free,
    position ids restarting per row so no row attends to another."""
    return {"packing": True, "packing_strategy": "bfd", "padding_free": True} if params.get("packing") else {}


def model_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def save(r) -> bool:
    """Every rank: record the peak memory of each rank for summary.json; then, for a full or a sharded run, write the
    model folder (or the adapter) aside and rename it into place. True when this function saved (or this rank is done
    and rank 0 saves); False leaves the adapter to run.save's own path."""
    r.rank_peaks = gather_peaks(r.device)
    full, fsdp = is_full(r.params), bool(getattr(r.trainer, "is_fsdp_enabled", False))
    if fsdp:
        log.info("trained sharded: FSDP2 over %d ranks, peak memory per rank %s MiB", dist.world_size(),
                 [round(b / 2**20) for b in r.rank_peaks])
    if not (full or fsdp):
        return False
    rd = RunDir(r.rd.path)
    final, tmp, old = (rd.model, rd.model_tmp, rd.model_old) if full else (rd.adapter, rd.adapter_tmp, rd.adapter_old)
    problem = None
    if dist.is_main():
        from .disk_guard import tokenizer_bytes, trainable_bytes
        need = (model_bytes(r.trainer.model) if full else trainable_bytes(r.trainer.model)) \
            + tokenizer_bytes(r.model_path) + (256 << 10)
        try:
            ensure_space(rd.path, need, "saving the model" if full else "saving the adapter")
        except Exception as e:  # noqa: BLE001 - every rank must learn it before the collective save
            problem = e
        shutil.rmtree(tmp, ignore_errors=True)
    if fsdp and dist.any_rank(problem is not None):
        if problem is not None:
            raise problem
        raise TrainerError("rank 0 found no room to save; see its reason")
    if problem is not None:
        raise problem
    if not dist.is_main() and not fsdp:
        r.rank_done = True
        return True
    r.trainer.save_model(str(tmp))  # under FSDP a collective: the full state dict, written by rank 0
    if not dist.is_main():
        r.rank_done = True
        return True
    r.tokenizer.save_pretrained(tmp)  # with the chat template the run trained with
    (tmp / "training_args.bin").unlink(missing_ok=True)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, final)
    r.adapter = final
    size = sum(f.stat().st_size for f in final.rglob("*") if f.is_file())
    log.info("%s saved: %s (%.1f MiB)", "model" if full else "adapter", final, size / 2**20)
    return True


def tuned_model(r):
    """The trained model for the tuned evaluation and samples (rank 0 alone): the trainer's own, or for a sharded run
    (whose weights are spread over the ranks) the saved one, loaded whole."""
    if not getattr(r.trainer, "is_fsdp_enabled", False):
        return r.trainer.model
    from . import model as model_mod
    rd = RunDir(r.rd.path)
    if is_full(r.params):
        return model_mod.load_base(rd.model, r.spec["base_model"] + " (tuned)", False)
    from peft import PeftModel
    base = model_mod.load_base(r.model_path, r.spec["base_model"], r.params["load_in_4bit"])
    return PeftModel.from_pretrained(base, str(rd.adapter))


def gather_peaks(device: str) -> list[int]:
    """Each rank's peak memory (GPU allocation, or the process's RSS on the CPU), rank order; a collective."""
    from .summary import peak_memory
    mine = int(peak_memory(device)[S.peak_memory_bytes])
    if dist.world_size() <= 1:
        return [mine]
    import torch.distributed as td
    if not td.is_available() or not td.is_initialized():
        return [mine]
    out: list = [None] * td.get_world_size()
    td.all_gather_object(out, mine)
    return [int(x) for x in out]


def summary_fields(r) -> dict:
    """What summary.json records about how the run trained."""
    p = r.params
    out = {"finetuning_type": p.get("finetuning_type", "lora"), "sharding": p.get("sharding", "none"),
           "packing": bool(p.get("packing")), "gradient_checkpointing": bool(p.get("gradient_checkpointing")),
           "use_liger_kernel": bool(p.get("use_liger_kernel")),
           "rank_peak_memory_bytes": getattr(r, "rank_peaks", None)}
    trained = RunDir(r.rd.path).model
    if is_full(p) and trained.is_dir():
        out["model"] = str(trained)
        out["model_bytes"] = sum(f.stat().st_size for f in Path(trained).rglob("*") if f.is_file())
    return out
