"""Payloads that could not be turned into posts, with the reason for each."""

from __future__ import annotations

import streamlit as st

from models.auth import PermissionDenied, require
from models.queries import quarantine_page
from ui.context import get_context


def render() -> None:
    ctx = get_context()
    st.title("Quarantine")
    try:
        require(ctx.actor, ctx.city_id, "view")
    except PermissionDenied as exc:
        st.error(str(exc))
        return
    rows = quarantine_page(ctx.services.engine, city_id=ctx.city_id)
    if not rows:
        st.success("Nothing quarantined.")
        return
    st.caption("The first 500 bytes of each payload, as text.")
    st.dataframe(rows, hide_index=True, width="stretch")
