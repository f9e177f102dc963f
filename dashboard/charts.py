"""Altair charts for metrics: one job or many overlaid, EMA-smoothed with the raw curve faint behind."""
from __future__ import annotations

import altair as alt
import pandas as pd

from jobs.metrics import charted, smoothed

from .common import downsample, ema

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
PLOT_HEIGHT = 220


def metric_names(df: pd.DataFrame) -> list[str]:
    """The metrics to chart, in the order jobs.metrics declares them, then per-function rewards."""
    return charted([c for c in df.columns if df[c].notna().any()])


def series(df: pd.DataFrame, metric: str, x: str, smooth: float) -> pd.DataFrame:
    if metric not in df or x not in df:
        return pd.DataFrame(columns=["x", "raw", "smooth"])
    s = df[[x, metric]].dropna()
    s = downsample(s)
    out = pd.DataFrame({"x": s[x].to_numpy(), "raw": s[metric].to_numpy()})
    out["smooth"] = ema(out["raw"], smooth if smoothed(metric) else 0).to_numpy()
    return out


def overlay(frames: dict[str, pd.DataFrame], metric: str, x: str, smooth: float, colors: dict[str, str],
            log_scale: bool = False, height: int = PLOT_HEIGHT) -> alt.Chart | None:
    """frames: label -> metrics DataFrame. One line per label; raw faint, smoothed solid.

    `height` is the plot itself; the title and a legend with one full line per job come on top of it."""
    parts = []
    for label, df in frames.items():
        s = series(df, metric, x, smooth)
        if len(s):
            s["job"] = label
            parts.append(s)
    if not parts:
        return None
    data = pd.concat(parts, ignore_index=True)
    scale = alt.Scale(type="log") if log_scale and (data["raw"] > 0).all() else alt.Scale(zero=False)
    many = len(frames) > 1
    legend = alt.Legend(orient="bottom", direction="vertical", title=None, labelLimit=0, symbolType="stroke") if many \
        else None
    color = alt.Color("job:N", scale=alt.Scale(domain=list(colors), range=[colors[k] for k in colors]), legend=legend)
    base = alt.Chart(data).encode(x=alt.X("x:Q", title=x), color=color)
    # "~g": a flat series (constant grad_norm or learning rate) reads "1000", not "1,000.000000".
    axis = alt.Axis(format="~g")
    raw = base.mark_line(opacity=0.25, strokeWidth=1).encode(y=alt.Y("raw:Q", title=metric, scale=scale, axis=axis))
    smooth_line = base.mark_line(strokeWidth=2).encode(y=alt.Y("smooth:Q", title=metric, scale=scale, axis=axis),
                                                      tooltip=["job:N", "x:Q", "raw:Q", "smooth:Q"])
    layers = [raw, smooth_line] if smooth > 0 else [smooth_line]
    # Streamlit fits the whole chart (title, axes, legend) into `height`: add room for them, so the plot keeps its size.
    total = height + 70 + (18 * len(parts) if many else 0)
    return alt.layer(*layers).properties(
        title=alt.TitleParams(metric, fontSize=14, offset=6), height=total,
        padding={"left": 5, "right": 10, "top": 10, "bottom": 5})
