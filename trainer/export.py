"""`python -m trainer.export RUN_DIR`: merge a run's adapter into its base model and write what serves it.

Writes runs/<id>/export/: merged/ (safetensors, config, tokenizer, chat template), Modelfile (Ollama), vllm.sh
(serve the adapter without merging) and load_with_peft.py, and status.json throughout. A run trained on a 4-bit
base (QLoRA) merges into the base in its original dtype, never into quantized weights, and status.json says so.
With GGUF quantizations asked for (`--gguf f16,q8_0,q4_k_m`, or `gguf_requested` in status.json from the request),
it also writes gguf/<name>-<quant>.gguf with llama.cpp's tools and smoke-checks each (trainer/gguf_export.py); a
GGUF step that fails says why in status.json (`gguf_error`) and the merged export stays.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from jobs import logformat
from jobs.atomic import atomic_write_text
from jobs.metrics import M
from jobs.models import registry
from jobs.rundir import RunDir
from jobs.state import now_iso, read_spec
from jobs.use import requests as rq

log = logging.getLogger("tunedeck.export")


class ExportError(Exception):
    pass


def export(run_dir: Path, free_bytes: int | None = None, gguf=()) -> dict:
    """Merge and write everything; returns the fields for status.json. Raises ExportError with a one-line reason."""
    from jobs.workspace import Workspace
    ws = Workspace(run_dir.parent.parent)
    spec = read_spec(run_dir) or {}
    adapter = rq.adapter_dir(run_dir)
    if not rq.has_adapter(run_dir):
        raise ExportError(f"job {run_dir.name} has no adapter (adapter/adapter_config.json); nothing to merge")
    base_path = registry.list_models(ws).get(spec.get("base_model"))
    if base_path is None or registry.model_problem(base_path):
        raise ExportError(f"base model {spec.get('base_model')!r} is not a registered, loadable model folder")
    out = rq.export_dir(run_dir)
    quants = rq.normalize_gguf(gguf)
    from . import gguf_export
    gguf_export.clear(run_dir)  # an earlier export's files (or a killed one's .part) are never offered again
    need = rq.merged_size_estimate(Path(base_path)) + rq.gguf_size_estimate(Path(base_path), quants)
    free = shutil.disk_usage(out).free if free_bytes is None else free_bytes
    if free < need:
        what = "the merged model" + (f" and its GGUF files ({', '.join(quants)})" if quants else "")
        raise ExportError(f"not enough disk space for {what}: it needs about {need / 2**20:,.0f} MiB and "
                          f"{free / 2**20:,.0f} MiB are free")
    tools = gguf_export.tools_problem() if quants else None

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from . import ollama_template, serving
    from .model import load_tokenizer

    t0 = time.perf_counter()
    # dtype="auto" keeps the dtype the base was saved in; no quantization_config, so a QLoRA run's adapter is
    # merged into full-precision weights rather than into 4-bit ones.
    full = RunDir(run_dir).is_full  # a full fine-tune's model folder is already the merged model
    base = AutoModelForCausalLM.from_pretrained(RunDir(run_dir).model if full else base_path, dtype="auto")
    dtype = str(base.dtype).replace("torch.", "")
    model = base if full else PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tokenizer = load_tokenizer(RunDir(run_dir).model if full else adapter)
    ref, texts, prompts_from = None, [], None
    if quants and not tools:  # the merged model's own greedy answers, to compare each GGUF's with
        texts, prompts_from = gguf_export.smoke_prompts(run_dir, tokenizer)
        ref = gguf_export.reference_answers(model, tokenizer, texts)
    tmp, final = out / ".merged.tmp", out / rq.MERGED_DIR
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if not any(tmp.glob("*.safetensors")):
        raise ExportError("the merged model was not written as safetensors")
    if final.exists():
        old = out / ".merged.old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, final)  # a half-written merged model is never presented
    del model, base
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    merge_seconds = round(time.perf_counter() - t0, 2)

    params = spec.get("params") or {}
    name = serving.lora_name(spec.get("name", ""), run_dir.name)
    found: dict = {}
    if quants:
        if tools:
            found = {"gguf": [], "gguf_error": tools, "gguf_seconds": {}}
        else:
            found = gguf_export.export_gguf(run_dir, final, name, quants, texts, ref,
                                            step=lambda s: rq.write_export_state(run_dir, step=s))
            found.update(gguf_prompts=prompts_from, transformers_tokens_per_second=ref[M.tokens_per_second],
                         transformers_answers=[tokenizer.decode(a) for a in ref["answers"]])
    pick = gguf_export.chosen(found.get("gguf") or [])
    source = f"./{rq.GGUF_DIR}/{pick['name']}" if pick else f"./{rq.MERGED_DIR}"

    vllm = serving.vllm_command(Path(base_path), adapter.resolve(), name, int(params.get("lora_rank") or 8))
    if full:  # no adapter: vLLM and the snippet serve the run's own model folder
        vllm = f"vllm serve {RunDir(run_dir).model.resolve()}"
    atomic_write_text(out / rq.MODELFILE, ollama_template.modelfile(tokenizer, source))
    atomic_write_text(out / rq.VLLM_SCRIPT, "#!/bin/sh\n# Serve the base model with this run's LoRA adapter (no "
                      f"merge needed):\n{vllm}\n# Or serve the merged model:\n# vllm serve {final.resolve()}\n")
    atomic_write_text(out / rq.PEFT_SNIPPET, serving.peft_snippet(Path(base_path), adapter.resolve()))
    if full:
        atomic_write_text(out / rq.VLLM_SCRIPT, f"#!/bin/sh\n# Serve this run's fully fine-tuned model:\n{vllm}\n")
        atomic_write_text(out / rq.PEFT_SNIPPET, "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
                          f"model = AutoModelForCausalLM.from_pretrained({str(RunDir(run_dir).model.resolve())!r})\n"
                          f"tokenizer = AutoTokenizer.from_pretrained({str(RunDir(run_dir).model.resolve())!r})\n")
    # Atomic writes create their files private (0600); these are for the user and their tools to read and run.
    for f, mode in ((rq.MODELFILE, 0o644), (rq.VLLM_SCRIPT, 0o755), (rq.PEFT_SNIPPET, 0o644)):
        os.chmod(out / f, mode)
    note = None
    if params.get("load_in_4bit"):
        note = (f"Trained with QLoRA on a 4-bit base: the adapter was merged into the base's original {dtype} "
                "weights, not into quantized weights.")
    size = sum(f.stat().st_size for f in final.rglob("*") if f.is_file())
    log.info("merged %s into %s (%s, %.1f MiB) in %.1fs", adapter, final, dtype, size / 2**20, time.perf_counter() - t0)
    return {"merged": str(final.resolve()), "dtype": dtype, "note": note, "size_bytes": size,
            "vllm_command": vllm, "lora_name": name, "base_path": str(base_path), "adapter": str(adapter.resolve()),
            "merge_seconds": merge_seconds, "modelfile_from": source, "step": None, **found,
            "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.export", description="Merge a run's adapter into its base.")
    ap.add_argument("run_dir")
    ap.add_argument("--request", help="the request id this export answers")
    ap.add_argument("--gguf", help=f"GGUF quantizations to write too, comma-separated ({', '.join(rq.GGUF_QUANTS)}); "
                                   "default: those the request asked for")
    args = ap.parse_args(argv)
    logformat.configure()
    run_dir = Path(args.run_dir).resolve()
    if not RunDir(run_dir).spec.is_file():
        print(f"error: {run_dir} has no spec.json; pass a run folder (workspace/runs/<job_id>)", file=sys.stderr)
        return 2
    rq.export_dir(run_dir).mkdir(exist_ok=True)
    try:
        quants = rq.normalize_gguf(args.gguf if args.gguf is not None else
                                   rq.export_state(run_dir).get("gguf_requested"))
    except rq.RequestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import psutil
    me = psutil.Process()
    rq.write_export_state(run_dir, status=rq.ExportStatus.EXPORTING.value, pid=me.pid,
                          pid_create_time=me.create_time(), error=None, gguf_requested=quants, gguf=None,
                          gguf_error=None, step="merge")
    try:
        fields = export(run_dir, gguf=quants)
    except ExportError as e:
        log.error("%s", e)
        rq.write_export_state(run_dir, status=rq.ExportStatus.FAILED.value, error=str(e), finished_at=now_iso())
        return 1
    except Exception as e:  # noqa: BLE001 - any failure ends as a one-line reason, the traceback in export.log
        log.error("export failed\n%s", traceback.format_exc())
        text = (str(e).strip().splitlines() or [""])[0]
        rq.write_export_state(run_dir, status=rq.ExportStatus.FAILED.value, finished_at=now_iso(),
                              error=f"{type(e).__name__}: {text}; see export/export.log")
        return 1
    rq.write_export_state(run_dir, status=rq.ExportStatus.DONE.value, finished_at=now_iso(), **fields)
    return 0


if __name__ == "__main__":
    sys.exit(main())
