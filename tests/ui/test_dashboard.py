"""Dashboard figures, spikes, response times and the masked CSV export."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from civic_listener.wiring import Services
from models.queries import dashboard
from models.store import POST
from models.tables import Reply
from tests.ui.conftest import NOW, AppFactory
from ui.logic import dashboard as logic
from ui.logic.export import mask, to_csv


def _posts(services: Services, rows: list[tuple[timedelta, str, str]]) -> list[int]:
    city = services.cities.default.id
    with services.engine.begin() as conn:
        conn.execute(
            POST.insert(),
            [
                {
                    "city_id": city,
                    "platform": "mastodon" if i % 2 else "x",
                    "external_id": f"d{i}",
                    "text": f"post {i}",
                    "created_at": NOW - ago,
                    "topic": topic,
                    "sentiment": sentiment,
                    "relevant": True,
                    "neighborhood": "Dorchester" if i % 3 else None,
                    "lat": 42.3 if i % 2 else None,
                    "lon": -71.0 if i % 2 else None,
                }
                for i, (ago, topic, sentiment) in enumerate(rows)
            ],
        )
        return [
            r[0]
            for r in conn.execute(POST.select().with_only_columns(POST.c.id).order_by(POST.c.id))
        ]


def _dash(services: Services, **kw):  # type: ignore[no-untyped-def]
    return dashboard(
        services.engine,
        city_id=services.cities.default.id,
        since=NOW - timedelta(days=7),
        until=NOW + timedelta(minutes=1),
        now=NOW,
        **kw,
    )


def test_sentiment_and_volume_tables(services: Services) -> None:
    _posts(
        services,
        [
            (timedelta(hours=2), "pothole", "negative"),
            (timedelta(hours=3), "pothole", "negative"),
            (timedelta(days=1, hours=2), "pothole", "positive"),
            (timedelta(days=1, hours=3), "trash", "neutral"),
            (timedelta(days=30), "trash", "negative"),  # outside the window
        ],
    )
    d = _dash(services)
    assert d.total == 4
    over_time = logic.sentiment_over_time(d)
    assert [r["total"] for r in over_time] == [2, 2]
    assert over_time[-1]["negative"] == 2 and over_time[-1]["net sentiment"] == -1.0
    by_topic = {r["topic"]: r for r in logic.sentiment_by(d, "topic")}
    assert by_topic["pothole"]["total"] == 3 and by_topic["trash"]["neutral"] == 1
    assert logic.volume_by(d, "topic") == [
        {"topic": "pothole", "posts": 3},
        {"topic": "trash", "posts": 1},
    ]
    assert {r["platform"]: r["posts"] for r in logic.volume_by(d, "platform")} == {
        "x": 2,
        "mastodon": 2,
    }
    assert len(logic.map_points(d)) == 2


def test_spike_alert_compares_the_last_hour_with_the_same_hour_before(services: Services) -> None:
    rows = [(timedelta(minutes=5 + i), "trash", "negative") for i in range(8)]
    rows += [(timedelta(days=k, minutes=10), "trash", "neutral") for k in range(1, 15)]
    rows += [(timedelta(minutes=20), "pothole", "neutral")]
    rows += [(timedelta(days=k, minutes=20), "pothole", "neutral") for k in range(1, 15)]
    _posts(services, rows)
    d = _dash(services, spike_factor=3.0, spike_min_posts=5)
    by_topic = {s.topic: s for s in d.spikes}
    assert by_topic["trash"].last_hour == 8 and by_topic["trash"].usual == 1.0
    assert by_topic["trash"].alert and not by_topic["pothole"].alert
    assert logic.alerts(d) == ["trash: 8 posts in the last hour, usually 1"]


def test_response_times_from_the_first_sent_reply(services: Services) -> None:
    ids = _posts(
        services, [(timedelta(hours=h), "pothole", "negative") for h in (10, 10, 10, 10, 5)]
    )
    city = services.cities.default.id
    with Session(services.engine) as s:
        for pid, minutes in zip(ids[:4], (30, 60, 90, 600), strict=True):
            created = NOW - timedelta(hours=10)
            s.add(
                Reply(
                    city_id=city,
                    post_id=pid,
                    platform="x",
                    state="sent",
                    idempotency_key=f"r{pid}",
                    sent_at=created + timedelta(minutes=minutes),
                )
            )
            s.add(
                Reply(
                    city_id=city,
                    post_id=pid,
                    platform="x",
                    state="sent",
                    idempotency_key=f"s{pid}",
                    sent_at=created + timedelta(minutes=minutes + 500),
                )
            )
        s.commit()
    r = _dash(services, target_minutes=240).responses
    assert r.replied == 4 and r.median_minutes == 75.0 and r.p90_minutes == 600.0
    assert r.within_target == 0.75
    assert r.open_overdue == 1  # the post from 5 hours ago, unanswered


def test_export_masks_phone_numbers_emails_and_formulas() -> None:
    assert mask("call me at (617) 555-0100 or +1 617.555.0199, mail ana@example.org") == (
        "call me at [phone] or [phone], mail [email]"
    )
    assert mask("report 12345 on 2026-11-20") == "report 12345 on 2026-11-20"
    csv = to_csv([{"text": "=HYPERLINK(1)", "n": 3, "_private": "x"}])
    assert csv.splitlines() == ["text,n", "'=HYPERLINK(1),3"]


def test_dashboard_page_renders_alert_and_exports(console: AppFactory, services: Services) -> None:
    services.clock = lambda: NOW
    _posts(services, [(timedelta(minutes=5 + i), "trash", "negative") for i in range(6)])
    at = console(role="viewer", page="dashboard")
    assert not at.exception
    assert any("Spike: trash" in e.value for e in at.error)
    assert at.get("download_button")


def test_dashboard_aggregates_read_the_covering_index_only(services: Services) -> None:
    from models.queries import dashboard_cells_query, explain

    plan = explain(
        services.engine,
        dashboard_cells_query(
            "sqlite",
            city_id=services.cities.default.id,
            since=NOW - timedelta(days=7),
            until=NOW,
        ),
    )
    assert any("COVERING INDEX ix_post_dashboard" in step for step in plan), plan
