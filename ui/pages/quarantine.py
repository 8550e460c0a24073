"""Payloads that could not be turned into posts, with the reason for each."""

from __future__ import annotations

import streamlit as st

from models.queries import quarantine_page
from ui.context import get_context


def render() -> None:
    ctx = get_context()
    st.title("Quarantine")
    rows = quarantine_page(ctx.services.engine, city_id=ctx.city_id)
    if not rows:
        st.success("Nothing quarantined.")
        return
    st.dataframe(rows, hide_index=True, use_container_width=True)
