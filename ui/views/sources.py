"""Sources: each listener's state, last event, events per minute, lag, errors, reconnects
and read budget, with an alert for every source quiet longer than its limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from listener.health import source_health
from models.auth import PermissionDenied, require
from ui.context import get_context
from ui.safe import md_escape


def load_rows(engine: Any, city_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """One flat row per source, ready for a table (no Streamlit needed)."""
    rows = []
    for r in source_health(engine, city_id=city_id, now=now):
        budget = r["budget"] or {}
        rows.append(
            {
                "source": r["source"],
                "kind": r["kind"],
                "state": r["state"],
                "last event": r["last_event_at"],
                "events/min": r["events_per_minute"],
                "lag (s)": r["lag_seconds"],
                "items": r["items"],
                "errors": r["errors"],
                "reconnects": r["reconnects"],
                "reads this period": budget.get("reads"),
                "read budget": budget.get("monthly_reads"),
                "spend (USD)": budget.get("spend_usd"),
                "budget state": budget.get("state"),
                "last error": r["last_error"],
                "alert": r["alert"] or "",
            }
        )
    return rows


def render() -> None:
    ctx = get_context()
    st.title("Sources")
    try:
        require(ctx.actor, ctx.city_id, "view")
    except PermissionDenied as exc:
        st.error(str(exc))
        return
    default_id = ctx.services.cities.default.id
    if ctx.city_id != default_id:
        st.info(
            "Platform sources run for the whole deployment and are shown under the default city."
        )
        return
    rows = load_rows(ctx.services.engine, default_id, now=ctx.services.clock())
    if not rows:
        st.info("No source has run yet. Start the service with `civic-listener run`.")
        return
    for row in rows:
        if row["alert"]:
            st.warning(f"{md_escape(row['source'])}: {md_escape(row['alert'])}")
        if row["budget state"] == "stopped":
            st.error(
                f"{md_escape(row['source'])}: the monthly read budget is spent; reading resumes when it resets."
            )
        elif row["budget state"] == "slowing":
            st.warning(
                f"{md_escape(row['source'])}: near its monthly read budget; polling slowed down."
            )
    # st.dataframe shows every cell as text: an error message is never interpreted.
    st.dataframe(rows, hide_index=True, width="stretch")
