"""The inbox: newest first, filtered by platform, topic, urgency, sentiment and status."""

from __future__ import annotations

from typing import Any

import streamlit as st

from classifiers.api import SENTIMENTS, TOPICS, URGENCIES
from models.queries import InboxFilter, distinct_values, inbox_count, inbox_page
from ui.context import Context, get_context

PAGE_SIZE = 50
STATUSES = ("new", "triaged", "answered", "dismissed")


def load_rows(
    ctx: Context, filters: InboxFilter, page: int, order: str
) -> tuple[list[dict[str, Any]], int]:
    engine = ctx.services.engine
    rows = inbox_page(
        engine,
        city_id=ctx.city_id,
        filters=filters,
        order=order,
        limit=PAGE_SIZE,
        offset=page * PAGE_SIZE,
    )
    return rows, inbox_count(engine, city_id=ctx.city_id, filters=filters)


def render() -> None:
    ctx = get_context()
    st.title(f"Inbox · {ctx.city_name}")
    platforms = distinct_values(ctx.services.engine, city_id=ctx.city_id, column="platform")
    cols = st.columns(5)
    filters = InboxFilter(
        platforms=cols[0].multiselect("Platform", platforms, key="f_platform"),
        topics=cols[1].multiselect("Topic", TOPICS, key="f_topic"),
        urgencies=cols[2].multiselect("Urgency", URGENCIES, key="f_urgency"),
        sentiments=cols[3].multiselect("Sentiment", SENTIMENTS, key="f_sentiment"),
        statuses=cols[4].multiselect("Status", STATUSES, key="f_status"),
    )
    c1, c2, c3 = st.columns([3, 1, 1])
    filters.search = c1.text_input("Search text", key="f_search") or None
    order = c2.selectbox("Order", ["newest", "triage"], key="f_order")
    page = int(c3.number_input("Page", min_value=1, value=1, step=1, key="f_page")) - 1
    rows, total = load_rows(ctx, filters, page, order)
    st.caption(f"{total} posts · page {page + 1} of {max(1, -(-total // PAGE_SIZE))}")
    if not rows:
        st.info("No posts match these filters.")
        return
    table = [
        {
            "id": r["id"],
            "when": r["created_at"],
            "platform": r["platform"],
            "author": r["author"],
            "text": r["text"],
            "topic": r["topic"],
            "urgency": r["urgency"],
            "sentiment": r["sentiment"],
            "location": r["location_text"] or r["neighborhood"],
            "status": r["status"],
            "review": "yes" if r["needs_review"] else "",
        }
        for r in rows
    ]
    # st.dataframe renders every cell as text: post text is never interpreted as HTML.
    event = st.dataframe(
        table,
        hide_index=True,
        use_container_width=True,
        on_select="rerun",
        selection_mode="single-row",
        key="inbox_table",
    )
    selected = getattr(getattr(event, "selection", None), "rows", None) if event else None
    if selected:
        st.session_state["post_id"] = table[selected[0]]["id"]
        st.switch_page(st.session_state["_pages"]["post"])
