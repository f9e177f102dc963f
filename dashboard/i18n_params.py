"""A parameter's allowed values in the viewer's language (the English text comes from the declaration itself)."""
from __future__ import annotations

from jobs.params import _fmt

from .i18n import current_lang


def limits_text(p) -> str:
    if current_lang() != "zh":
        return p.limits_text()
    parts = []
    if p.type in ("int", "float"):
        lo = "" if p.min is None else f"{'>' if p.min_exclusive else '≥'} {_fmt(p.min)}"
        hi = "" if p.max is None else f"{'<' if p.max_exclusive else '≤'} {_fmt(p.max)}"
        rng = " 且 ".join(x for x in (lo, hi) if x)
        parts.append(("整数" if p.type == "int" else "数值") + (f" {rng}" if rng else ""))
        for v in p.extra_allowed:
            parts.append(f"或 {_fmt(v)}")
    elif p.type == "bool":
        parts.append('true 或 false（也接受字符串 "true"/"false"）')
    else:
        parts.append({"str": "字符串", "str_list": "名称列表", "float_list": "数值列表"}.get(p.type, p.type))
    if p.choices:
        parts.append("取值之一：" + "、".join(map(str, p.choices)))
    if p.nullable:
        parts.append("或 null")
    return "，".join(parts)
