"""The New training form's "Several values" section: numeric and choice params take a comma list or min/max/steps,
and the form submits one sweep (the spooler expands it, with the same names and limits as a spec file)."""
from __future__ import annotations

import json
import math

import streamlit as st

from dashboard.i18n import t
from jobs.queue.sweep import fmt_value, group_of


def sweepable(decl) -> list:
    return [p for p in decl if (p.type in ("int", "float", "bool") or p.choices) and not (p.column or p.optional_column)]


def parse_list(text: str) -> list:
    """'2e-4, 1e-4' -> [0.0002, 0.0001]; words stay strings (choices), true/false become booleans."""
    out = []
    for part in (x.strip() for x in (text or "").split(",")):
        if not part:
            continue
        try:
            out.append(json.loads(part.lower() if part.lower() in ("true", "false", "null") else part))
        except ValueError:
            out.append(part)
    return out


def spaced(lo: float, hi: float, steps: int, log: bool, integer: bool) -> list:
    """`steps` values from lo to hi, evenly or log-spaced; integers are rounded and deduplicated."""
    steps = max(2, int(steps))
    if log and lo > 0 and hi > 0:
        vals = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (steps - 1)) for i in range(steps)]
    else:
        vals = [lo + (hi - lo) * i / (steps - 1) for i in range(steps)]
    if integer:
        return list(dict.fromkeys(int(round(v)) for v in vals))
    return [float(f"{v:.3g}") for v in vals]


def section(decl) -> dict | None:
    """The widgets; returns the "sweep" object for the spec, or None when nothing is swept."""
    params = {p.name: p for p in sweepable(decl)}
    box = st.expander(t("sweep.title"), expanded=bool(st.session_state.get("sw_params")))
    if [k for k in st.session_state.get("sw_params", []) if k not in params]:  # another method: drop unknown ones
        st.session_state["sw_params"] = [k for k in st.session_state["sw_params"] if k in params]
    chosen = box.multiselect(t("sweep.params"), list(params), key="sw_params")
    sweep = {}
    for name in chosen:
        p = params[name]
        c = box.columns([1, 2, 1, 1, 1])
        numeric = p.type in ("int", "float") and not p.choices
        how = c[0].radio(t("sweep.how"), ["list", "range"] if numeric else ["list"], key=f"sw_how_{name}",
                         format_func=lambda k, tr=t: tr(f"sweep.how.{k}"), horizontal=False)
        if how == "list":
            sweep[name] = parse_list(c[1].text_input(t("sweep.values", param=p.label), key=f"sw_vals_{name}",
                                                     placeholder=_placeholder(p)))
            continue
        lo = c[1].number_input(t("sweep.min", param=p.label), key=f"sw_min_{name}", format="%g",
                               value=float(p.min if p.min is not None and not p.min_exclusive else (p.default or 1)))
        hi = c[2].number_input(t("sweep.max", param=p.label), key=f"sw_max_{name}", format="%g",
                               value=float(p.default or 1) * 10)
        n = c[3].number_input(t("sweep.steps", param=p.label), min_value=2, max_value=64, value=3, step=1,
                              key=f"sw_steps_{name}")
        log = c[4].toggle(t("sweep.log", param=p.label), key=f"sw_log_{name}", value=p.type == "float")
        sweep[name] = spaced(float(lo), float(hi), int(n), log, p.type == "int")
    return sweep or None


def _placeholder(p) -> str:
    if p.choices:
        return ", ".join(map(str, p.choices[:3]))
    if p.type == "bool":
        return "true, false"
    return "2e-4, 1e-4, 5e-5" if p.type == "float" else "8, 16"


def prefill(stored: dict) -> str | None:
    """Copy training on a group: the swept values go into this section. Returns the group's name."""
    g = group_of(stored)
    if not g:
        return None
    sweep = (g.get("sweep") or {}).get("sweep") or {}
    names = []
    for key, vals in sweep.items():
        name = next((k for k in (stored.get("params") or {}) if k.lower() == str(key).lower()), str(key))
        names.append(name)
        if isinstance(vals, dict):  # a random-mode range becomes min/max/steps in the form
            st.session_state.update({f"sw_how_{name}": "range", f"sw_min_{name}": float(vals.get("min", 0)),
                                     f"sw_max_{name}": float(vals.get("max", 1)), f"sw_log_{name}": bool(vals.get("log"))})
        else:
            st.session_state.update({f"sw_how_{name}": "list",
                                     f"sw_vals_{name}": ", ".join(fmt_value(v) for v in vals)})
    st.session_state["sw_params"] = names
    return g.get("name")
