"""Altair charts for metrics: one job or many overlaid, EMA-smoothed with the raw curve faint behind."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from jobs.metrics import STEP, TOKENS_SEEN, charted, smoothed

from .common import downsample, ema
from .i18n import CATALOGS, EN, current_lang, t_text

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
PLOT_HEIGHT = 220
WHOLE = (STEP, TOKENS_SEEN)  # counted axes: ticks at whole numbers only
ABSURD = 1e15  # no step, token count, loss, rate or reward of a fine-tuning run gets this far from zero
FAR = 1e4  # ...nor this many times the other values' spread away from them
# A label is a number as a person writes it: "50", "0.0002", "1e-7"; never "5e+1" or "2.000000".
LABEL = "format(datum.value, '~g')"


def metric_names(df: pd.DataFrame) -> list[str]:
    """The metrics to chart, in the order jobs.metrics declares them, then per-function rewards."""
    return charted([c for c in df.columns if df[c].notna().any()])


def axis_title(name: str, with_name: bool = False) -> str:
    """A metric or axis column in the viewer's language; `with_name` keeps the column name beside a translation
    (chart titles; an axis title has no room for both)."""
    key = f"axis.{name}"
    shown = CATALOGS.get(current_lang(), EN).get(key)
    if not shown or shown == name:
        return name
    return f"{shown} ({name})" if with_name and current_lang() != "en" else shown


def plausible(values: np.ndarray) -> np.ndarray:
    """Which values may set an axis range: finite, not absurdly large, not far outside the other values."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (np.abs(v) < ABSURD)
    if ok.sum() >= 10:
        lo, hi = np.quantile(v[ok], [0.05, 0.95])
        span = max(hi - lo, abs(lo), abs(hi))
        if span > 0:
            ok &= (v >= lo - FAR * span) & (v <= hi + FAR * span)
    return ok


def series(df: pd.DataFrame, metric: str, x: str, smooth: float) -> pd.DataFrame:
    if metric not in df or x not in df:
        return pd.DataFrame(columns=["x", "raw", "smooth"])
    s = df[[x, metric]].dropna()
    s = downsample(s)
    out = pd.DataFrame({"x": s[x].to_numpy(), "raw": s[metric].to_numpy()})
    out["smooth"] = ema(out["raw"], smooth if smoothed(metric) else 0).to_numpy()
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def overlay(frames: dict[str, pd.DataFrame], metric: str, x: str, smooth: float, colors: dict[str, str],
            log_scale: bool = False, height: int = PLOT_HEIGHT) -> alt.Chart | None:
    """frames: label -> metrics DataFrame. One line per label; raw faint, smoothed solid.

    Values that are not finite or absurd (a step of 1e22, a loss of 1e308) are left out, so they cannot flatten
    every other curve, and the chart's subtitle names them. `height` is the plot itself; the title and a legend
    with one full line per job come on top of it."""
    raw_parts = {label: series(df, metric, x, 0) for label, df in frames.items()}
    raw_parts = {k: v for k, v in raw_parts.items() if len(v)}
    if not raw_parts:
        return None
    pooled = pd.concat(raw_parts.values(), ignore_index=True)
    good_x, good_y = plausible(pooled["x"].to_numpy()), plausible(pooled["raw"].to_numpy())
    ignored, parts, at = [], [], 0
    for label, s in raw_parts.items():
        n = len(s)
        keep = good_x[at:at + n] & good_y[at:at + n]
        at += n
        for bad in s[~keep].head(3).itertuples():
            ignored.append(f"{label}: {x} {_fmt(bad.x)}, {metric} {_fmt(bad.raw)}")
        extra = int((~keep).sum()) - min(3, int((~keep).sum()))
        if extra:
            ignored.append(f"{label}: +{extra}")
        s = s[keep].reset_index(drop=True)
        if not len(s):
            continue
        s["smooth"] = ema(s["raw"], smooth if smoothed(metric) else 0).to_numpy()
        s["job"] = label
        s["single"] = len(s) == 1
        parts.append(s)
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["x", "raw", "smooth", "job", "single"])
    scale = alt.Scale(type="log") if log_scale and (data["raw"] > 0).all() else alt.Scale(zero=False)
    many = len(frames) > 1
    legend = alt.Legend(orient="bottom", direction="vertical", title=None, labelLimit=0, symbolType="stroke") if many \
        else None
    color = alt.Color("job:N", scale=alt.Scale(domain=list(colors), range=[colors[k] for k in colors]), legend=legend)
    x_axis = alt.Axis(format=",d", tickMinStep=1) if x in WHOLE else alt.Axis(labelExpr=LABEL)
    base = alt.Chart(data).encode(x=alt.X("x:Q", title=axis_title(x), axis=x_axis, scale=alt.Scale(zero=False)),
                                  color=color)
    axis = alt.Axis(labelExpr=LABEL)
    y_title = axis_title(metric)
    raw = base.mark_line(opacity=0.25, strokeWidth=1).encode(y=alt.Y("raw:Q", title=y_title, scale=scale, axis=axis))
    smooth_line = base.mark_line(strokeWidth=2).encode(y=alt.Y("smooth:Q", title=y_title, scale=scale, axis=axis),
                                                      tooltip=["job:N", "x:Q", "raw:Q", "smooth:Q"])
    # A run with one logged point has no line to draw: it shows as a dot.
    dots = base.transform_filter(alt.datum.single).mark_point(filled=True, size=60).encode(
        y=alt.Y("raw:Q", title=y_title, scale=scale, axis=axis), tooltip=["job:N", "x:Q", "raw:Q"])
    layers = ([raw, smooth_line] if smooth > 0 else [smooth_line]) + [dots]
    # Streamlit fits the whole chart (title, axes, legend) into `height`: add room for them, so the plot keeps its size.
    note = [t_text("chart.ignored")] + ignored[:4] if ignored else []  # one line each, so none is cut off
    total = height + 70 + (18 * len(parts) if many else 0) + 15 * len(note)
    title = alt.TitleParams(axis_title(metric, with_name=True), fontSize=14, offset=6,
                            **({"subtitle": note, "subtitleColor": "#b45309"} if note else {}))
    return alt.layer(*layers).properties(
        title=title, height=total, padding={"left": 5, "right": 10, "top": 10, "bottom": 5})
