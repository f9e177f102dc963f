"""Datasets (/datasets): upload with validation, preview, columns, row count, token lengths, delete."""
from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd
import streamlit as st

from jobs import jsonl, registry

from dashboard.common import workspace
from dashboard.i18n import t
from dashboard.safe import md


def render() -> None:
    ws = workspace()
    st.title(t("datasets.title"))
    with st.expander(t("datasets.upload"), expanded=not registry.list_datasets(ws)):
        up = st.file_uploader(t("datasets.file"), type=["jsonl"], key="ds_file")
        default = re.sub(r"[^A-Za-z0-9._\-]", "-", up.name.rsplit(".", 1)[0]) if up else ""
        name = st.text_input(t("datasets.name"), value=default, key=f"ds_name_{default}")
        if up is not None and st.button(t("datasets.register"), type="primary", key="ds_register"):
            try:
                report = registry.register_dataset(ws, name, up.getvalue())
                st.success(t("datasets.registered", name=name, rows=report.rows))
            except registry.JsonlError as e:
                st.error(t("datasets.invalid") + "\n\n" + "\n".join(f"- {md(err, one_line=True)}" for err in e.errors))
            except registry.RegistryError as e:
                st.error(md(e))
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
        with st.expander(f"**{md(name)}** — {info['rows']} {t('datasets.rows')} · {md(', '.join(info['columns']), one_line=True)}"):
            st.caption(f"{md(path)} · {info['size_bytes'] / 1024:.1f} KiB · sha256 {info['sha256'][:16]}")
            st.dataframe(preview(path), hide_index=True, width="stretch")
            models = registry.list_models(ws)
            if models and info["columns"]:
                c1, c2 = st.columns(2)
                model = c1.selectbox(t("datasets.tokenizer"), list(models), key=f"tok_{name}")
                col = c2.selectbox(t("datasets.column"), info["columns"], key=f"col_{name}")
                if st.button(t("datasets.histogram"), key=f"hist_{name}"):
                    lengths = token_lengths(str(path), str(models[model]), col)
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


def preview(path, n: int = 10) -> pd.DataFrame:
    rows = []
    for _, row in jsonl.scan(path):  # a bad line shows its reason, with its true line number
        if isinstance(row, jsonl.BadLine):
            rows.append({"(invalid line)": str(row)})
        else:
            rows.append({k: (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in row.items()})
        if len(rows) >= n:
            break
    return pd.DataFrame(rows)


@st.cache_data(max_entries=32, show_spinner=True)
def token_lengths(path: str, model_path: str, column: str, limit: int = 5000) -> list[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    texts = []
    for row in jsonl.rows(path, limit=limit):
        v = row.get(column)
        texts.append(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []


if __name__ == "__main__":
    render()
