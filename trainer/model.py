"""Load the registered base model (optionally 4-bit NF4) and wrap it with LoRA."""
from __future__ import annotations

import logging
from pathlib import Path

from .errors import TrainerError

log = logging.getLogger("tunedeck.model")

# Used when a tokenizer ships without a chat template (base models such as Llama-2 or Qwen2.5 base):
# ChatML, the format Qwen uses, which every tokenizer can encode as plain text.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
    return "cpu", torch.float32


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if not tok.chat_template:
        log.warning("tokenizer has no chat template; using the ChatML fallback")
        tok.chat_template = FALLBACK_CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(path: Path, name: str, load_in_4bit: bool, head: str | None = None):
    """The causal LM; head="score" loads it with a one-output score head instead (a reward model)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BitsAndBytesConfig

    device, dtype = device_and_dtype()
    kw = {"dtype": dtype}
    if load_in_4bit:
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            # on a GPU the packed 4-bit weights are stored in the compute dtype, as PEFT's FSDP-QLoRA recipe asks, so
            # FSDP can shard them like every other weight (it shards tensors of one dtype)
            **({"bnb_4bit_quant_storage": dtype} if device == "cuda" else {}))
        kw["device_map"] = {"": _local_gpu()} if device == "cuda" else {"": "cpu"}
    try:
        if head == "score":
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **kw)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, **kw)
    except (OSError, ValueError) as e:
        raise TrainerError(f"base model {name!r} failed to load: {str(e).splitlines()[0]}") from e
    if device == "cuda" and not load_in_4bit:
        model.to(f"cuda:{_local_gpu()}")
    if load_in_4bit and device == "cpu":
        # bitsandbytes repacks 4-bit weights for fast CPU inference on the first eval-mode forward;
        # training after that (sample prompts come first) then fails. Keep the trainable layout.
        import bitsandbytes as bnb
        for m in model.modules():
            if isinstance(m, bnb.nn.Linear4bit):
                m.support_avx512bf16_for_cpu = False
    log.info("base model %s: %s, %.1fM params, %s, %s%s", name, type(model).__name__,
             sum(p.numel() for p in model.parameters()) / 1e6, device, str(dtype).replace("torch.", ""),
             ", 4-bit NF4" if load_in_4bit else "")
    return model


def add_lora(model, params: dict, task_type: str = "CAUSAL_LM"):
    if params.get("finetuning_type") == "full":  # every weight trains, no adapter (trainer/full_model.py)
        from .full_model import make_trainable
        return make_trainable(model, params)
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if params["load_in_4bit"]:
        import torch
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=torch.cuda.is_available())
    cfg = LoraConfig(r=params["lora_rank"], lora_alpha=params["lora_alpha"] or 2 * params["lora_rank"],
                     lora_dropout=params["lora_dropout"], target_modules="all-linear", task_type=task_type)
    model = get_peft_model(model, cfg)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("LoRA r=%d: %d trainable of %d parameters (%.2f%%)", params["lora_rank"], trainable, total,
             100 * trainable / max(total, 1))
    return model


def hide_bitsandbytes(run_dir) -> None:
    """Keep bitsandbytes unloaded for a job without 4-bit. PEFT (and through it the trainer's own imports) loads it
    whenever it is installed, and on a CPU it logs a "Failed to load CPU gemm_4bit_forward … pip install kernels"
    warning into every job's log. A None entry in sys.modules makes it look absent to their availability checks.
    Called by `python -m trainer` before anything else is imported; a process that runs several jobs (the tests)
    does not call it, since a later 4-bit job there needs the real module."""
    import sys

    from jobs.atomic import read_json
    from jobs.rundir import RunDir
    spec = read_json(RunDir(run_dir).spec)
    params = spec.get("params") if isinstance(spec, dict) else None
    if isinstance(params, dict) and params.get("load_in_4bit") is False and "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None


def _local_gpu() -> int:
    """This rank's GPU under torchrun (LOCAL_RANK), else the first visible one."""
    import os
    return int(os.environ.get("LOCAL_RANK", "0") or 0)
