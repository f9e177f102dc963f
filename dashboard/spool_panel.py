"""Trainings: specs that are not runs yet. Those waiting in incoming/ for the spooler, and recent rejections."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from jobs.queue.spool_view import dismiss, rejections, waiting_specs

from .i18n import current_lang, t
from .i18n_validation import tr_message
from .times import local

# A validator problem as the spooler writes it: "params.learning_rate: <message> (got 5)".
_PROBLEM = re.compile(r"^(?P<field>[^\s:]+): (?P<message>.*?)(?P<got> \(got .*\))?$")


# The spooler's own reasons (spooler/pickup.py), in Chinese; "{}" stands for a value.
SPOOL_ZH = [
    ("could not be processed: {}", "无法处理：{}"),
    ("a {} file name is not a spec: name the file <something>.json, without a leading '.' (files in flight are left "
     "alone while they change)",
     "{}的文件名不是任务描述：请命名为 <名称>.json，不要以“.”开头（正在写入的文件在变化期间不会被处理）"),
    ("symlinks are not accepted; copy the spec file into incoming/ instead", "不接受符号链接；请把任务描述文件复制到 incoming/"),
    ("a folder is not a spec; put one JSON file per job in incoming/",
     "文件夹不是任务描述；请在 incoming/ 中为每个任务放一个 JSON 文件"),
    ("not a regular file", "不是普通文件"),
    ("only *.json spec files belong in incoming/", "incoming/ 中只能放 *.json 任务描述文件"),
    ("the file name has characters other than letters, digits, '.', '_' and '-'",
     "文件名含有字母、数字、“.”、“_”和“-”以外的字符"),
    ("the file is {} bytes; a spec may be at most 1 MiB", "文件大小为 {} 字节；任务描述最大为 1 MiB"),
    ("the file is empty", "文件为空"),
    ("the spec has {} problem(s); they are not quoted because the file belongs to another user: check it with "
     "python -m jobs validate", "任务描述有 {} 个问题；由于文件属于其他用户，不在此引用：请用 python -m jobs validate 检查"),
]
_SPOOL = [(re.compile("(.*?)".join(re.escape(p) for p in en.split("{}")) + r"\Z", re.S), zh) for en, zh in SPOOL_ZH]


def _spool_zh(line: str) -> str:
    if current_lang() != "zh":
        return line
    for pattern, zh in _SPOOL:
        m = pattern.match(line)
        if m:
            return zh.format(*m.groups())
    return line


def reason_text(reason: str) -> str:
    """A rejection's reason in the viewer's language, line by line (English where no template matches)."""
    out = []
    for line in reason.splitlines():
        whole = _spool_zh(tr_message(line))
        if whole != line:
            out.append(whole)
            continue
        m = _PROBLEM.match(line)
        message = tr_message(m.group("message")) if m else line
        if m and message != m.group("message"):
            got = m.group("got") or ""
            out.append(f"{m.group('field')}: {message}" + (got.replace(" (got ", "（实际为 ", 1)[:-1] + "）" if got else ""))
        else:
            out.append(line)
    return "\n".join(out)


def _when(mtime: float) -> str:
    return local(datetime.fromtimestamp(mtime, UTC).isoformat())


def spool_panel(ws) -> list[dict]:
    """Draws both sections when they have entries; returns the waiting specs."""
    with st.container():  # always there, so the job table below keeps its place (and its ticks) when these come and go
        return _sections(ws)


def _sections(ws) -> list[dict]:
    waiting = waiting_specs(ws)
    if waiting:
        st.subheader(t("spool.waiting", n=len(waiting)))
        st.caption(t("spool.waiting_help"))
        st.dataframe(pd.DataFrame([{t("col.name"): w["name"], t("col.status"): "⏳ " + t("status.waiting"),
                                    t("spool.file"): w["file"], t("spool.time"): _when(w["mtime"])} for w in waiting]),
                     hide_index=True, width="stretch", key="waiting_table")
    rejected = rejections(ws)
    if rejected:
        with st.expander("⚠️ " + t("spool.rejected", n=len(rejected)), expanded=False):
            for r in rejected:  # the whole reason, every line, as text (a table cell cut it off mid-sentence)
                with st.container(border=True):
                    st.caption(t("spool.reason_lines", file=r["file"], time=_when(r["mtime"])))
                    st.text(reason_text(r["reason"]))
            st.button(t("spool.dismiss_all"), key="btn_dismiss_rejected", on_click=dismiss,
                      args=(ws, [r["file"] for r in rejected]))
    return waiting
