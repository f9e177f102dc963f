"""Datasets (/datasets): upload with validation, preview, columns, row count, token lengths (counted at upload
under the default model's tokenizer, cached beside the dataset), delete."""
from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import token_panel
from dashboard.common import workspace
from dashboard.i18n import t, t_text
from dashboard.safe import md
from jobs.data import formats, jsonl
from jobs.data.dataset_scan import head_rows
from jobs.data.format_check import effective_format
from jobs.models import registry

REGISTERED = "_ds_registered"  # session: the upload just registered (file id, name, rows, format)
UPLOAD_OPEN = "_ds_upload_open"  # session: whether the upload form starts open


def render() -> None:
    ws = workspace()
    st.title(t("datasets.title"))
    # open on an empty workspace; decided once a session, since Streamlit folds an expander whose `expanded`
    # changes: the form would close under the user after the first upload
    if UPLOAD_OPEN not in st.session_state:  # setdefault would scan datasets/ on every rerun for nothing
        st.session_state[UPLOAD_OPEN] = not registry.list_datasets(ws)
    with st.expander(t("datasets.upload"), expanded=st.session_state[UPLOAD_OPEN]):
        up = st.file_uploader(t("datasets.file"), type=["jsonl"], key="ds_file")
        default = re.sub(r"[^A-Za-z0-9._\-]", "-", up.name.rsplit(".", 1)[0]) if up else ""
        name = st.text_input(t("datasets.name"), value=default, key=f"ds_name_{default}")
        fmt = st.selectbox(t("datasets.format"), formats.CHOICES, key="ds_format", format_func=_format_label)
        done = st.session_state.get(REGISTERED)
        if up is None or (done and done["file_id"] != up.file_id):
            done = st.session_state[REGISTERED] = None  # another file: the last confirmation is over
        if up is not None and st.button(t("datasets.register"), type="primary", key="ds_register") and \
                not (done and done["name"] == name):  # a repeated click on the same file registers it once
            try:
                up.seek(0)
                report = registry.register_dataset(ws, name, up, fmt=fmt)  # streamed line by line
                done = st.session_state[REGISTERED] = {"file_id": up.file_id, "name": name, "rows": report.rows,
                                                       "format": report.format}
            except registry.JsonlError as e:
                st.error(t("datasets.invalid") + "\n\n" + "\n".join(f"- {md(err, one_line=True)}" for err in e.errors))
            except registry.RegistryError as e:
                st.error(md(e))
        if done:  # kept across reruns while the file stays chosen, so the confirmation does not flash by
            _registered(ws, done)
    sets = registry.list_datasets(ws)
    if not sets:
        st.info(t("datasets.none"))
        return
    for name, path in sets.items():
        try:
            info = registry.dataset_info(path)
        except OSError as e:
            st.error(md(f"{name}: {e}"))
            continue
        meta = registry.dataset_meta(ws, name)
        fmt = meta.get("format") or effective_format("auto", path)
        with st.expander(f"**{md(name)}** — `{fmt}` · {info['rows']} {t('datasets.rows')} · "
                         f"{md(column_summary(info['columns']), one_line=True)}"):
            format_panel(ws, name, path, meta, fmt, info)
            st.caption(f"{md(path)} · {info['size_bytes'] / 1024:.1f} KiB · sha256 {info['sha256'][:16]}")
            shown = shown_columns(name, info["columns"])
            if fmt in CHAT_FORMATS:
                conversations(path, fmt)
            else:
                st.dataframe(preview(path, columns=shown), hide_index=True, width="stretch")
            models = registry.list_models(ws)
            if models and info["columns"]:
                c1, c2 = st.columns(2)
                default = token_panel.default_model(ws, list(models))
                model = c1.selectbox(t("datasets.tokenizer"), list(models), key=f"tok_{name}",
                                     index=list(models).index(default))
                token_panel.show(path, fmt, model, models[model], info)
                chat = fmt in ("messages", "sharegpt") or (fmt == "alpaca" and "history" in info["columns"])
                col = None if chat else c2.selectbox(t("datasets.column"), shown, key=f"col_{name}")
                if st.button(t("datasets.histogram"), key=f"hist_{name}"):
                    lengths = (conversation_lengths(str(path), str(models[model]), fmt) if chat
                               else token_lengths(str(path), str(models[model]), col))
                    chart = alt.Chart(pd.DataFrame({"tokens": lengths})).mark_bar().encode(
                        x=alt.X("tokens:Q", bin=alt.Bin(maxbins=40)), y="count()")
                    st.altair_chart(chart, width="stretch")
                    st.caption(t("datasets.hist_stats", n=len(lengths), max=max(lengths) if lengths else 0,
                                 mean=sum(lengths) / max(len(lengths), 1)))
            if st.toggle(t("action.delete"), key=f"del_{name}"):
                st.warning(t("datasets.delete_confirm", name=name))
                if st.button(t("delete.yes"), key=f"del_yes_{name}"):
                    registry.unregister_dataset(ws, name)
                    st.rerun()


def _registered(ws, done: dict) -> None:
    """The upload's confirmation and its token lengths, counted under the model new trainings start on."""
    path = registry.list_datasets(ws).get(done["name"])
    if path is None:  # deleted since: nothing to confirm any more
        st.session_state[REGISTERED] = None
        return
    st.success(t("datasets.registered", name=done["name"], rows=done["rows"]))
    models = registry.list_models(ws)
    model = token_panel.default_model(ws, list(models))
    if model:
        token_panel.show(path, done["format"], model, models[model], registry.dataset_info(path))


def _format_label(fmt: str) -> str:
    return t("datasets.format_auto") if fmt == "auto" else fmt


