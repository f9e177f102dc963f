"""Tunedeck dashboard: `streamlit run dashboard/app.py`. Reads runs/, writes specs and request files."""
import streamlit as st

from dashboard import identity, nav
from dashboard.common import workspace
from dashboard.i18n import LANGUAGES, keep_language, t

st.set_page_config(page_title="Tunedeck", page_icon="🎛️", layout="wide")
keep_language()  # from ?lang= on a reload or a new tab, and back into the URL
st.sidebar.selectbox("Language / 语言", list(LANGUAGES), format_func=LANGUAGES.get, key="lang",
                     on_change=keep_language, args=(True,))
identity.gate(workspace())  # header mode: a request without the proxy's header gets the refusal page and nothing else

pages = [
    st.Page("views/trainings.py", title=t("nav.trainings"), icon="📋", url_path="trainings", default=True),
    st.Page("views/new.py", title=t("nav.new"), icon="➕", url_path="new"),
    st.Page("views/details.py", title=t("nav.details"), icon="🔎", url_path="training"),
    st.Page("views/compare.py", title=t("nav.compare"), icon="⚖️", url_path="compare"),
    st.Page("views/datasets.py", title=t("nav.datasets"), icon="🗂️", url_path="datasets"),
    st.Page("views/models.py", title=t("nav.models"), icon="🧠", url_path="models"),
    st.Page("views/methods.py", title=t("nav.methods"), icon="🧪", url_path="methods"),
    st.Page("views/settings.py", title=t("nav.settings"), icon="⚙️", url_path="settings"),
]
nav.PAGES.clear()
nav.PAGES.update(zip(["trainings", "new", "training", "compare", "datasets", "models", "methods", "settings"], pages, strict=False))
st.navigation(pages).run()
