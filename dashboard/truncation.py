"""How many dataset rows the form's token caps would cut, from token lengths under the chosen model's tokenizer.

Counted on the first rows of the dataset (at most SAMPLE_ROWS). Column data: on the raw column text (the chat
template adds a few tokens per row, so this is an estimate, and it says so). Conversations (messages, sharegpt):
each rendered whole by the model's chat template against max_seq_length, as training truncates them: a longer one
loses its earliest exchanges, and one whose last exchange alone is longer is dropped."""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from jobs.data.format_check import effective_format

SAMPLE_ROWS = 2000
CONVERSATION_FORMATS = ("messages", "sharegpt")  # rows that train as whole conversations (trainer.data.prepare)


@st.cache_data(max_entries=32, show_spinner=False)
def column_lengths(dataset_path: str, dataset_sig: tuple, model_path: str, columns: tuple[str, ...]) -> dict:
    """{column: [token count per row]} for the first SAMPLE_ROWS rows (a missing value counts 0 tokens)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    texts: dict[str, list[str]] = {c: [] for c in columns}
    with open(dataset_path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(row, dict):
                continue
            for c in columns:
                v = row.get(c)
                texts[c].append(v if isinstance(v, str) else ("" if v is None else json.dumps(v, ensure_ascii=False)))
            if len(texts[columns[0]]) >= SAMPLE_ROWS:
                break
    return {c: [len(ids) for ids in tok(v, add_special_tokens=False)["input_ids"]] if v else [] for c, v in texts.items()}


def estimate(lengths: dict, prompt_col: str | None, answer_col: str | None, params: dict) -> dict | None:
    """{rows, prompt, answer, total, any}: rows sampled and how many each cap (and all caps together) would cut."""
    p = lengths.get(prompt_col) or []
    a = lengths.get(answer_col) or [0] * len(p)
    if not p:
        return None
    mil, mcl, msl = (params.get(k) for k in ("max_input_length", "max_content_length", "max_seq_length"))
    big = 1 << 62
    mil, mcl, msl = (v if isinstance(v, int) else big for v in (mil, mcl, msl))
    cut_p = [x > mil for x in p]
    cut_a = [y > mcl for y in a]
    cut_t = [x + y > msl for x, y in zip(p, a, strict=False)]
    return {"rows": len(p), "prompt": sum(cut_p), "answer": sum(cut_a), "total": sum(cut_t),
            "any": sum(x or y or z for x, y, z in zip(cut_p, cut_a, cut_t, strict=False))}


@st.cache_data(max_entries=32, show_spinner=False)
def conversation_lengths(dataset_path: str, dataset_sig: tuple, model_path: str, fmt: str) -> list:
    """[whole conversation, system turn + last exchange] in tokens, per conversation of the first SAMPLE_ROWS rows."""
    from jobs.data.token_stats import conversation_lengths as count
    return count(Path(dataset_path), fmt, Path(model_path), SAMPLE_ROWS)


def estimate_conversations(lengths: list, params: dict) -> dict | None:
    """{rows, cut, dropped}: conversations that would lose early exchanges, and those dropped, at max_seq_length."""
    msl = params.get("max_seq_length")
    if not lengths or not isinstance(msl, int):
        return None
    dropped = sum(last > msl for _, last in lengths)
    cut = sum(full > msl >= last for full, last in lengths)
    return {"rows": len(lengths), "cut": cut, "dropped": dropped}


def conversation_caption(path: Path, fmt: str, model_path, values: dict, t) -> str | None:
    try:
        s = path.stat()
        lengths = conversation_lengths(str(path), (s.st_mtime_ns, s.st_size), str(model_path), fmt)
    except Exception:  # noqa: BLE001 - an unreadable tokenizer or file: no estimate, the form still works
        return None
    est = estimate_conversations(lengths, values)
    if est is None:
        return None
    if not est["cut"] and not est["dropped"]:
        return t("new.trunc_chat_none", rows=est["rows"], msl=values["max_seq_length"])
    return t("new.trunc_chat_some", cut=est["cut"], dropped=est["dropped"], rows=est["rows"],
             pct=100 * (est["cut"] + est["dropped"]) / est["rows"], msl=values["max_seq_length"])


def caption(ws_datasets: dict, ds_name: str, model_path, values: dict, t) -> str | None:
    """The form's line under the caps, or None when it cannot be counted (no such columns, tokenizer trouble)."""
    path = ws_datasets.get(ds_name)
    if path is None:
        return None
    try:
        fmt = effective_format(values.get("dataset_format"), path)
    except Exception:  # noqa: BLE001 - an unreadable file: no estimate
        return None
    if fmt in CONVERSATION_FORMATS:
        return conversation_caption(path, fmt, model_path, values, t)
    pc, ac = values.get("prompt_input_column"), values.get("prompt_output_column")
    if not pc:
        return None
    cols = tuple(c for c in dict.fromkeys((pc, ac)) if c)
    try:
        s = path.stat()
        lengths = column_lengths(str(path), (s.st_mtime_ns, s.st_size), str(model_path), cols)
    except Exception:  # noqa: BLE001 - an unreadable tokenizer or file: no estimate, the form still works
        return None
    est = estimate(lengths, pc, ac, values)
    if est is None:
        return None
    if not est["any"]:
        return t("new.trunc_none", rows=est["rows"])
    return t("new.trunc_some", n=est["any"], rows=est["rows"], pct=100 * est["any"] / est["rows"],
             prompt=est["prompt"], answer=est["answer"], total=est["total"])