def format_panel(ws, name: str, path, meta: dict, fmt: str, info: dict) -> None:
    """The format badge (detected or overridden), what the upload found, and the override."""
    c1, c2 = st.columns([2, 1])
    with c1:
        overridden = bool(meta.get("override"))
        st.badge(f"{t('datasets.format')}: {fmt}" + ("" if overridden else f" ({t('datasets.format_detected')})"),
                 color="orange" if overridden else "blue")
        turns = meta.get("turns")
        if turns:
            roles = ", ".join(f"{r} {n}" for r, n in (meta.get("roles") or {}).items())
            st.caption(t("datasets.stats", min=turns["min"], median=turns["median"], max=turns["max"], roles=roles,
                         tools=meta.get("tool_rows", 0)))
        else:
            st.caption(t("datasets.no_turns", columns=column_summary(info["columns"])))
    current = meta.get("override") or "auto"
    choice = c2.selectbox(t("datasets.format_override"), formats.CHOICES, index=formats.CHOICES.index(current),
                          key=f"fmt_{name}", format_func=_format_label)
    if choice != current:
        try:
            registry.set_dataset_format(ws, name, choice)
            st.success(t("datasets.format_saved", fmt=choice))
            st.rerun()
        except registry.JsonlError as e:
            st.error(t("datasets.invalid") + "\n\n" + "\n".join(f"- {err}" for err in e.errors))


CHAT_FORMATS = ("messages", "sharegpt")
NAMED_COLUMNS = 8  # columns named in a dataset's one-line summary
SHOWN_COLUMNS = 40  # columns in the preview table and the column picker; a search finds the others


def column_summary(columns: list[str]) -> str:
    """"a, b, c" for a few columns; the first few and how many more for a wide dataset (100,000 columns once froze
    the page: every name went into a label)."""
    head = ", ".join(columns[:NAMED_COLUMNS])
    more = len(columns) - NAMED_COLUMNS
    return head + (" " + t_text("datasets.columns_more", n=f"{more:,}") if more > 0 else "")  # shown through md()


def shown_columns(name: str, columns: list[str]) -> list[str]:
    """The columns the preview shows: all of them when there are few, else the first SHOWN_COLUMNS that match a
    search box, with a line saying how many there are."""
    if len(columns) <= SHOWN_COLUMNS:
        return columns
    q = st.text_input(t("datasets.column_search", n=f"{len(columns):,}"), key=f"colq_{name}").strip().lower()
    matching = [c for c in columns if q in c.lower()] if q else columns
    shown = matching[:SHOWN_COLUMNS]
    if q:
        st.caption(t("datasets.columns_match", shown=len(shown), n=f"{len(columns):,}", q=q))
    else:
        st.caption(t("datasets.columns_shown", shown=len(shown), n=f"{len(columns):,}"))
    return shown


def preview(path, n: int = 10, columns: list[str] | None = None) -> pd.DataFrame:
    rows = []
    keep = None if columns is None else list(columns)
    for _, row in jsonl.scan(path):  # a bad line shows its reason, with its true line number
        if isinstance(row, jsonl.BadLine):
            rows.append({"(invalid line)": str(row)})
        else:
            keys = row if keep is None else [k for k in keep if k in row]
            rows.append({k: (row[k] if isinstance(row[k], str) else json.dumps(row[k], ensure_ascii=False))
                         for k in keys})
        if len(rows) >= n:
            break
    return pd.DataFrame(rows)


def conversation_text(row, fmt: str) -> str:
    """A chat row as a person reads it: one "role: text" block per turn (the row's JSON when it is not a
    conversation this format can read)."""
    try:
        conv = formats.conversation(row, fmt)
    except Exception:  # noqa: BLE001 - a row the format cannot read is shown as it is
        return json.dumps(row, ensure_ascii=False, indent=1)
    turns = []
    for m in conv["messages"]:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if m.get("tool_calls"):
            text += ("\n" if text else "") + json.dumps(m["tool_calls"], ensure_ascii=False)
        turns.append(f"{m.get('role', '?')}: {text}")
    if conv.get("tools"):
        names = [str((x.get("function") or x).get("name", "?")) for x in conv["tools"] if isinstance(x, dict)]
        turns.insert(0, "tools: " + ", ".join(names))
    return "\n".join(turns)


def conversations(path, fmt: str, n: int = 5) -> None:
    """The first rows of a chat dataset, each as its turns."""
    for i, (_, row) in enumerate(jsonl.scan(path)):
        if i >= n:
            break
        with st.container(border=True):
            st.caption(t("datasets.conversation", n=i + 1))
            st.text(str(row) if isinstance(row, jsonl.BadLine) else conversation_text(row, fmt))


@st.cache_data(max_entries=32, show_spinner=True)
def token_lengths(path: str, model_path: str, column: str, limit: int = 5000) -> list[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    texts = []
    for row in jsonl.rows(path, limit=limit):
        v = row.get(column)
        texts.append(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []


@st.cache_data(max_entries=32, show_spinner=True)
def conversation_lengths(path: str, model_path: str, fmt: str, limit: int = 2000) -> list[int]:
    """Tokens per whole conversation as the model's chat template renders it (with the row's tools)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    out = []
    for row in head_rows(path, limit):
        try:
            conv = formats.conversation(row, fmt)
            kw = {"tools": conv["tools"]} if conv["tools"] else {}
            out.append(len(tok.apply_chat_template(conv["messages"], tokenize=True, return_dict=True, **kw)["input_ids"]))
        except Exception:  # noqa: BLE001 - a row or template that cannot render is left out of the histogram
            continue
    return out


if __name__ == "__main__":
    render()
