"""Platform sources built from ``[[sources]]`` settings and run by the service loops."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from civic_listener.service import run_forever, run_once
from civic_listener.settings import SettingsError
from civic_listener.wiring import build_services
from listener.health import HealthMonitor, quiet_sources, source_health
from listener.state import DatabaseState
from models.store import POST
from tests.fakes.bluesky import BASE_US, FakeJetstream, FakeXrpc, post_event
from tests.fakes.x import FakeX


def _count(services, *where) -> int:
    with services.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(POST).where(*where)).scalar_one()


def test_x_from_settings_one_pass_skips_own_posts_links_reposts_and_resumes(
    settings, keyword_classifier
) -> None:
    with FakeX() as fake:
        fake.tweet(1001, "pothole on Elm St @BOS311", "200")
        fake.tweet(
            1002,
            "RT @dot_resident: pothole on Elm St",
            "300",
            referenced_tweets=[{"type": "retweeted", "id": "1001"}],
        )
        fake.tweet(1003, "@dot_resident crews are on the pothole", "100")  # BOS311, the city
        settings.replay_file = None
        settings.x_bearer_token = SecretStr(fake.token)
        settings.sources = [
            {
                "kind": "x",
                "name": "x-city",
                "rules": [{"value": "pothole", "tag": "potholes"}],
                "mentions": False,
                "api_base": fake.url,
                "monthly_read_budget": 1000,
            }
        ]
        services = build_services(settings, classifier=keyword_classifier)
        try:
            stats = run_once(services).stats
            assert (stats.stored, stats.reposts, stats.own) == (1, 1, 1)
            with services.engine.connect() as conn:
                assert conn.execute(sa.select(POST.c.repost_count)).scalar_one() == 1
            (row,) = source_health(services.engine, city_id=services.cities.default.id)
            assert row["source"] == "x-city" and row["kind"] == "x"
            assert row["budget"]["reads"] == 3 and row["budget"]["spend_usd"] == pytest.approx(
                0.015
            )
            fake.tweet(1004, "second pothole on Oak St", "200")
            assert run_once(services).stats.stored == 1
            assert fake.calls("/2/tweets/search/recent")[-1].arg("since_id") == "1003"
            assert _count(services) == 2
        finally:
            services.close()


def test_source_options_are_validated_with_clear_errors(settings, keyword_classifier) -> None:
    settings.replay_file = None
    settings.sources = [{"kind": "x", "name": "x-city", "rulez": []}]
    with pytest.raises(SettingsError, match=r"source 'x-city' \(x\): rulez: Extra inputs"):
        build_services(settings, classifier=keyword_classifier).close()
    settings.sources = [
        {"kind": "x", "name": "x-city", "rules": [{"value": "pothole", "tag": "p"}]}
    ]
    with pytest.raises(SettingsError, match="CIVIC_X_BEARER_TOKEN"):
        build_services(settings, classifier=keyword_classifier).close()
    settings.sources = [{"kind": "x", "name": "x-city", "mode": "stream"}]
    settings.x_bearer_token = SecretStr("t-123456")
    with pytest.raises(SettingsError, match="at least one rule"):
        build_services(settings, classifier=keyword_classifier).close()
    settings.sources = [
        {"kind": "mastodon", "name": "m", "hashtags": ["bos311"], "mentions": False}
    ]
    with pytest.raises(SettingsError, match="CIVIC_MASTODON_API_BASE_URL"):
        build_services(settings, classifier=keyword_classifier).close()
    settings.sources = [{"kind": "reddit", "name": "r", "subreddits": ["not a sub!"]}]
    with pytest.raises(SettingsError, match="not subreddit names"):
        build_services(settings, classifier=keyword_classifier).close()


def test_run_forever_reconnects_a_dropped_firehose_and_keeps_health_in_the_database(
    settings, keyword_classifier
) -> None:
    with FakeJetstream() as jet, FakeXrpc() as xrpc:
        jet.events += [
            post_event(1, "did:plc:resident", "pothole on Elm"),
            post_event(2, "did:plc:stranger", "nice day"),
        ]
        jet.drop_after_replay = True
        settings.replay_file = None
        settings.sources = [
            {
                "kind": "bluesky",
                "name": "bsky",
                "jetstream_url": jet.url,
                "appview_url": xrpc.url,
                "service_url": xrpc.url,
                "keywords": ["pothole"],
            }
        ]
        services = build_services(settings, classifier=keyword_classifier)
        stop = threading.Event()

        def feed() -> None:
            deadline = time.monotonic() + 10
            while jet.connections < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            jet.live.put(post_event(3, "did:plc:resident", "second pothole"))
            while _count(services) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()

        helper = threading.Thread(target=feed)
        helper.start()
        try:
            report = run_forever(services, stop, flush_seconds=0.1)
            helper.join()
            assert report.stats.stored == 2 and report.stats.duplicates == 0
            assert "cursor=" in jet.paths[1]  # the reconnect resumed from the stored cursor
            (row,) = source_health(services.engine, city_id=services.cities.default.id)
            assert row["state"] == "stopped" and row["reconnects"] >= 1 and row["errors"] >= 1
            assert row["items"] == 2 and row["cursor"] == str(BASE_US + 3000)
            assert "connection closed" in row["last_error"]
        finally:
            services.close()


def test_quiet_alert_after_the_configured_limit(services, clock) -> None:
    store = DatabaseState(services.engine, services.cities.default.id)
    monitor = HealthMonitor("m", kind="mastodon", clock=clock, store=store, quiet_alert_minutes=30)
    monitor.set_state("running")
    clock.advance(20 * 60)
    monitor.tick()
    assert monitor.alert() is None
    assert quiet_sources(services.engine, city_id=services.cities.default.id, now=clock()) == []
    clock.advance(15 * 60)
    assert monitor.alert() == "no events for 35 minutes (limit 30)"
    assert quiet_sources(services.engine, city_id=services.cities.default.id, now=clock()) == [
        "m: no events for 35 minutes (limit 30)"
    ]
    # a restart keeps the counters
    monitor.errors = 3
    monitor.flush(force=True)
    again = HealthMonitor("m", clock=clock, store=store)
    assert again.errors == 3


def test_events_per_minute_and_lag(clock) -> None:
    from listener.base import PostIn

    monitor = HealthMonitor("m", clock=clock)
    for _ in range(30):
        monitor.on_item(PostIn("x", "1", "t", clock() - timedelta(seconds=90)))
        clock.advance(1)
    assert monitor.events_per_minute() == 30
    assert monitor.snapshot()["lag_seconds"] == pytest.approx(90)
    clock.advance(120)
    assert monitor.events_per_minute() == 0


@pytest.fixture
def clock():
    from tests.listener.conftest import Clock

    return Clock(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
