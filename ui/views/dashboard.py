"""Dashboard for communications staff: sentiment over time (overall, by topic, by
neighborhood), volume by topic and platform, spikes with an alert, a map of located posts,
response times, and a CSV export of every table shown (phone numbers and e-mails masked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from models.queries import Dashboard
from ui.context import get_context
from ui.logic import dashboard as logic
from ui.logic.export import to_csv


def _export(name: str, rows: list[dict[str, Any]], can_export: bool) -> None:
    if can_export and rows:
        st.download_button(
            f"Export {name} (CSV)",
            to_csv(rows),
            file_name=f"{name.replace(' ', '-')}.csv",
            mime="text/csv",
            key=f"csv_{name}",
        )


@st.cache_data(ttl=60, max_entries=64, show_spinner="Computing the dashboard…")
def _load(
    _engine: Engine,
    db_url: str,
    city_id: int,
    days: int,
    minute: datetime,
    tz: str,
    target: int,
    factor: float,
    min_posts: int,
    relevant: bool,
) -> Dashboard:
    """The dashboard's figures, computed at most once a minute per city and window (they are
    the same for everyone in the city). Days follow the city's time zone (``tz`` is part of
    the cache key, so a changed zone shows at once)."""
    return logic.load(
        _engine,
        city_id=city_id,
        days=days,
        now=minute,
        target_minutes=target,
        spike_factor=factor,
        spike_min_posts=min_posts,
        relevant_only=relevant,
    )


def render() -> None:
    ctx = get_context()
    assert ctx.settings is not None
    cs = ctx.settings
    st.title(f"Dashboard · {ctx.city_name}")
    c = st.columns([2, 2, 3])
    label = c[0].selectbox("Window", list(logic.WINDOWS), index=1, key="dash_window")
    relevant = c[1].toggle("City-service posts only", value=True, key="dash_relevant")
    now = ctx.services.clock()
    engine = ctx.services.engine
    d = _load(
        engine,
        engine.url.render_as_string(hide_password=True),
        ctx.city_id,
        logic.WINDOWS[label],
        now.replace(second=0, microsecond=0),
        cs.timezone,
        cs.response_target_minutes,
        cs.spike_factor,
        cs.spike_min_posts,
        relevant,
    )
    st.caption(f"Figures as of {now:%H:%M} UTC, refreshed every minute.")
    can_export = ctx.can("export")
    for alert in logic.alerts(d):
        st.error(f"Spike: {alert}")

    r = d.responses
    m = st.columns(5)
    m[0].metric("Posts", f"{d.total:,}")
    m[1].metric("Answered", f"{r.replied:,}")
    m[2].metric(
        "Median first reply", "—" if r.median_minutes is None else f"{r.median_minutes:g} min"
    )
    m[3].metric("p90 first reply", "—" if r.p90_minutes is None else f"{r.p90_minutes:g} min")
    m[4].metric(
        f"Within {cs.response_target_minutes} min",
        "—" if r.within_target is None else f"{r.within_target:.0%}",
    )
    if r.open_overdue:
        st.warning(f"{r.open_overdue} open posts are past the response target.")
    if not d.total:
        st.info("No posts in this window.")
        return

    st.subheader("Sentiment over time")
    over_time = logic.sentiment_over_time(d)
    st.line_chart(
        {
            "day": [row["day"] for row in over_time],
            **{s: [row[s] for row in over_time] for s in logic.SENTIMENT_ORDER},
        },
        x="day",
        color=["#d62728", "#7f7f7f", "#2ca02c"],
    )
    _export("sentiment over time", over_time, can_export)

    tabs = st.tabs(["By topic", "By neighborhood"])
    for tab, key in zip(tabs, ("topic", "neighborhood"), strict=True):
        with tab:
            trend = logic.sentiment_trend_by(d, key)
            if trend and len(trend[0]) > 1:
                st.caption("Net sentiment per day (positive share minus negative share)")
                st.line_chart(trend, x="day")
            table = logic.sentiment_by(d, key)
            st.dataframe(table, hide_index=True, width="stretch")
            _export(f"sentiment by {key}", table, can_export)

    st.subheader("Volume")
    v = st.columns(2)
    for col, key in zip(v, ("topic", "platform"), strict=True):
        with col:
            rows = logic.volume_by(d, key)
            st.bar_chart(rows, x=key, y="posts", horizontal=True)
            _export(f"volume by {key}", rows, can_export)

    st.subheader("Spikes: the last hour against the same hour on other days")
    spikes = logic.spikes(d)
    st.dataframe(spikes, hide_index=True, width="stretch")
    _export("spikes", spikes, can_export)

    st.subheader("Response times")
    responses = logic.response_rows(d, cs.response_target_minutes)
    st.dataframe(responses, hide_index=True, width="stretch")
    _export("response times", responses, can_export)

    st.subheader("Where")
    points = logic.map_points(d)
    if points:
        st.caption(f"{len(points):,} located posts (newest first, at most 2,000)")
        st.map(points, latitude="lat", longitude="lon", size=20)
        _export("located posts", points, can_export)
    else:
        st.caption("No located posts in this window.")
