"""Methods (/methods): built-in and custom methods with their declared params; the custom-method template."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.common import workspace
from dashboard.i18n import method_description, param_help, reward_help, t
from dashboard.i18n_params import limits_text
from dashboard.safe import md
from jobs.methods import list_methods, list_rewards

TEMPLATE = Path(__file__).resolve().parents[2] / "jobs" / "templates" / "custom_method.py"


def spec_value(value) -> str:
    """A default as a JSON spec spells it (null, ["a", "b"]), never as a Python repr (None, ['a', 'b'])."""
    return json.dumps(value, ensure_ascii=False)

def traits_text(m) -> str:
    """The declaration's traits in a line: data formats, output, evaluation headline, reference model."""
    head = m.headline[0] if m.headline else "—"
    better = m.all_metrics.get(head, "higher")
    return t("methods.traits", formats=", ".join(m.formats), output=t(f"methods.output.{m.output}"),
             headline=head, better=t("evalm.higher") if better == "higher" else t("evalm.lower"),
             reference=t("methods.ref.base") if m.reference_model else t("methods.ref.none"))



def render() -> None:
    ws = workspace()
    st.title(t("methods.title"))
    st.download_button(t("methods.template"), TEMPLATE.read_text(), file_name="custom_method.py", key="tpl")
    st.caption(t("methods.howto", path=str(ws.methods)))
    for name, m in list_methods(ws.methods).items():
        kind = t("methods.builtin") if m.builtin else t("methods.custom")
        with st.container(border=True):
            st.subheader(f"{md(name, one_line=True)} · {kind}")
            if not m.ok:
                st.error(md(m.error))
                continue
            st.markdown(md(method_description(m)))
            st.caption(traits_text(m))
            if m.params:
                st.dataframe(pd.DataFrame([{t("details.param"): p.name, t("methods.type"): p.type,
                                            t("methods.default"): spec_value(p.default), t("methods.limits"): limits_text(p),
                                            t("methods.help"): param_help(p)} for p in m.params]),
                             hide_index=True, width="stretch")
            if m.default_columns:
                st.caption(t("methods.defaults") + ": " + md(", ".join(f"{k}={v}" for k, v in m.default_columns.items())))
    rewards = list_rewards(ws.methods)
    st.subheader(t("methods.rewards"))
    st.dataframe(pd.DataFrame([{t("methods.name"): k,
                                t("methods.source"): t("methods.builtin") if isinstance(v, str) else t("methods.custom"),
                                t("methods.help"): reward_help(k, v)}
                               for k, v in rewards.items()]), hide_index=True, width="stretch")


if __name__ == "__main__":
    render()

