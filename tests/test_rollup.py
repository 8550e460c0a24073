"""The dashboard's rollup equals a GROUP BY over the posts after every change the pipeline and
people make: labelling, corrections (one post and the console's bulk relabel), deletions,
retention and a city's time-zone change; and the dashboard read from it equals the posts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from civic_listener.settings import Settings, load_settings
from civic_listener.wiring import Services, build_services
from listener.base import Deletion, PostIn
from models import rollup
from models.auth import Actor
from models.console import relabel_posts
from models.privacy import purge
from models.queries import dashboard
from models.store import POST, correct_label, ensure_city
from tests.fakes.classifier import KeywordClassifier

NY = ZoneInfo("America/New_York")
# New York leaves daylight saving on 2026-11-01: local midnight is 04:00Z before, 05:00Z after
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
TEXTS = (
    "pothole on Dorchester Ave!",
    "trash again",
    "street light out in Dorchester",
    "snow on the sidewalk!",
    "go celtics",
    "gas smell, fire!",
)
PLATFORMS = ("x", "mastodon", "bluesky", "reddit")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Services]:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        settings = load_settings(database_url=url, replay_file=None, health_port=0)
    services = build_services(settings, classifier=KeywordClassifier())
    services.clock = lambda: NOW
    yield services
    services.close()


def _items(n: int, start: int = 0) -> list[PostIn]:
    """Posts over the last 25 days, some either side of local midnight and of the DST change."""
    out = []
    for i in range(start, start + n):
        day = NOW - timedelta(days=i % 25)
        at = day.replace(hour=(3, 4, 5, 12, 23)[i % 5], minute=(i * 7) % 60)
        out.append(
            PostIn(
                platform=PLATFORMS[i % 4],
                external_id=str(5000 + i),
                text=TEXTS[i % len(TEXTS)],
                created_at=min(at, NOW - timedelta(minutes=1)),
                author=f"resident{i}",
            )
        )
    return out


def _local_day(hour: Any, zone: ZoneInfo) -> date:
    if isinstance(hour, str):
        hour = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return hour.astimezone(zone).date()


def _grouped(services: Services, city_id: int) -> dict[rollup.Key, int]:
    """The rollup's rows as a GROUP BY over the posts: per dimension, by UTC hour in SQL
    (the city's offsets are whole hours), each hour then placed on its local day."""
    c = POST.c
    if services.engine.dialect.name == "postgresql":
        hour: Any = sa.func.date_trunc("hour", c.created_at)
    else:
        hour = sa.func.strftime("%Y-%m-%d %H", c.created_at)
    out: Counter[rollup.Key] = Counter()
    with services.engine.connect() as conn:
        zone = rollup.city_zone(conn, city_id)
        for dim in rollup.DIMENSIONS:
            q = (
                sa.select(hour, c.relevant, c.sentiment, c[dim], sa.func.count())
                .where(c.city_id == city_id, c.classified_at.is_not(None), c.deleted_at.is_(None))
                .group_by(hour, c.relevant, c.sentiment, c[dim])
            )
            for h, rel, sent, value, n in conn.execute(q):
                out[(_local_day(h, zone), dim, value or "", bool(rel), sent or "")] += n
    return dict(out)


def _rows(services: Services, city_id: int) -> dict[rollup.Key, int]:
    with services.engine.connect() as conn:
        return rollup.rollup_rows(conn, city_id=city_id)


def _assert_matches(services: Services, city_id: int) -> dict[rollup.Key, int]:
    rows = _rows(services, city_id)
    assert rows == _grouped(services, city_id)
    assert all(n > 0 for n in rows.values())
    return rows


def _ids(services: Services) -> dict[str, int]:
    with services.engine.connect() as conn:
        return dict(conn.execute(sa.select(POST.c.external_id, POST.c.id)).all())  # type: ignore[arg-type]


def test_rollup_follows_labelling_corrections_deletions_and_retention(svc: Services) -> None:
    city = svc.cities.default.id
    svc.pipeline.ingest("t", _items(120))
    assert _rows(svc, city) == {}  # nothing is counted before it is labelled
    assert svc.pipeline.classify_pending() == 120
    rows = _assert_matches(svc, city)
    topics = Counter({k[2]: n for k, n in rows.items() if k[1] == "topic"})
    assert sum(n for k, n in rows.items() if k[1] == "topic") == 120
    assert {"pothole", "trash", "streetlight", "snow_ice", "none"} <= set(topics)
    # posts from 03:00Z are on the previous New York day, on either side of the DST change
    with svc.engine.connect() as conn:
        created = conn.execute(sa.select(POST.c.created_at)).scalars().all()
    assert {k[0] for k in rows} == {at.astimezone(NY).date() for at in created}
    assert {k[0] for k in rows} != {at.date() for at in created}

    ids = _ids(svc)
    correct_label(
        svc.engine, city_id=city, post_id=ids["5000"], task="topic", label="trash", actor="ana"
    )
    correct_label(
        svc.engine,
        city_id=city,
        post_id=ids["5001"],
        task="sentiment",
        label="positive",
        actor="ana",
    )
    correct_label(
        svc.engine, city_id=city, post_id=ids["5004"], task="relevance", label="true", actor="ana"
    )
    correct_label(
        svc.engine, city_id=city, post_id=ids["5002"], task="urgency", label="high", actor="ana"
    )
    _assert_matches(svc, city)
    admin = Actor("lead", roles={city: "admin"})
    n = relabel_posts(
        svc.engine,
        admin,
        city_id=city,
        post_ids=[ids[str(5000 + i)] for i in range(10, 40)],
        task="topic",
        label="graffiti",
    )
    assert n == 30
    rows = _assert_matches(svc, city)
    assert sum(n for k, n in rows.items() if k[1:3] == ("topic", "graffiti")) == 30

    # the author deletes two posts: they leave the counts
    svc.pipeline.ingest(
        "t", [Deletion(platform="x", external_id="5000"), Deletion("mastodon", "5001")]
    )
    rows = _assert_matches(svc, city)
    assert sum(n for k, n in rows.items() if k[1] == "topic") == 118

    # retention blanks old posts but keeps their labels: the counts do not move
    with svc.engine.begin() as conn:
        conn.execute(POST.update().values(lat=42.3, lon=-71.0, location_text="Main St"))
    done = purge(svc.engine, now=NOW, posts_days=7)
    assert done["posts"] > 50
    assert _assert_matches(svc, city) == rows


def test_dashboard_from_the_rollup_equals_the_posts(svc: Services) -> None:
    city = svc.cities.default.id
    svc.pipeline.ingest("t", _items(150))
    svc.pipeline.classify_pending()
    svc.pipeline.ingest("t", _items(30, start=150))  # stored, not yet labelled
    with svc.engine.begin() as conn:  # and a few the dashboard counts before labelling
        conn.execute(
            POST.update()
            .where(POST.c.classified_at.is_(None), POST.c.external_id < "5165")
            .values(relevant=True, topic="pothole", sentiment="negative")
        )
    c = POST.c
    # windows with partial first and last days, one inside a single day
    for since, until in (
        (NOW - timedelta(days=30), NOW),
        (NOW - timedelta(days=7, hours=3), NOW - timedelta(hours=2)),
        (NOW - timedelta(days=20, hours=5), NOW - timedelta(days=19, hours=3)),
        (NOW - timedelta(hours=4), NOW),
    ):
        for relevant_only in (True, False):
            d = dashboard(
                svc.engine,
                city_id=city,
                since=since,
                until=until,
                now=NOW,
                relevant_only=relevant_only,
            )
            where = [
                c.city_id == city,
                c.deleted_at.is_(None),
                c.created_at >= since,
                c.created_at < until,
            ]
            if relevant_only:
                where.append(c.relevant.is_(True))
            for dim in rollup.DIMENSIONS:
                want: Counter[tuple[date, str, str]] = Counter()
                with svc.engine.connect() as conn:
                    for at, value, sent in conn.execute(
                        sa.select(c.created_at, c[dim], c.sentiment).where(*where)
                    ):
                        want[(at.astimezone(NY).date(), value or "", sent or "")] += 1
                got = Counter(
                    {
                        (r["day"], r[dim], r["sentiment"]): r["count"]
                        for r in d.by[dim]
                        if r["count"]
                    }
                )
                absent = {"neighborhood": "unknown", "platform": "unknown"}.get(dim, "unlabelled")
                want_named = Counter(
                    {(day, v or absent, s or "unlabelled"): n for (day, v, s), n in want.items()}
                )
                assert got == want_named, (since, until, relevant_only, dim)
            assert d.total == sum(want.values())


def test_a_new_time_zone_recounts_the_days(svc: Services) -> None:
    city = svc.cities.default.id
    svc.pipeline.ingest("t", _items(60))
    svc.pipeline.classify_pending()
    before = _assert_matches(svc, city)
    ensure_city(svc.engine, slug=svc.cities.default.slug, name="Boston", timezone="Asia/Tokyo")
    after = _assert_matches(svc, city)
    assert after != before
    assert sum(after.values()) == sum(before.values())
    # and a rebuild from scratch gives the same rows
    assert rollup.rebuild(svc.engine, city_id=city) == len(after)
    assert _rows(svc, city) == after
