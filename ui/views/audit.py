"""Every audit event of the city (drafts, edits, approvals, sends, failures, label
corrections, cases, templates, users), filtered by who, what and when, exported as CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import streamlit as st

from responders.replies.queries import audit_csv, audit_distinct, audit_events
from ui.context import get_context

ALL = "(all)"


def render() -> None:
    ctx = get_context()
    st.title(f"Audit · {ctx.city_name}")
    engine = ctx.services.engine
    c1, c2, c3 = st.columns(3)
    actor = c1.selectbox(
        "Who",
        [ALL, *audit_distinct(engine, city_id=ctx.city_id, column="actor")],
        key="audit_actor",
    )
    action = c2.selectbox(
        "Action",
        [ALL, *audit_distinct(engine, city_id=ctx.city_id, column="action")],
        key="audit_action",
    )
    kind = c3.selectbox(
        "Object",
        [ALL, *audit_distinct(engine, city_id=ctx.city_id, column="object_type")],
        key="audit_object",
    )
    today = ctx.services.clock().date()
    d1, d2, d3 = st.columns(3)
    since = d1.date_input("From", value=today - timedelta(days=30), key="audit_since")
    until = d2.date_input("To (inclusive)", value=today, key="audit_until")
    limit = int(
        d3.number_input(
            "At most", min_value=10, max_value=100_000, value=1000, step=100, key="audit_limit"
        )
    )
    rows = audit_events(
        engine,
        city_id=ctx.city_id,
        actor=None if actor == ALL else actor,
        action=None if action == ALL else action,
        object_type=None if kind == ALL else kind,
        since=datetime.combine(since, time.min, tzinfo=UTC),
        until=datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1),
        limit=limit,
    )
    st.caption(f"{len(rows)} events")
    if not rows:
        st.info("No audit events match.")
        return
    if ctx.can("export"):
        st.download_button(
            "Export CSV",
            data=audit_csv(rows),
            file_name=f"audit-{since}-{until}.csv",
            mime="text/csv",
            key="audit_export",
        )
    st.dataframe(
        [
            {
                **r,
                "details": json.dumps(r["details"], ensure_ascii=False, default=str)
                if r["details"]
                else "",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
