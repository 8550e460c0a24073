"""The console's query benchmark: the inbox and the dashboard over many stored posts.

``bench_console(posts)`` fills a temporary SQLite database (schema from the migrations, so
the real indexes) with ``posts`` labelled posts spread over a year, plus sent replies, and
times what the console runs: an inbox page (rows, capped count, pinned emergencies, reply and
case state) in several shapes, and the dashboard for a 7-day and a 30-day window.
Targets: under 200 ms per inbox page, under 1 s for the dashboard.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from models import rollup
from models.db import make_engine, upgrade
from models.queries import (
    OPEN_STATES,
    InboxFilter,
    dashboard,
    dashboard_cells_query,
    explain,
    inbox_query,
    page_key,
)
from models.store import ensure_city

TOPICS = ("pothole", "streetlight", "trash", "graffiti", "snow_ice", "tree", "noise", "none")
URGENCY = (("emergency", 0, 0.01), ("high", 1, 0.09), ("normal", 2, 0.6), ("low", 3, 0.3))
HOODS = tuple(
    [
        "Allston",
        "Back",
        "Bay",
        "Brighton",
        "Charlestown",
        "Chinatown",
        "Dorchester",
        "Downtown",
        "East",
        "Boston",
        "Fenway",
        "Hyde",
        "Park",
        "Jamaica",
        "Plain",
        "Mattapan",
        "Mission",
        "Hill",
        "North",
        "End",
        "Roslindale",
        "Roxbury",
        "Seaport",
        "South",
        "Boston",
        "South",
        "End",
        "West",
        "End",
        "West",
        "Roxbury",
    ]
)
PLATFORMS = ("x", "mastodon", "bluesky", "reddit")
_FMT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DATETIME on SQLite


def _fill(url: str, posts: int, now: datetime, seed: int = 11, cities: int = 1) -> list[int]:
    """Fill the database; returns the city ids. With several cities, each post belongs to
    one of them, the first the largest (city k gets a share proportional to 1/k)."""
    rng = random.Random(seed)
    engine = make_engine(url)
    upgrade(engine)
    city_ids = [
        ensure_city(engine, slug="bench" if k == 0 else f"bench-{k}", name=f"Bench City {k}")
        for k in range(cities)
    ]
    city_weights = [1 / (k + 1) for k in range(cities)]
    engine.dispose()
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=OFF")
    year = 365 * 24 * 3600
    ranks = [u for u in URGENCY]
    weights = [u[2] for u in URGENCY]
    post_rows: list[tuple[Any, ...]] = []
    reply_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        db.executemany(
            "INSERT INTO post (id, city_id, platform, external_id, author, text, created_at, "
            "lat, lon, source_name, collector_version, ingested_at, status, repost_count, "
            "classified_at, relevant, topic, urgency, urgency_rank, sentiment, neighborhood, "
            "location_text, needs_review) "
            "VALUES (?,?,?,?,?,?,?,?,?,'bench','bench',?,?,0,?,?,?,?,?,?,?,?,0)",
            post_rows,
        )
        db.executemany(
            "INSERT INTO reply (city_id, post_id, kind, platform, language, text, state, "
            "idempotency_key, attempts, dry_run, sent_at, created_at, updated_at) "
            "VALUES (?,?,'reply',?,'en','Thanks, we are on it','sent',?,0,0,?,?,?)",
            reply_rows,
        )
        post_rows.clear()
        reply_rows.clear()

    # Posts are stored as they arrive, so ids follow time; more posts recently.
    ages = sorted((rng.random() ** 1.3 * year for _ in range(posts)), reverse=True)
    for i, age in enumerate(ages, 1):
        created = now - timedelta(seconds=age)
        city_id = rng.choices(city_ids, city_weights)[0] if cities > 1 else city_ids[0]
        urgency, rank, _ = rng.choices(ranks, weights)[0]
        topic = rng.choice(TOPICS)
        hood = rng.choice(HOODS) if rng.random() < 0.6 else None
        recent = age < 3 * 24 * 3600
        if recent:
            status = rng.choice(("new", "new", "triaged", "answered", "dismissed"))
        else:
            status = "new" if rng.random() < 0.02 else rng.choice(("answered", "dismissed"))
        located = rng.random() < 0.3
        ts = created.strftime(_FMT)
        post_rows.append(
            (
                i,
                city_id,
                rng.choice(PLATFORMS),
                str(10**12 + i),
                f"resident{rng.randint(1, 50_000)}",
                f"{topic} trouble near {hood or 'my street'} again, report {i}",
                ts,
                42.3 + rng.random() / 10 if located else None,
                -71.1 + rng.random() / 10 if located else None,
                ts,
                status,
                ts,
                topic != "none",
                topic,
                urgency,
                rank,
                rng.choice(("negative", "negative", "neutral", "positive")),
                hood,
                hood,
            )
        )
        if status == "answered":
            sent = created + timedelta(minutes=rng.expovariate(1 / 180))
            sent_ts = sent.strftime(_FMT)
            reply_rows.append(
                (city_id, i, post_rows[-1][2], f"bench-{i}", sent_ts, sent_ts, sent_ts)
            )
        if len(post_rows) >= 50_000:
            flush()
    flush()
    db.commit()
    db.close()
    return city_ids


def _time(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median wall time of ``fn`` in milliseconds (after one warm-up run)."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(runs), 1)


def bench_console(posts: int = 1_000_000) -> dict[str, Any]:
    from ui.logic.inbox import load_page

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        city_id = _fill(url, posts, now)[0]
        fill_s = round(time.perf_counter() - t0, 1)
        engine = make_engine(url)
        try:
            # the posts were written straight to SQLite: count them as the pipeline would have
            t0 = time.perf_counter()
            rollup.rebuild(engine, city_id=city_id)
            rollup_s = round(time.perf_counter() - t0, 1)
            open_inbox = InboxFilter(statuses=list(OPEN_STATES))
            everything = InboxFilter()
            topic_hood = InboxFilter(
                statuses=list(OPEN_STATES), topics=["pothole"], neighborhoods=["Dorchester"]
            )
            search = InboxFilter(search="Fenway again, report 99", since=now - timedelta(days=7))

            def page(flt: InboxFilter, order: str, after: Any = None) -> Callable[[], Any]:
                return lambda: load_page(
                    engine, city_id=city_id, filters=flt, order=order, after=after
                )

            # a deep page: the key of the 20,000th row in that order
            from models.queries import inbox_page

            deep = inbox_page(
                engine, city_id=city_id, filters=everything, order="newest", limit=1, offset=20_000
            )
            deep_key = page_key(deep[0], "newest") if deep else None
            deep_open = inbox_page(
                engine, city_id=city_id, filters=open_inbox, order="triage", limit=1, offset=5_000
            )
            deep_open_key = page_key(deep_open[0], "triage") if deep_open else None
            figures: dict[str, Any] = {
                "posts": posts,
                "fill_seconds": fill_s,
                "inbox_open_triage_ms": _time(page(open_inbox, "triage")),
                "inbox_open_triage_deep_ms": _time(page(open_inbox, "triage", deep_open_key)),
                "inbox_all_newest_ms": _time(page(everything, "newest")),
                "inbox_all_newest_deep_ms": _time(page(everything, "newest", deep_key)),
                "inbox_topic_neighborhood_ms": _time(page(topic_hood, "triage")),
                "inbox_search_7_days_ms": _time(page(search, "newest")),
            }

            def dash(days: int) -> Callable[[], Any]:
                return lambda: dashboard(
                    engine,
                    city_id=city_id,
                    since=now - timedelta(days=days),
                    until=now,
                    now=now,
                )

            figures["rollup_build_seconds"] = rollup_s
            figures["dashboard_7_days_ms"] = _time(dash(7), repeat=3)
            figures["dashboard_30_days_ms"] = _time(dash(30), repeat=3)
            inbox_keys = [k for k in figures if k.startswith("inbox_")]
            figures["inbox_worst_ms"] = max(figures[k] for k in inbox_keys)
            figures["inbox_target_ms"] = 200
            figures["dashboard_target_ms"] = 1000
            figures["inbox_within_target"] = figures["inbox_worst_ms"] < 200
            figures["dashboard_within_target"] = figures["dashboard_30_days_ms"] < 1000
            figures["plan_inbox_open_triage"] = explain(
                engine, inbox_query(city_id=city_id, filters=open_inbox, order="triage")
            )
            figures["plan_dashboard"] = explain(
                engine,
                dashboard_cells_query(
                    "sqlite", city_id=city_id, since=now - timedelta(days=30), until=now
                ),
            )
            with engine.connect() as conn:
                figures["rollup_rows"] = conn.execute(
                    sa.select(sa.func.count()).select_from(rollup.ROLLUP)
                ).scalar_one()
            return figures
        finally:
            engine.dispose()


def _inbox(engine: Any, city_id: int, flt: InboxFilter, order: str) -> Callable[[], Any]:
    """One inbox page as the console loads it (rows, capped count, pinned emergencies)."""
    from ui.logic.inbox import load_page

    return lambda: load_page(engine, city_id=city_id, filters=flt, order=order)


def bench_cities(cities: int = 50, posts: int = 1_000_000) -> dict[str, Any]:
    """The inbox scoped to one city when ``cities`` cities share ``posts`` posts (the same
    generator as :func:`bench_console`): the largest city, a middle one and the smallest.
    Target: under 200 ms per inbox page. Also times the state roll-up's grouped query."""
    import sqlalchemy as sa

    from models.store import POST

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        city_ids = _fill(url, posts, now, cities=cities)
        fill_s = round(time.perf_counter() - t0, 1)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                sizes: dict[int, int] = {
                    int(cid): int(n)
                    for cid, n in conn.execute(
                        sa.select(POST.c.city_id, sa.func.count()).group_by(POST.c.city_id)
                    )
                }
            picks = {
                "largest": city_ids[0],
                "middle": city_ids[len(city_ids) // 2],
                "smallest": city_ids[-1],
            }
            open_inbox = InboxFilter(statuses=list(OPEN_STATES))
            everything = InboxFilter()
            topic = InboxFilter(statuses=list(OPEN_STATES), topics=["pothole"])
            figures: dict[str, Any] = {"cities": cities, "posts": posts, "fill_seconds": fill_s}
            for name, cid in picks.items():
                figures[f"{name}_city_posts"] = sizes.get(cid, 0)
                for shape, flt, order in (
                    ("open_triage", open_inbox, "triage"),
                    ("all_newest", everything, "newest"),
                    ("open_topic", topic, "triage"),
                ):
                    figures[f"inbox_{name}_{shape}_ms"] = _time(_inbox(engine, cid, flt, order))
            c = POST.c
            rollup = (
                sa.select(c.city_id, c.sentiment, sa.func.count())
                .where(
                    c.city_id.in_(city_ids),
                    c.created_at >= now - timedelta(days=30),
                    c.created_at < now,
                    c.deleted_at.is_(None),
                    c.relevant.is_(True),
                )
                .group_by(c.city_id, c.sentiment)
            )

            def run_rollup() -> None:
                with engine.connect() as conn:
                    conn.execute(rollup).all()

            figures["rollup_volume_30_days_ms"] = _time(run_rollup, repeat=3)
            inbox_keys = [k for k in figures if k.startswith("inbox_")]
            figures["inbox_worst_ms"] = max(figures[k] for k in inbox_keys)
            figures["inbox_target_ms"] = 200
            figures["inbox_within_target"] = figures["inbox_worst_ms"] < 200
            figures["plan_inbox_open_triage"] = explain(
                engine, inbox_query(city_id=picks["middle"], filters=open_inbox, order="triage")
            )
            return figures
        finally:
            engine.dispose()


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(bench_console(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
