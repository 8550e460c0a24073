"""The approval queue: drafts grouped by template, topic, language and platform so similar
replies are approved together; emergencies first; failed replies with their reason and a
retry; the outbox; and the response-time figures.

Approving and retrying check the person's role again on the server side and are audited.
Post and reply text is shown through ``st.dataframe``/``st.text`` only.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby
from typing import Any

import streamlit as st

from models.auth import PermissionDenied
from responders.replies import desk_for
from responders.replies.errors import ReplyError
from responders.replies.figures import response_times
from responders.replies.queries import group_key, reply_queue, state_counts
from responders.replies.workflow import bulk_approve, retry_reply
from ui.context import Context, get_context

PERIODS = {"last 7 days": 7, "last 30 days": 30, "last 90 days": 90}


def grouped_drafts(ctx: Context) -> list[tuple[tuple[str, str, str, str], list[dict[str, Any]]]]:
    """Drafts in groups of similar replies; the group with the most urgent post first."""
    rows = reply_queue(ctx.services.engine, city_id=ctx.city_id, states=("draft",))
    rows.sort(key=group_key)
    groups = [(k, list(g)) for k, g in groupby(rows, key=group_key)]
    groups.sort(key=lambda kg: (min(r["urgency_rank"] for r in kg[1]), kg[0]))
    return groups


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _figures(ctx: Context) -> None:
    period = st.selectbox("Period", list(PERIODS), index=1, key="approvals_period")
    since = ctx.services.clock() - timedelta(days=PERIODS[period])
    target = ctx.settings.response_target_minutes if ctx.settings else 240
    rt = response_times(
        ctx.services.engine, city_id=ctx.city_id, target_minutes=target, since=since
    )
    cols = st.columns(4)
    cols[0].metric("Median time to first reply", _minutes(rt.median_minutes))
    cols[1].metric("90th percentile", _minutes(rt.p90_minutes))
    within = "—" if rt.within_target is None else f"{rt.within_target:.0%}"
    cols[2].metric(f"Within {target} min", within)
    cols[3].metric("Actionable posts unanswered", rt.unanswered)
    if rt.dry_run:
        st.caption(f"{rt.dry_run} of {rt.answered} replies were recorded in dry run.")


def _table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "reply": r["id"],
            "urgency": r["urgency"],
            "author": r["author"],
            "post": r["post_text"],
            "reply text": r["text"],
            "review": "yes" if r["needs_review"] else "",
            "posted": r["post_created_at"],
        }
        for r in rows
    ]


def _approve(ctx: Context, ids: list[int]) -> None:
    try:
        result = bulk_approve(
            desk_for(ctx.services), actor=ctx.actor, city_id=ctx.city_id, reply_ids=ids
        )
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
        return
    if result.approved:
        st.success(f"Approved {len(result.approved)}: the outbox sends them next.")
    for rid, reason in result.refused.items():
        st.warning(f"Reply {rid} not approved: {reason}")


def render() -> None:
    ctx = get_context()
    st.title(f"Approvals · {ctx.city_name}")
    _figures(ctx)
    counts = state_counts(ctx.services.engine, city_id=ctx.city_id)
    st.caption(
        " · ".join(
            f"{counts.get(s, 0)} {s}" for s in ("draft", "approved", "sending", "failed", "sent")
        )
    )
    can_approve = ctx.can("reply.bulk_approve") and ctx.can("reply.approve")
    if not can_approve:
        st.info("Approving replies is for strategists and admins; you can review the drafts.")

    st.subheader("Drafts waiting for approval")
    groups = grouped_drafts(ctx)
    if not groups:
        st.success("No drafts waiting.")
    for i, ((template, topic, language, platform), rows) in enumerate(groups):
        urgent = "emergency · " if any(r["urgency"] == "emergency" for r in rows) else ""
        label = (
            f"{urgent}{template} · {topic or 'no topic'} · {language} · {platform} ({len(rows)})"
        )
        with st.expander(label, expanded=i < 3):
            st.dataframe(_table(rows), hide_index=True, width="stretch")
            ids = [r["id"] for r in rows]
            picked = st.multiselect(
                "Replies to approve",
                ids,
                default=[],
                key=f"approve_pick_{i}",
                disabled=not can_approve,
            )
            c1, c2 = st.columns(2)
            if c1.button(
                "Approve selected", key=f"approve_sel_{i}", disabled=not (can_approve and picked)
            ):
                _approve(ctx, list(picked))
            if c2.button(
                f"Approve all {len(ids)}", key=f"approve_all_{i}", disabled=not can_approve
            ):
                _approve(ctx, ids)

    failed = reply_queue(ctx.services.engine, city_id=ctx.city_id, states=("failed",))
    if failed:
        st.subheader("Failed")
        st.dataframe(
            [
                {
                    "reply": r["id"],
                    "platform": r["platform"],
                    "reason": r["last_error"],
                    "reply text": r["text"],
                }
                for r in failed
            ],
            hide_index=True,
            width="stretch",
        )
        retry = st.selectbox("Retry reply", [r["id"] for r in failed], key="retry_pick")
        if st.button("Retry", key="retry_btn", disabled=not ctx.can("reply.send")):
            try:
                retry_reply(
                    desk_for(ctx.services),
                    actor=ctx.actor,
                    city_id=ctx.city_id,
                    reply_id=int(retry),
                )
                st.success(f"Reply {retry} is back in the outbox.")
            except (PermissionDenied, ReplyError) as exc:
                st.error(str(exc))

    waiting = reply_queue(ctx.services.engine, city_id=ctx.city_id, states=("approved", "sending"))
    if waiting:
        st.subheader("Outbox")
        st.dataframe(
            [
                {
                    "reply": r["id"],
                    "state": r["state"],
                    "platform": r["platform"],
                    "approved by": r["approved_by"],
                    "next attempt": r["next_attempt_at"],
                    "last error": r["last_error"],
                    "reply text": r["text"],
                }
                for r in waiting
            ],
            hide_index=True,
            width="stretch",
        )
