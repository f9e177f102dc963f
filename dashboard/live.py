"""Live pages that cost next to nothing while nothing changes.

A page renders once and then follows the workspace change stamp (jobs.changes): a tiny fragment stats a few
files every two seconds and reruns the page only when the stamp moved, the spooler came or went, or one of
the page's own files (a log being written) grew. Reads behind the stamp are cached across browser tabs.
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from jobs.changes import stamp
from jobs.state import spooler_alive

EVERY_SECONDS = 2.0


def _now(ws, extra: tuple) -> tuple:
    sizes = []
    for p in extra:
        try:
            s = os.stat(p)
            sizes.append((s.st_mtime_ns, s.st_size))
        except OSError:
            sizes.append(None)
    return stamp(ws), spooler_alive(ws), tuple(sizes)


def follow(ws, key: str, extra: tuple[Path, ...] = (), only_if=None) -> None:
    """Call at the top of a page: rerun it when the workspace (or a file in `extra`) changes.

    `only_if`, a callable asked after the stamp is taken, keeps a page still when it returns False (Compare
    follows only while one of its jobs is queued or running)."""
    seen = f"_live_{key}"
    st.session_state[seen] = _now(ws, extra)  # taken before the page reads anything, so no change is missed
    if only_if is not None and not only_if():
        return

    @st.fragment(run_every=EVERY_SECONDS)
    def _watch() -> None:
        if _now(ws, extra) != st.session_state.get(seen):
            st.rerun()

    _watch()
