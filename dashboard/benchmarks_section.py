"""The Base models page's Benchmarks section: the workspace benchmarks, and a JSONL upload that registers one (the
same checks and files as `python -m jobs benchmark add`)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.i18n import t
from dashboard.safe import md
from jobs import benchmarks


def render(ws) -> None:
    st.header(t("bench.section"))
    st.caption(t("bench.how"))
    suites = benchmarks.list_suites(ws)
    if suites:
        st.dataframe(pd.DataFrame([{"name": s.name, "kind": s.kind, "rows": s.rows, "shots": s.few_shot}
                                   for s in suites]), hide_index=True, key="bench_list", column_config={
            "name": t("bench.name"), "kind": t("bench.kind"), "rows": t("bench.rows"), "shots": t("bench.shots")})
    else:
        st.caption(t("bench.none"))
    with st.expander(t("bench.add")):
        up = st.file_uploader(t("bench.file"), type=["jsonl"], key="bench_file")
        c1, c2 = st.columns(2)
        name = c1.text_input(t("bench.name"), key="bench_name")
        kind = c2.selectbox(t("bench.kind"), benchmarks.KINDS, key="bench_kind")
        c1, c2, c3, c4 = st.columns(4)
        q = c1.text_input(t("bench.q"), value="question", key="bench_q")
        c = c2.text_input(t("bench.c"), value="choices", key="bench_c", disabled=kind != "multiple_choice")
        a = c3.text_input(t("bench.a"), value="answer", key="bench_a")
        shots = c4.number_input(t("bench.shots"), min_value=0, max_value=64, value=0, step=1, key="bench_shots")
        if st.button(t("bench.add"), type="primary", key="bench_add", disabled=up is None or not name):
            with tempfile.TemporaryDirectory() as tmp:
                src = Path(tmp) / (Path(up.name).name or "upload.jsonl")
                src.write_bytes(up.getvalue())
                try:
                    benchmarks.add(ws, name.strip(), src, kind, q.strip(), c.strip(), a.strip(), int(shots))
                    st.success(t("bench.added", name=name.strip()))
                except (benchmarks.BenchmarkError, OSError) as e:
                    st.error(md(str(e)))
