"""The state-level roll-up (state admins only): volume, sentiment, open cases and response
times of every city side by side, and the state-level queue of posts that matched no city.

Figures come from aggregate queries over indexes: one grouped query over the dashboard's
covering index for volume and sentiment, one over the case status index for open cases,
and the dashboard's response-time query per city. Nothing here lets a person act on a
city's posts: that happens in the city's own pages, with the city picked in the sidebar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import streamlit as st

from civic_listener.routing import STATE_QUEUE
from civic_listener.wiring import Services
from models.auth import PermissionDenied
from models.queries import InboxFilter, inbox_count, inbox_page, response_summary
from models.scope import StateScope, open_state_scope
from models.store import POST
from models.tables import ServiceRequest
from ui.logic.export import to_csv

CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
CLOSED_CASE_STATES = ("closed", "dismissed", "duplicate")
WINDOWS = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(slots=True)
class CityFigures:
    slug: str
    name: str
    posts: int
    negative: int
    neutral: int
    positive: int
    open_cases: int
    replied: int
    median_minutes: float | None
    p90_minutes: float | None
    within_target: float | None
    open_overdue: int
    target_minutes: int

    def row(self) -> dict[str, Any]:
        labelled = self.negative + self.neutral + self.positive
        net = (self.positive - self.negative) / labelled if labelled else None
        return {
            "city": self.name,
            "posts": self.posts,
            "negative": self.negative,
            "neutral": self.neutral,
            "positive": self.positive,
            "net sentiment": None if net is None else round(net, 3),
            "open cases": self.open_cases,
            "answered": self.replied,
            "median first reply (min)": self.median_minutes,
            "p90 first reply (min)": self.p90_minutes,
            "within target": self.within_target,
            "target (min)": self.target_minutes,
            "open past target": self.open_overdue,
        }


def open_rollup(services: Services, actor: Any) -> StateScope:
    """The state admin's scope over every city; PermissionDenied for anyone else."""
    return open_state_scope(actor, [c.id for c in services.cities])


def volume_and_sentiment(
    services: Services,
    state: StateScope,
    *,
    since: datetime,
    until: datetime,
    relevant_only: bool = True,
) -> dict[int, dict[str, int]]:
    """Posts per city and sentiment in the window: one query over ``ix_post_dashboard``."""
    c = POST.c
    where = [
        c.city_id.in_(list(state.city_ids)),
        c.created_at >= since,
        c.created_at < until,
        c.deleted_at.is_(None),
    ]
    if relevant_only:
        where.append(c.relevant.is_(True))
    q = (
        sa.select(c.city_id, c.sentiment, sa.func.count())
        .where(*where)
        .group_by(c.city_id, c.sentiment)
    )
    out: dict[int, dict[str, int]] = {}
    with services.engine.connect() as conn:
        for cid, sentiment, n in conn.execute(q):
            out.setdefault(cid, {})[sentiment or "unlabelled"] = int(n)
    return out


def open_cases(services: Services, state: StateScope) -> dict[int, int]:
    """Cases not closed, dismissed or merged, per city (read through the status index)."""
    statuses = (
        "pending",
        "held",
        "queued",
        "filing",
        "filed",
        "open",
        "failed",
        "not_filed",
    )
    q = (
        sa.select(CASES.c.city_id, sa.func.count())
        .where(CASES.c.status.in_(statuses), CASES.c.city_id.in_(list(state.city_ids)))
        .group_by(CASES.c.city_id)
    )
    with services.engine.connect() as conn:
        return {int(cid): int(n) for cid, n in conn.execute(q)}


def rollup(
    services: Services,
    state: StateScope,
    *,
    days: int,
    now: datetime,
    relevant_only: bool = True,
) -> list[CityFigures]:
    """Every real city's figures for the last ``days`` days (the state queue is apart)."""
    since, until = now - timedelta(days=days), now + timedelta(minutes=1)
    volume = volume_and_sentiment(
        services, state, since=since, until=until, relevant_only=relevant_only
    )
    cases = open_cases(services, state)
    out = []
    for city in services.cities:
        if city.slug == STATE_QUEUE or city.id not in state.city_ids:
            continue
        target = city.settings.response_target_minutes
        rt = response_summary(
            services.engine,
            city_id=state.city(city.id).city_id,
            since=since,
            until=until,
            now=now,
            target_minutes=target,
            relevant_only=relevant_only,
        )
        v = volume.get(city.id, {})
        out.append(
            CityFigures(
                slug=city.slug,
                name=city.settings.name,
                posts=sum(v.values()),
                negative=v.get("negative", 0),
                neutral=v.get("neutral", 0),
                positive=v.get("positive", 0),
                open_cases=cases.get(city.id, 0),
                replied=rt.replied,
                median_minutes=rt.median_minutes,
                p90_minutes=rt.p90_minutes,
                within_target=rt.within_target,
                open_overdue=rt.open_overdue,
                target_minutes=target,
            )
        )
    return out


def state_queue(
    services: Services, state: StateScope, *, limit: int = 50
) -> tuple[int, list[dict[str, Any]]]:
    """Open posts that matched no city (how many, and the newest ``limit``)."""
    queue = services.cities.by_slug.get(STATE_QUEUE)
    if queue is None:
        return 0, []
    scope = state.city(queue.id)
    flt = InboxFilter(statuses=["new", "triaged"])
    total = inbox_count(services.engine, city_id=scope.city_id, filters=flt, cap=10_000)
    rows = inbox_page(
        services.engine, city_id=scope.city_id, filters=flt, order="newest", limit=limit
    )
    return total, [
        {
            "id": r["id"],
            "posted": r["created_at"],
            "platform": r["platform"],
            "author": r["author"],
            "text": r["text"],
            "topic": r["topic"] or "",
            "urgency": r["urgency"] or "",
            "location": r["location_text"] or "",
        }
        for r in rows
    ]


def render() -> None:
    from ui.context import current_actor, get_services

    services = get_services()
    actor = current_actor(services)
    st.title("State roll-up")
    try:
        if actor is None:
            raise PermissionDenied("sign in to use the console")
        state = open_rollup(services, actor)
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
        return
    c = st.columns([2, 2])
    label = c[0].selectbox("Window", list(WINDOWS), index=1, key="rollup_window")
    relevant = c[1].toggle("City-service posts only", value=True, key="rollup_relevant")
    now = services.clock()
    figures = rollup(services, state, days=WINDOWS[label], now=now, relevant_only=relevant)
    rows = [f.row() for f in figures]
    st.caption(f"{len(rows)} cities · figures as of {now:%H:%M} UTC")
    if rows:
        st.subheader("Volume and sentiment")
        st.bar_chart(
            {"city": [r["city"] for r in rows], **{s: [r[s] for r in rows] for s in SENTIMENTS}},
            x="city",
            y=list(SENTIMENTS),
            color=["#d62728", "#7f7f7f", "#2ca02c"],
            horizontal=True,
        )
        st.subheader("Cities side by side")
        st.dataframe(rows, hide_index=True, width="stretch", key="rollup_table")
        st.download_button(
            "Export the roll-up (CSV)",
            to_csv(rows),
            file_name="state-rollup.csv",
            mime="text/csv",
            key="rollup_csv",
        )
    total, queue = state_queue(services, state)
    st.subheader(f"State queue: {total:,} open posts that matched no city")
    if queue:
        st.caption(
            "Pick the state queue in the sidebar to triage these posts, or add the place "
            "names they use to a city's gazetteer."
        )
        st.dataframe(queue, hide_index=True, width="stretch", key="rollup_queue")
    else:
        st.caption("Nothing waiting.")
