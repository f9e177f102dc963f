"""Token lengths of a dataset's rows under a base model's tokenizer, computed once and kept beside the dataset.

A row is counted as training renders it: through the model's chat template, the whole conversation with the row's
tools (or, for single-turn data, the prompt and the answer; for preference data the longer of the two pairs). Only
the tokenizer is loaded, never the model. The first SAMPLE_ROWS rows are counted, so a huge file costs the same as a
small one; the result says how many rows it covers. Results live in datasets/<name>.tokens.json, one entry per
tokenizer, keyed by the dataset file (size, mtime), its format and columns, and the tokenizer's files.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from functools import lru_cache
from pathlib import Path

from jobs.atomic import atomic_write_json, read_json
from jobs.data import formats
from jobs.data.dataset_scan import head_rows

SAMPLE_ROWS = 2000
KEEP_ENTRIES = 8   # tokenizers remembered per dataset
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json",
                   "config.json", "tokenizer.model", "vocab.json", "merges.txt", "special_tokens_map.json")


def sidecar_path(ds_path: Path) -> Path:
    return Path(ds_path).with_name(Path(ds_path).stem + ".tokens.json")


def model_context(model_path: Path) -> int | None:
    """The model's context length from its config.json (max_position_embeddings), without loading it."""
    cfg = read_json(Path(model_path) / "config.json", {}) or {}
    for c in (cfg, cfg.get("text_config") if isinstance(cfg, dict) else None):
        if isinstance(c, dict) and isinstance(c.get("max_position_embeddings"), int):
            return c["max_position_embeddings"]
    return None


def default_max_seq_length() -> int:
    """max_seq_length's default (jobs.params): rows longer than it are cut by a run that keeps the default."""
    from jobs.params import COMMON_PARAMS  # here, not at the top: jobs.params imports jobs.data
    return next(p.default for p in COMMON_PARAMS if p.name == "max_seq_length")


def _fingerprint(path: Path, names=None) -> list:
    p = Path(path)
    out = []
    for n in names or [p.name]:
        f = p / n if names else p
        try:
            st = f.stat()
            out.append([n, st.st_size, st.st_mtime_ns])
        except OSError:
            continue
    return out


def key(ds_path: Path, fmt: str, columns: tuple, model_path: Path) -> str:
    blob = json.dumps([_fingerprint(ds_path), fmt, list(columns), str(Path(model_path).resolve()),
                       _fingerprint(model_path, TOKENIZER_FILES)])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@lru_cache(maxsize=4)
def _tokenizer(model_path: str, _sig: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path, local_files_only=True)


def _pairs(row: dict, fmt: str, columns: tuple) -> list[tuple[list[dict], list | None]]:
    """The conversations one row trains on: (messages, tools)."""
    if fmt == "preference":
        p = formats.preference(row, {"prompt_input_column": columns[0] if columns else None})
        return [(p["prompt"] + p["chosen"], None), (p["prompt"] + p["rejected"], None)]
    if fmt == "column":
        conv = formats.conversation(row, fmt, {"prompt_input_column": columns[0], "prompt_output_column": columns[1]})
    else:
        conv = formats.conversation(row, fmt)
    return [(conv["messages"], conv["tools"])]


def _length(tok, msgs: list[dict], tools) -> int:
    kw = {"tools": tools} if tools else {}
    return len(tok(tok.apply_chat_template(msgs, tokenize=False, **kw), add_special_tokens=False)["input_ids"])


def last_exchange(msgs: list[dict]) -> list[dict]:
    """The system turn and the last exchange (the last user turn and what follows): what left truncation keeps at
    the least (trainer.chat_data.truncate_left); a row longer than this alone is dropped."""
    system = msgs[:1] if msgs and msgs[0].get("role") == "system" else []
    body = msgs[len(system):]
    starts = [i for i, m in enumerate(body) if m.get("role") == "user" and i > 0]
    return system + body[starts[-1]:] if starts else msgs


def conversation_lengths(ds_path: Path, fmt: str, model_path: Path, limit: int = SAMPLE_ROWS) -> list[list[int]]:
    """Per conversation of the first `limit` rows: [tokens of the whole conversation, tokens of its system turn and
    last exchange], as training renders them with the model's chat template. Rows that do not render are left out."""
    tok = _tokenizer(str(model_path), json.dumps(_fingerprint(model_path, TOKENIZER_FILES)))
    out = []
    for row in head_rows(ds_path, limit):
        try:
            conv = formats.conversation(row, fmt)
            full = _length(tok, conv["messages"], conv["tools"])
            last = _length(tok, last_exchange(conv["messages"]), conv["tools"])
        except Exception:  # noqa: BLE001 - a row the template or format cannot render is not counted
            continue
        out.append([full, last])
    return out


def compute(ds_path: Path, fmt: str, model_path: Path, columns: tuple = (), total_rows: int | None = None) -> dict:
    """{rows, total_rows, sampled, min, median, max, context, over_context, skipped} for the first SAMPLE_ROWS rows.

    `columns`: (prompt column, answer column) for column data. A row that does not render is skipped and counted."""
    tok = _tokenizer(str(model_path), json.dumps(_fingerprint(model_path, TOKENIZER_FILES)))
    lengths, skipped = [], 0
    rows = head_rows(ds_path, SAMPLE_ROWS)
    for row in rows:
        try:
            n = 0
            for msgs, tools in _pairs(row, fmt, columns):
                kw = {"tools": tools} if tools else {}
                text = tok.apply_chat_template(msgs, tokenize=False, **kw)
                n = max(n, len(tok(text, add_special_tokens=False)["input_ids"]))
            lengths.append(n)
        except Exception:  # noqa: BLE001 - a row the template or format cannot render is counted as skipped
            skipped += 1
    context = model_context(model_path)
    total = total_rows if total_rows is not None else len(rows)
    msl = default_max_seq_length()
    out = {"rows": len(lengths), "total_rows": total, "sampled": total > len(rows), "skipped": skipped,
           "context": context, "over_context": sum(n > context for n in lengths) if context else None,
           "max_seq_length": msl, "over_max_seq_length": sum(n > msl for n in lengths),
           "min": min(lengths, default=None), "median": int(statistics.median(lengths)) if lengths else None,
           "max": max(lengths, default=None)}
    return out


def cached(ds_path: Path, fmt: str, model_name: str, model_path: Path, columns: tuple = (),
           total_rows: int | None = None) -> dict:
    """The stats from the sidecar file, else computed now and stored there (atomically; a read-only disk only
    loses the cache)."""
    k = key(ds_path, fmt, columns, model_path)
    side = sidecar_path(ds_path)
    data = read_json(side, {}) or {}
    entries = data.get("entries") if isinstance(data, dict) and isinstance(data.get("entries"), list) else []
    for e in entries:
        if isinstance(e, dict) and e.get("key") == k and isinstance(e.get("stats"), dict):
            return e["stats"]
    stats = dict(compute(ds_path, fmt, model_path, columns, total_rows), model=model_name, format=fmt,
                 columns=list(columns))
    entries = [e for e in entries if isinstance(e, dict) and e.get("model") != model_name][-(KEEP_ENTRIES - 1):]
    try:
        atomic_write_json(side, {"entries": entries + [{"key": k, "model": model_name, "stats": stats}]})
    except OSError:
        pass
    return stats
