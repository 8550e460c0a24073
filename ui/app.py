"""Civic Listener console entry point: ``streamlit run ui/app.py`` (or ``civic-listener console``)."""

from __future__ import annotations

import streamlit as st

from ui.pages import inbox, post, quarantine

st.set_page_config(page_title="Civic Listener", layout="wide")

pages = {
    "inbox": st.Page(inbox.render, title="Inbox", url_path="inbox", default=True),
    "post": st.Page(post.render, title="Post", url_path="post"),
    "quarantine": st.Page(quarantine.render, title="Quarantine", url_path="quarantine"),
}
st.session_state["_pages"] = pages
st.navigation(list(pages.values())).run()
