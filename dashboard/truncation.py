"""How many dataset rows the form's token caps would cut, from token lengths under the chosen model's tokenizer.

Counted on the first rows of the dataset (at most SAMPLE_ROWS), on the raw column text: the chat template
adds a few tokens per row, so this is an estimate, and it says so."""
from __future__ import annotations

import json

import streamlit as st

SAMPLE_ROWS = 2000


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


def caption(ws_datasets: dict, ds_name: str, model_path, values: dict, t) -> str | None:
    """The form's line under the caps, or None when it cannot be counted (no such columns, tokenizer trouble)."""
    path = ws_datasets.get(ds_name)
    pc, ac = values.get("prompt_input_column"), values.get("prompt_output_column")
    if path is None or not pc:
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
