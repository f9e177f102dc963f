"""Registered base models and datasets. A spec names them; it never carries a path."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from jobs.atomic import atomic_write_json, read_json
from jobs.data import jsonl
from jobs.workspace import Workspace

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
HOW_TO_REGISTER_MODEL = ("register one by putting a Hugging Face model folder in workspace/models/<name>/, "
                         "or by writing workspace/models/<name>.json with {\"path\": \"/abs/path\"} "
                         "(the Base models page does this)")
HOW_TO_REGISTER_DATASET = "upload one on the Datasets page or copy a .jsonl file into workspace/datasets/"


class RegistryError(ValueError):
    pass


class JsonlError(RegistryError):
    """An upload that is not valid JSONL; `errors` holds one "line N: ..." entry per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def valid_name(name: str) -> bool:
    return isinstance(name, str) and bool(NAME_RE.fullmatch(name)) and not name.endswith(".json")


def taken_name(name: str, names) -> str | None:
    """The registered name that `name` clashes with, ignoring case (TINY-DEMO beside tiny-demo would be two models
    on a case-sensitive disk and one on a case-insensitive one, and one name to a reader), or None."""
    low = name.lower()
    return next((n for n in names if n.lower() == low), None)


def model_name_taken(ws: Workspace, name: str) -> str | None:
    """Why `name` cannot be a new model's name because a model of that name (in any case) exists, or None."""
    folder_names = [p.name.removesuffix(".json") for p in ws.models.iterdir() if not p.name.startswith(".")] \
        if ws.models.is_dir() else []
    clash = taken_name(name, [*list_models(ws), *folder_names])
    if clash is None:
        return None
    same = "" if clash == name else f" as {clash!r} (names are compared ignoring case)"
    return f"a model named {name!r} is already registered{same}; choose another name"


