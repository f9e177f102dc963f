"""The base model's answers and scores, cached per base model + held-out rows + settings.

The base model does not change between runs, so copies of a job (and sweeps over training params) reuse its
evaluation and sample answers instead of recomputing them. Keys hash the model folder's file names, sizes and
times, the exact held-out rows with their prompt conversations (system prompt, earlier turns, tools: a changed
system_prompt is a new key) and the decoding settings; entries live in workspace/cache/<kind>/<key>.json.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from jobs.atomic import atomic_write_json, read_json
from jobs.evaluation import CACHE_DIR

log = logging.getLogger("tunedeck.cache")


def model_fingerprint(model_path: Path) -> list:
    """Identifies the model's files without reading gigabytes of weights."""
    root = Path(model_path)
    out = []
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if p.is_file():
            st = p.stat()
            out.append([p.name, st.st_size, st.st_mtime_ns])
    return [str(root.resolve()), out]


def key(model_path: Path, load_in_4bit: bool, parts: dict) -> str:
    blob = json.dumps({"model": model_fingerprint(model_path), "4bit": bool(load_in_4bit), **parts},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _path(home: Path, kind: str, k: str) -> Path:
    return Path(home) / CACHE_DIR / kind / f"{k}.json"


def load(home: Path, kind: str, k: str):
    data = read_json(_path(home, kind, k))
    if isinstance(data, dict) and data.get("key") == k:
        log.info("base-model %s reused from the cache (%s)", kind, k[:12])
        return data.get("value")
    return None


def store(home: Path, kind: str, k: str, value) -> None:
    path = _path(home, kind, k)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"key": k, "value": value})
    except OSError as e:  # the cache is an optimisation: a read-only or full disk must not fail the run
        log.warning("could not cache the base-model %s: %s", kind, e)
