"""GGUF export for llama.cpp and Ollama: llama.cpp's own converter and quantizer, then proof that the file answers.

- **Convert.** `convert_hf_to_gguf.py`, with its `conversion/` and `gguf-py/` beside it, comes from llama-cpp-python's
  source distribution (the same llama.cpp the installed `llama_cpp` was built from). `install_converter()`
  (`python -m trainer.gguf_export install-converter`) extracts them once into
  `<venv>/share/tunedeck/llama.cpp-convert-<version>/`; nothing is downloaded while exporting. The converter runs in
  a child process (`python -m trainer.gguf_export convert ...`), so its bundled `gguf` package never meets the one
  transformers uses.
- **Quantize.** q8_0 and q4_k_m are quantized from the f16 file with `llama_cpp.llama_model_quantize`.
- **Smoke check.** Each file is loaded with `llama_cpp.Llama` and answers the run's first sample prompts greedily,
  from the very token ids the merged model was given; the share of the first GGUF_SMOKE_TOKENS greedy tokens that
  equal the merged model's own greedy answer (transformers) goes into export/status.json with the file size, the
  load time and tokens per second.

Every file is written under a hidden temporary name and renamed when complete, so a killed export never leaves a
half-written .gguf where the page looks.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jobs.metrics import M
from jobs.use import requests as rq

log = logging.getLogger("tunedeck.export")

PACKAGE = "llama-cpp-python"
CONVERTER_ENV = "TUNEDECK_LLAMA_CPP_CONVERTER"  # a folder holding convert_hf_to_gguf.py (overrides the default)
CONVERTER = "convert_hf_to_gguf.py"
_KEEP = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")  # under vendor/llama.cpp/ in the sdist
ERROR_MARK = "TUNEDECK_GGUF_ERROR: "  # the converter child's last word when it fails for a known reason
FTYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}


class GGUFError(Exception):
    """A GGUF step that cannot be done; the message is the one-line reason shown to the user."""


# ---------------------------------------------------------------- where llama.cpp's tools are
def llama_cpp_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def converter_dir(version: str | None = None) -> Path:
    if os.environ.get(CONVERTER_ENV):
        return Path(os.environ[CONVERTER_ENV])
    return Path(sys.prefix) / "share" / "tunedeck" / f"llama.cpp-convert-{version or llama_cpp_version()}"


def tools_problem() -> str | None:
    """Why GGUF files cannot be written on this machine (with the command that fixes it), or None."""
    version = llama_cpp_version()
    if version is None:
        return (f"{PACKAGE} is not installed, so GGUF files cannot be written: install it with "
                f"`pip install {PACKAGE}` (a source build of llama.cpp: several minutes), then "
                "`python -m trainer.gguf_export install-converter`")
    if not (converter_dir(version) / CONVERTER).is_file():
        return (f"llama.cpp's converter is not installed in {converter_dir(version)}: run "
                "`python -m trainer.gguf_export install-converter` once")
    return None


def install_converter(sdist: Path | None = None, dest: Path | None = None, timeout: float = 900) -> Path:
    """Extract convert_hf_to_gguf.py, conversion/ and gguf-py/ from llama-cpp-python's sdist of the installed version
    (pip-downloaded unless `sdist` is given) into `dest`. The folder appears complete or not at all."""
    version = llama_cpp_version()
    if version is None and sdist is None:
        raise GGUFError(f"{PACKAGE} is not installed; install it first (pip install {PACKAGE})")
    dest = Path(dest) if dest else converter_dir(version)
    if (dest / CONVERTER).is_file():
        return dest
    with tempfile.TemporaryDirectory(prefix="tunedeck-llama-sdist-") as tmp:
        if sdist is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, f"{PACKAGE}=={version}"]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            found = sorted(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
            if not found:
                last = (res.stderr.strip().splitlines() or ["no source distribution was downloaded"])[-1]
                raise GGUFError(f"pip could not download the {PACKAGE}=={version} source distribution: {last}")
            sdist = found[0]
        build = dest.parent / f".{dest.name}.building"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        try:
            with tarfile.open(sdist) as tar:
                members = []
                for m in tar.getmembers():
                    parts = m.name.split("/vendor/llama.cpp/", 1)
                    if len(parts) == 2 and any(parts[1] == k or (k.endswith("/") and parts[1].startswith(k))
                                               for k in _KEEP) and (m.isfile() or m.isdir()):
                        m.name = parts[1]
                        members.append(m)
                if not any(m.name == CONVERTER for m in members):
                    raise GGUFError(f"{Path(sdist).name} has no vendor/llama.cpp/{CONVERTER}")
                tar.extractall(build, members=members, filter="data")
            shutil.rmtree(dest, ignore_errors=True)
            os.rename(build, dest)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return dest


# ---------------------------------------------------------------- convert (a child process)
def convert(merged: Path, out: Path, outtype: str = "f16", timeout: float = 3600) -> None:
    """Write `out` from the Hugging Face folder `merged` with llama.cpp's converter. Raises GGUFError."""
    problem = tools_problem()
    if problem:
        raise GGUFError(problem)
    tmp = out.parent / f".{out.name}.part"
    tmp.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "trainer.gguf_export", "convert", str(converter_dir()), str(merged), str(tmp), outtype]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise GGUFError(f"llama.cpp's converter did not finish within {timeout:g}s") from None
    for line in res.stderr.splitlines():
        log.info("convert: %s", line)
    if res.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        marked = [ln[len(ERROR_MARK):] for ln in res.stderr.splitlines() if ln.startswith(ERROR_MARK)]
        tail = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        raise GGUFError(marked[-1] if marked else
                        f"llama.cpp's converter failed (exit code {res.returncode}): {tail[-1] if tail else 'no output'}")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