# ---------------------------------------------------------------- models
def list_models(ws: Workspace) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if not ws.models.is_dir():
        return out
    for entry in sorted(ws.models.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and (entry / "config.json").exists():
            out[entry.name] = entry
        elif entry.suffix == ".json" and entry.is_file():
            link = read_json(entry, {})
            if isinstance(link, dict) and isinstance(link.get("path"), str):
                out.setdefault(entry.stem, Path(link["path"]))
    return out


def model_problem(path: Path) -> str | None:
    """Why `path` is not a loadable model folder, or None."""
    path = Path(path)
    if not path.is_dir():
        return f"{path} is not a folder"
    cfg = read_json(path / "config.json")
    if not isinstance(cfg, dict):
        return f"{path} has no readable config.json, so it is not a Hugging Face model folder"
    if "model_type" not in cfg:
        return f"{path}/config.json has no model_type"
    weights = list(path.glob("*.safetensors")) + list(path.glob("pytorch_model*.bin"))
    if not weights:
        return f"{path} has no weights (*.safetensors or pytorch_model*.bin)"
    if not any((path / f).exists() for f in ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")):
        return f"{path} has no tokenizer files"
    return None


_model_cache: dict[tuple, dict] = {}


def model_info(path: Path) -> dict:
    """Card facts for a model folder, memoised until the folder or its config.json changes."""
    path = Path(path)
    try:
        key = (str(path), path.stat().st_mtime_ns, (path / "config.json").stat().st_mtime_ns)
    except OSError:
        return _model_info(path)
    if key not in _model_cache:
        _model_cache[key] = _model_info(path)
    return _model_cache[key]


def _model_info(path: Path) -> dict:
    cfg = read_json(path / "config.json", {}) or {}
    tok_cfg = read_json(path / "tokenizer_config.json", {}) or {}
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0
    n_params = None
    for st in path.glob("*.safetensors"):
        n_params = (n_params or 0) + _safetensors_params(st)
    chat = bool(tok_cfg.get("chat_template")) or (path / "chat_template.jinja").exists()
    return {
        "path": str(path),
        "architecture": (cfg.get("architectures") or [cfg.get("model_type", "?")])[0],
        "model_type": cfg.get("model_type"),
        "parameters": n_params,
        "size_bytes": size,
        "context_length": cfg.get("max_position_embeddings"),
        "chat_template": chat,
        "problem": model_problem(path),
    }


def _safetensors_params(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
    except (OSError, ValueError):
        return 0
    total = 0
    for k, v in header.items():
        if k == "__metadata__":
            continue
        c = 1
        for d in v.get("shape", []):
            c *= d
        total += c
    return total


def register_model(ws: Workspace, name: str, path: str | os.PathLike, lineage: dict | None = None) -> Path:
    if not valid_name(name):
        raise RegistryError(f"model name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (max 64)")
    taken = model_name_taken(ws, name)
    if taken:
        raise RegistryError(taken)
    path = Path(path).expanduser().resolve()
    problem = model_problem(path) or loading_problem(path)
    if problem:
        raise RegistryError(problem)
    entry = {"path": str(path), **({"lineage": lineage} if lineage else {})}  # lineage: where a merged model came from
    return atomic_write_json(ws.models / f"{name}.json", entry)


def register_model_from_browser(ws: Workspace, name: str, path: str) -> Path:
    """register_model for a path typed into the dashboard: only folders under the model roots (jobs.models.model_roots);
    outside them the error is the same whether or not the folder exists."""
    from jobs.models.model_roots import outside_roots_message, under_model_roots
    real = under_model_roots(ws, path)
    if real is None:
        raise RegistryError(outside_roots_message(ws))
    return register_model(ws, name, real)


def loading_problem(path: Path) -> str | None:
    """Whether transformers can read the folder's config and tokenizer (weights are read at training time)."""
    try:
        from transformers import AutoConfig, AutoTokenizer
        AutoConfig.from_pretrained(path, local_files_only=True)
        AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means "not loadable", with its reason
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"{path} is not a loadable model: {first}"
    return None


def unregister_model(ws: Workspace, name: str) -> None:
    """Remove the registration. Files outside the workspace are never touched."""
    link = ws.models / f"{name}.json"
    folder = ws.models / name
    if link.is_file():
        link.unlink()
    elif folder.is_symlink():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder)
    else:
        raise RegistryError(f"no model named {name!r} is registered")


# ---------------------------------------------------------------- datasets
def list_datasets(ws: Workspace) -> dict[str, Path]:
    if not ws.datasets.is_dir():
        return {}
    return {p.stem: p for p in sorted(ws.datasets.glob("*.jsonl")) if p.is_file() and not p.name.startswith(".")}


def first_row_keys(path: Path) -> list[str] | None:
    """The keys of the first row, or None when the file cannot be read or its first row is bad."""
    try:
        for _, row in jsonl.scan(path):
            return None if isinstance(row, jsonl.BadLine) else list(row)
    except OSError:
        return None
    return None


def first_row_problem(path: Path) -> str | None:
    """Why the first row gives no columns ("line N: ..."), or None when it does."""
    try:
        for _, row in jsonl.scan(path):
            return str(row) if isinstance(row, jsonl.BadLine) else None
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    return "the file has no rows"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_info_cache: dict[tuple, dict] = {}


def dataset_info(path: Path) -> dict:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _info_cache:
        with open(path, "rb") as fh:
            rows = sum(1 for line in fh if line.strip())
        _info_cache[key] = {"path": str(path), "rows": rows, "columns": first_row_keys(path) or [],
                            "size_bytes": st.st_size, "sha256": sha256_file(path)}
    return _info_cache[key]


@dataclass
class JsonlReport:
    rows: int
    columns: list
    errors: list  # "line N: ..." strings
    format: str = "column"
    stats: dict | None = None


def check_jsonl(data: bytes | IO[bytes], max_errors: int = 20, fmt: str = "auto") -> JsonlReport:
    """UTF-8, every line a JSON object that fits the dataset's format; errors name the true line."""
    from jobs.data.dataset_scan import scan
    rep = scan(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data, fmt, max_errors=max_errors)
    return JsonlReport(rep.rows, rep.columns, rep.errors, rep.format, rep.stats())


def meta_path(ws: Workspace, name: str) -> Path:
    return ws.datasets / f"{name}.meta.json"


def dataset_meta(ws: Workspace, name: str) -> dict:
    """What the upload found (format, detected, turns, roles, tools), and the user's format override."""
    meta = read_json(meta_path(ws, name), {})
    return meta if isinstance(meta, dict) else {}


def set_dataset_format(ws: Workspace, name: str, fmt: str) -> dict:
    """The user's override of the detected format; re-checks every row in that format first."""
    from jobs.data.formats import CHOICES
    if fmt not in CHOICES:
        raise RegistryError(f"dataset format {fmt!r} is not known; allowed: {', '.join(CHOICES)}")
    path = ws.datasets / f"{name}.jsonl"
    with open(path, "rb") as fh:
        report = check_jsonl(fh, fmt=fmt)
    if report.errors:
        raise JsonlError(report.errors)
    meta = dict(report.stats or {}, override=None if fmt == "auto" else fmt)
    atomic_write_json(meta_path(ws, name), meta)
    return meta


def register_dataset(ws: Workspace, name: str, data: bytes | IO[bytes], overwrite: bool = False,
                     fmt: str = "auto") -> JsonlReport:
    """Check the upload and write it as workspace/datasets/<name>.jsonl; returns the check's report.

    `data` may be bytes or a binary file object: it is streamed line by line into a temporary file beside the
    target and renamed into place only when every line passed, so memory stays bounded for any file size.
    """
    from jobs.data.dataset_scan import scan
    from jobs.data.formats import CHOICES
    if not valid_name(name):
        raise RegistryError(f"dataset name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (max 64)")
    if fmt not in CHOICES:
        raise RegistryError(f"dataset format {fmt!r} is not known; allowed: {', '.join(CHOICES)}")
    target = ws.datasets / f"{name}.jsonl"
    if target.exists() and not overwrite:
        raise RegistryError(f"a dataset named {name!r} already exists")
    clash = taken_name(name, [n for n in list_datasets(ws) if n != name])
    if clash is not None:
        raise RegistryError(f"a dataset named {clash!r} already exists (names are compared ignoring case); "
                            "choose another name")
    ws.datasets.mkdir(parents=True, exist_ok=True)
    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    fd, tmp = tempfile.mkstemp(dir=ws.datasets, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as sink:
            rep = scan(src, fmt, sink=sink)
            if rep.errors:
                raise JsonlError(rep.errors)
            sink.flush()
            os.fsync(sink.fileno())
        report = JsonlReport(rep.rows, rep.columns, rep.errors, rep.format, rep.stats())
        atomic_write_json(meta_path(ws, name), dict(report.stats, override=None if fmt == "auto" else fmt))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


def unregister_dataset(ws: Workspace, name: str) -> None:
    path = ws.datasets / f"{name}.jsonl"
    if not path.is_file():
        raise RegistryError(f"no dataset named {name!r} is registered")
    path.unlink()
    meta_path(ws, name).unlink(missing_ok=True)
    path.with_name(f"{name}.tokens.json").unlink(missing_ok=True)  # jobs.data.token_stats' cache
