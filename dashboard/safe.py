"""User- and model-provided text shown as text: never as Markdown, HTML, LaTeX or a link/image to fetch.

Job names, dataset values, model outputs, error reasons and file paths come from people and models, and
Streamlit renders Markdown in titles, captions, alerts, toasts and widget labels. `md()` turns every
character that Markdown, Streamlit's directives (`:red[...]`) or LaTeX (`$`) could read as syntax into a
numeric character reference, which the renderer shows as that very character.
"""
from __future__ import annotations

# ASCII punctuation (CommonMark's escapable set) plus the characters Streamlit's extensions read.
_SPECIAL = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_TABLE = {ord(c): f"&#{ord(c)};" for c in _SPECIAL}
_WJ = "\u2060"  # an invisible word joiner: "http⁠://" and "www⁠." are not turned into links (GFM autolinks)


def _no_autolinks(text: str) -> str:
    return text.replace("://", _WJ + "://").replace("www.", "www" + _WJ + ".").replace("@", _WJ + "@")


def md(value, *, one_line: bool = False) -> str:
    """`value` as Markdown source that renders as exactly that text (for st.title, st.error, labels, …)."""
    text = "" if value is None else str(value)
    text = _no_autolinks(text)
    if one_line:
        text = " ".join(text.split())
        return text.translate(_TABLE)
    # Keep line breaks as breaks, and leading spaces as spaces (4 would start a code block).
    return "  \n".join(line.lstrip().translate(_TABLE) for line in text.splitlines())


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut between characters (never inside one), with … when cut."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def model_text(text) -> str:
    """A model's answer for display: generation stops at a token limit, which can end inside a character;
    the decoder shows that partial character as U+FFFD, so drop it from the end."""
    return ("" if text is None else str(text)).rstrip("\ufffd")


def safe_html(text) -> str:
    """Text for st.markdown(..., unsafe_allow_html=True): HTML-escaped and with no Markdown syntax left."""
    return md(text)  # numeric character references are valid HTML as well as Markdown


def attempt(fn, *args) -> bool:
    """Run one request of the user's (cancel, retry, hold, ...); a refusal is shown beside the buttons, as text.
    Whether it was done."""
    import streamlit as st
    try:
        fn(*args)
    except (KeyError, ValueError) as e:
        st.error(md(e.args[0]))
        return False
    return True