# Pre-tokenizer regexes of tokenizer.json (a Split before a regex-free ByteLevel) that llama.cpp implements, by its
# name for them. transformers 5 gives a Qwen2 tokenizer Qwen2's split whatever tokenizer.json it was built from.
_SPLITS = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen2",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "llama-bpe",
}


def _pretokenizer_from_tokenizer_json(model_dir: Path) -> str | None:
    """llama.cpp's pre-tokenizer name for a BPE tokenizer whose hash the converter does not know (a vocabulary
    trained here, such as tiny-demo's) but whose pre-tokenization llama.cpp implements: plain GPT-2 byte-level, or
    one of the _SPLITS regexes followed by byte-level."""
    path = model_dir / "tokenizer.json"
    pre = (json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}).get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", False):
        return "gpt-2"
    steps = pre.get("pretokenizers") or []
    if pre.get("type") == "Sequence" and len(steps) == 2 and steps[0].get("type") == "Split" \
            and steps[0].get("behavior") == "Isolated" and steps[1].get("type") == "ByteLevel" \
            and not steps[1].get("use_regex", True) and not steps[1].get("add_prefix_space", False):
        return _SPLITS.get((steps[0].get("pattern") or {}).get("Regex"))
    return None


def _convert_child(conv_dir: str, model_dir: str, outfile: str, outtype: str) -> int:
    """Run llama.cpp's convert_hf_to_gguf.py main() on one model. Two things are added around it: an architecture
    it does not support ends with that reason, and a BPE tokenizer whose pre-tokenizer hash it does not know (a
    tokenizer trained here, such as tiny-demo's) is accepted when tokenizer.json says it is plain GPT-2
    byte-level pre-tokenization, which llama.cpp implements as "gpt-2"."""
    import runpy
    sys.path[:0] = [conv_dir, str(Path(conv_dir) / "gguf-py")]  # llama.cpp's own gguf-py, before the installed one
    from conversion import ModelBase, ModelType, get_model_architecture, get_model_class
    from conversion.base import TextModel
    try:
        arch = get_model_architecture(ModelBase.load_hparams(Path(model_dir), False), ModelType.TEXT)
        get_model_class(arch)
    except NotImplementedError:
        print(f"{ERROR_MARK}llama.cpp's converter ({PACKAGE} {llama_cpp_version()}) does not support the "
              f"architecture {arch!r}", file=sys.stderr)
        return 3
    known = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return known(self, tokenizer)
        except NotImplementedError:
            pre = _pretokenizer_from_tokenizer_json(Path(self.dir_model))
            if pre is None:
                print(f"{ERROR_MARK}llama.cpp's converter does not recognise this model's BPE pre-tokenizer "
                      "(tokenizer.json's pre-tokenizer is not one llama.cpp implements)", file=sys.stderr)
                raise
            logging.getLogger("tunedeck").warning("pre-tokenizer hash unknown to llama.cpp; tokenizer.json is plain "
                                                  "GPT-2 byte-level BPE, written as %r", pre)
            return pre

    TextModel.get_vocab_base_pre = get_vocab_base_pre
    sys.argv = [CONVERTER, model_dir, "--outfile", outfile, "--outtype", outtype]
    try:
        runpy.run_path(str(Path(conv_dir) / CONVERTER), run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


# ---------------------------------------------------------------- quantize
def quantize(src: Path, dst: Path, quant: str, threads: int | None = None) -> None:
    """Quantize the f16 GGUF `src` into `dst` with llama.cpp (llama_model_quantize). Raises GGUFError."""
    import ctypes

    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[quant])
    params.nthread = threads or 0
    tmp = dst.parent / f".{dst.name}.part"
    tmp.unlink(missing_ok=True)
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise GGUFError(f"llama.cpp could not quantize {src.name} to {quant} (return code {rc}); see export.log")
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each type the file holds (k-quants fall back to other types where a row is not a
    multiple of 256 values: small models)."""
    from gguf import GGUFReader
    out: dict[str, int] = {}
    for t in GGUFReader(str(path)).tensors:
        out[t.tensor_type.name] = out.get(t.tensor_type.name, 0) + 1
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- smoke check
def threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def smoke_prompts(run_dir: Path, tokenizer, n: int = rq.GGUF_SMOKE_PROMPTS) -> tuple[list[str], str]:
    """The chat-rendered text of the run's first `n` sample prompts (samples.jsonl), and where they came from."""
    from jobs.data import jsonl
    from jobs.rundir import RunDir

    from .generate import chat_text
    from .prompt_context import of_item
    rows = []
    if RunDir(run_dir).samples.is_file():
        rows = [r for r in jsonl.rows(RunDir(run_dir).samples) if isinstance(r, dict) and r.get("prompt")][:n]
    if rows:
        return [chat_text(tokenizer, of_item(r)) for r in rows], RunDir(run_dir).samples.name
    fixed = ["Say hello.", "What is 2+3?", "Name three colors."][:n]
    return [chat_text(tokenizer, p) for p in fixed], "fixed prompts (the run has no sample prompts)"


