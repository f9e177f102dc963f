"""Shared dashboard helpers: the workspace, cached reads keyed on mtime/size, badges, the spooler banner."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from jobs.changes import stamp
from jobs.data import jsonl
from jobs.queue.overview import UNKNOWN, UNREADABLE, job_summary
from jobs.rundir import RunDir
from jobs.state import list_run_dirs, queue_positions, spooler_alive
from jobs.status import JobStatus
from jobs.workspace import Workspace

from .i18n import t, t_text

STATUS_COLORS = {JobStatus.QUEUED: "gray", JobStatus.RUNNING: "blue", JobStatus.SUCCEEDED: "green",
                 JobStatus.FAILED: "red", JobStatus.CANCELLED: "orange", UNKNOWN: "violet", UNREADABLE: "red"}
STATUS_ICONS = {JobStatus.QUEUED: "⏳", JobStatus.RUNNING: "🔵", JobStatus.SUCCEEDED: "🟢", JobStatus.FAILED: "🔴",
                JobStatus.CANCELLED: "🟠", UNKNOWN: "⚪", UNREADABLE: "⛔"}
MAX_POINTS = 2000


def workspace() -> Workspace:
    return Workspace.at(os.environ.get("TUNEDECK_HOME") or None)


def _sig(path: Path) -> tuple:
    try:
        s = path.stat()
        return (s.st_mtime_ns, s.st_size)
    except OSError:
        return (0, 0)


@st.cache_data(max_entries=5000, show_spinner=False)
def _summary_cached(run_dir: str, sig: tuple) -> dict:
    return job_summary(Path(run_dir))


def job_rows(ws: Workspace) -> list[dict]:
    """Every job's row, newest first. Keyed on the workspace change stamp, so while it holds still every
    browser tab gets the rows from one shared cache entry without a single stat of a run folder."""
    return _rows_at(str(ws.home), stamp(ws))


@st.cache_data(max_entries=4, show_spinner=False)
def _rows_at(home: str, changes: tuple) -> list[dict]:
    ws = Workspace(Path(home))
    rows = []
    positions = queue_positions(ws)  # from the daemon's queue.json: positions are not kept in each state.json
    for d in list_run_dirs(ws):
        sig = tuple(_sig(f) for f in RunDir(d).live_files)
        row = _summary_cached(str(d), sig)
        rows.append({**row, "queue_position": positions.get(d.name)} if row.get("status") == JobStatus.QUEUED else row)
    return rows


@st.cache_data(max_entries=200, show_spinner=False)
def _metrics_cached(path: str, sig: tuple) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, on_bad_lines="skip")
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return pd.DataFrame()
    df = df.apply(pd.to_numeric, errors="coerce")
    return df.dropna(subset=["step"]) if "step" in df else pd.DataFrame()


def metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv as numbers; a half-written last line is skipped, never an error."""
    path = RunDir(run_dir).metrics
    return _metrics_cached(str(path), _sig(path))


def read_samples(run_dir: Path) -> list[dict]:
    """samples.jsonl rows; a missing file or a bad line is skipped, never an error."""
    return jsonl.rows(RunDir(run_dir).samples)


def downsample(df: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    if len(df) <= max_points:
        return df
    stride = -(-len(df) // max_points)
    keep = df.iloc[::stride]
    return pd.concat([keep, df.iloc[[-1]]]) if keep.index[-1] != df.index[-1] else keep


def ema(series: pd.Series, alpha: float) -> pd.Series:
    """alpha is the smoothing weight (0 = raw, 0.99 = very smooth), as in TensorBoard."""
    if alpha <= 0:
        return series
    return series.ewm(alpha=1 - alpha, ignore_na=True).mean()


def badge(status: str) -> str:
    return f":{STATUS_COLORS.get(status, 'gray')}-badge[{STATUS_ICONS.get(status, '')} {t('status.' + status)}]"


def fmt_duration(seconds) -> str:
    if seconds is None or pd.isna(seconds):
        return "—"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)  # units in the viewer's language: "37m 54s", "37分54秒"
    return t_text("dur.hm", h=h, m=m) if h else (t_text("dur.ms", m=m, s=s) if m else t_text("dur.s", s=s))


def spooler_banner(ws: Workspace) -> None:
    box = st.container()  # always there, so the elements below keep their place (and a table its ticks) when it changes
    if not spooler_alive(ws):
        box.warning(t("spooler.down"), icon="⚠️")


def fit_height(rows: int) -> int:
    """A dataframe height that shows every row (35 px each, plus the header) without an inner scrollbar."""
    return 35 * (rows + 1) + 3