def reference_answers(model, tokenizer, texts: list[str], max_new: int = rq.GGUF_SMOKE_TOKENS) -> dict:
    """The merged model's greedy answers through transformers: prompt ids, answer ids (end-of-turn not included),
    and its tokens per second on these prompts, one at a time."""
    import torch
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    prompts, answers, secs, n = [], [], 0.0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=max_new, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        secs += time.perf_counter() - t0
        ans = out[0][len(ids):].tolist()
        n += len(ans)
        while ans and ans[-1] in eos:
            ans.pop()
        prompts.append(ids)
        answers.append(ans)
    return {"prompt_ids": prompts, "answers": answers, M.tokens_per_second: round(n / secs, 1) if secs else None}


def match_share(got: list[int], want: list[int]) -> float:
    """Share of the first answer positions where both answers hold the same token; an answer that ended early
    counts its missing positions as different."""
    n = max(len(got), len(want))
    return 1.0 if n == 0 else sum(a == b for a, b in zip(got, want, strict=False)) / n


def smoke(path: Path, texts: list[str], ref: dict, max_new: int = rq.GGUF_SMOKE_TOKENS) -> dict:
    """Load `path` with llama.cpp, answer each prompt greedily from the merged model's prompt ids; the figures for
    status.json."""
    import llama_cpp
    from llama_cpp import Llama
    n_threads = threads()
    longest = max((len(p) for p in ref["prompt_ids"]), default=0)
    t0 = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=max(512, longest + max_new + 8), n_threads=n_threads,
                n_threads_batch=n_threads, seed=0, verbose=False)
    load = time.perf_counter() - t0
    vocab = llm._model.vocab
    shares, answers, texts_out, same_tokens, secs, n = [], [], [], [], 0.0, 0
    for text, ids, want in zip(texts, ref["prompt_ids"], ref["answers"], strict=True):
        same_tokens.append(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == ids)
        got: list[int] = []
        t1 = time.perf_counter()
        for tok in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            n += 1
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                break
            got.append(tok)
            if len(got) >= max_new:
                break
        secs += time.perf_counter() - t1
        shares.append(match_share(got, want))
        answers.append(got)
        texts_out.append(llm.detokenize(got).decode("utf-8", errors="replace").rstrip("\ufffd"))
    llm.close()
    return {"load_seconds": round(load, 3), M.tokens_per_second: round(n / secs, 1) if secs else None,
            "match": round(sum(shares) / len(shares), 4) if shares else None, "match_per_prompt": shares,
            "prompt_tokens_agree": all(same_tokens), "answers": texts_out, "threads": n_threads}


# ---------------------------------------------------------------- the whole GGUF step of an export
def export_gguf(run_dir: Path, merged: Path, name: str, quants: list[str], texts: list[str], ref: dict,
                step: Callable[[str], None] = lambda _s: None) -> dict:
    """Write export/gguf/<name>-<quant>.gguf for each of `quants` (f16 first: the others are quantized from it; an
    f16 that was not asked for is removed at the end), smoke-check each. Returns the status.json fields: `gguf`
    (one entry per quantization), `gguf_error` (why no GGUF was written) and `gguf_seconds` per step."""
    out = rq.export_dir(run_dir) / rq.GGUF_DIR
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    entries: list[dict] = []
    f16 = rq.gguf_file(run_dir, name, "f16")
    step("convert f16")
    t0 = time.perf_counter()
    try:
        convert(merged, f16, "f16")
    except GGUFError as e:
        log.error("GGUF: %s", e)
        return {"gguf": [], "gguf_error": str(e), "gguf_seconds": timings}
    timings["convert"] = round(time.perf_counter() - t0, 2)
    for quant in [q for q in rq.GGUF_QUANTS if q in quants or q == "f16"]:
        path = rq.gguf_file(run_dir, name, quant)
        entry: dict = {"quant": quant, "file": str(path.resolve()), "name": path.name}
        try:
            if quant != "f16":
                step(f"quantize {quant}")
                t0 = time.perf_counter()
                quantize(f16, path, quant, threads())
                timings[f"quantize_{quant}"] = round(time.perf_counter() - t0, 2)
            entry["size_bytes"] = path.stat().st_size
            entry["tensor_types"] = tensor_types(path)
            step(f"smoke check {quant}")
            t0 = time.perf_counter()
            entry.update(smoke(path, texts, ref))
            timings[f"smoke_{quant}"] = round(time.perf_counter() - t0, 2)
            log.info("GGUF %s: %.1f MiB, load %.2fs, %.1f tokens/s, greedy match %.0f%%", quant,
                     entry["size_bytes"] / 2**20, entry["load_seconds"], entry[M.tokens_per_second] or 0,
                     100 * (entry["match"] or 0))
        except GGUFError as e:
            entry["error"] = str(e)
            log.error("GGUF %s: %s", quant, e)
        except Exception as e:  # noqa: BLE001 - llama.cpp refusing a file is that file's failure, not the export's
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            entry["error"] = f"{type(e).__name__}: {first}"
            log.exception("GGUF %s failed", quant)
        if quant in quants:
            entries.append(entry)
    if "f16" not in quants:
        f16.unlink(missing_ok=True)
    return {"gguf": entries, "gguf_error": None, "gguf_seconds": timings}


def clear(run_dir: Path) -> None:
    """Remove the GGUF files of an earlier export, finished or interrupted (hidden .part files included)."""
    shutil.rmtree(rq.export_dir(run_dir) / rq.GGUF_DIR, ignore_errors=True)


def chosen(entries: list[dict]) -> dict | None:
    """The GGUF the Modelfile points at: the first of GGUF_PREFERRED that was written and answered."""
    ok = {e["quant"]: e for e in entries if not e.get("error")}
    return next((ok[q] for q in rq.GGUF_PREFERRED if q in ok), None)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.gguf_export", description="llama.cpp's GGUF tools.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install-converter", help="extract llama.cpp's convert_hf_to_gguf.py from the sdist of the "
                                                 "installed llama-cpp-python (pip-downloaded unless --sdist)")
    i.add_argument("--sdist", type=Path, help="a llama_cpp_python-<version>.tar.gz already on disk")
    i.add_argument("--dest", type=Path, help=f"where to put it (default: {converter_dir()})")
    c = sub.add_parser("convert", help="(internal) run llama.cpp's converter on one model folder")
    c.add_argument("conv_dir")
    c.add_argument("model_dir")
    c.add_argument("outfile")
    c.add_argument("outtype")
    args = ap.parse_args(argv)
    if args.cmd == "convert":
        return _convert_child(args.conv_dir, args.model_dir, args.outfile, args.outtype)
    try:
        where = install_converter(args.sdist, args.dest)
    except (GGUFError, OSError, tarfile.TarError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"llama.cpp's converter is in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
