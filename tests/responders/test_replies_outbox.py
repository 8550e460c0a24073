"""The outbox against fake platforms on loopback: reply references, errors, 429s, crashes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, select

from civic_listener.wiring import Services
from models.store import sent_reply_ids
from models.tables import AuditEvent, Post, Reply
from responders.replies import outbox
from responders.replies.drafts import on_classified
from responders.replies.outbox import run_outbox
from responders.replies.senders.bluesky import BlueskySender
from responders.replies.senders.mastodon import MastodonSender
from responders.replies.senders.reddit import RedditSender
from responders.replies.senders.x import XSender
from responders.replies.workflow import approve_reply, send_now
from tests.fakes.platform_writes import (
    FakeBluesky,
    FakeMastodon,
    FakeReddit,
    FakeServer,
    FakeX,
    x_session,
)
from tests.responders.replies_helpers import Clock, actors, add_post, desk, make_services

RESIDENT_DID = "did:plc:resident0001"
BSKY_URI = f"at://{RESIDENT_DID}/app.bsky.feed.post/3lresident1"


@dataclass
class Platform:
    name: str
    fake: FakeServer
    external_id: str
    sender: Callable[[], Any]
    created: Callable[[], list[Any]]
    create_path: str


def _platforms(stack: ExitStack) -> dict[str, Platform]:
    fx = stack.enter_context(FakeX())
    fm = stack.enter_context(FakeMastodon())
    fb = stack.enter_context(FakeBluesky())
    fr = stack.enter_context(FakeReddit())
    fb.add_post(BSKY_URI, handle="res.bsky.social", did=RESIDENT_DID, text="pothole")
    return {
        "x": Platform(
            "x",
            fx,
            "1861234567890123456",
            lambda: XSender(
                consumer_key="ck",
                consumer_secret="cs",
                access_token="at",
                access_token_secret="ats",
                session=x_session(fx),
            ),
            lambda: fx.tweets,
            "/2/tweets",
        ),
        "mastodon": Platform(
            "mastodon",
            fm,
            "113500000000000001",
            lambda: MastodonSender(api_base_url=fm.base_url, access_token=FakeMastodon.TOKEN),
            lambda: fm.statuses,
            "/api/v1/statuses",
        ),
        "bluesky": Platform(
            "bluesky",
            fb,
            BSKY_URI,
            lambda: BlueskySender(
                handle=FakeBluesky.HANDLE, app_password=FakeBluesky.PASSWORD, pds_url=fb.base_url
            ),
            lambda: fb.created,
            "/xrpc/com.atproto.repo.createRecord",
        ),
        "reddit": Platform(
            "reddit",
            fr,
            "t3_1hcity",
            lambda: RedditSender(
                client_id=FakeReddit.CLIENT_ID,
                client_secret=FakeReddit.CLIENT_SECRET,
                username=FakeReddit.USERNAME,
                password=FakeReddit.PASSWORD,
                user_agent="civic-listener tests",
                oauth_url=fr.base_url,
                reddit_url=fr.base_url,
            ),
            lambda: fr.comments,
            "/api/comment",
        ),
    }


@pytest.fixture
def platforms() -> Iterator[dict[str, Platform]]:
    with ExitStack() as stack:
        yield _platforms(stack)


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Live:
    """Services sending for real (dry run off) through senders on the fakes."""

    def __init__(self, db_url: str, clock: Clock, platforms: dict[str, Platform]) -> None:
        self.db_url, self.clock, self.platforms = db_url, clock, platforms
        self.opened: list[Services] = []
        self.services = self.restart()

    def restart(self) -> Services:
        services = make_services(self.db_url, self.clock, dry_run=False)
        d = desk(services)
        d.senders = {name: p.sender() for name, p in self.platforms.items()}
        self.opened.append(services)
        self.services = services
        return services

    def close(self) -> None:
        for services in self.opened:
            for sender in desk(services).senders.values():
                sender.close()
            services.close()


@pytest.fixture
def live(db_url: str, clock: Clock, platforms: dict[str, Platform]) -> Iterator[Live]:
    env = Live(db_url, clock, platforms)
    yield env
    env.close()


def _approved(services: Services, platform: Platform) -> int:
    cid = services.cities.default.id
    post = add_post(
        services, platform=platform.name, external_id=platform.external_id, author="res"
    )
    on_classified(desk(services), cid, [post.id])  # type: ignore[list-item]
    with Session(services.engine) as s:
        reply = s.exec(select(Reply).where(Reply.post_id == post.id)).one()
    approve_reply(desk(services), actor=actors(cid)["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    assert reply.id is not None
    return reply.id


def _reply(services: Services, reply_id: int) -> Reply:
    with Session(services.engine) as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        return reply


def _audit(services: Services, action: str) -> list[AuditEvent]:
    with Session(services.engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


PLATFORMS = ["x", "mastodon", "bluesky", "reddit"]


@pytest.mark.parametrize("name", PLATFORMS)
def test_approved_reply_is_posted_with_the_reply_reference(live: Live, name: str) -> None:
    platform = live.platforms[name]
    reply_id = _approved(live.services, platform)
    report = run_outbox(desk(live.services))
    assert report.sent == [reply_id]
    (created,) = platform.created()
    (call,) = platform.fake.calls("POST", platform.create_path)
    if name == "x":
        assert call.json()["reply"] == {"in_reply_to_tweet_id": platform.external_id}
        platform_id = created["id"]
    elif name == "mastodon":
        assert call.form()["in_reply_to_id"] == platform.external_id
        assert call.headers["idempotency-key"] == _reply(live.services, reply_id).idempotency_key
        platform_id = created["id"]
    elif name == "bluesky":
        ref = {"uri": BSKY_URI, "cid": "bafyrei3lresident1"}
        assert call.json()["record"]["reply"] == {"root": ref, "parent": ref}
        platform_id = created["uri"]
    else:
        assert call.form()["thing_id"] == platform.external_id
        platform_id = created["name"]
    reply = _reply(live.services, reply_id)
    assert (reply.state, reply.platform_reply_id, reply.dry_run) == ("sent", platform_id, False)
    with live.services.engine.connect() as conn:
        own = sent_reply_ids(
            conn,
            city_id=live.services.cities.default.id,
            platform=name,
            among=[platform_id, "some-other-post"],
        )
    assert own == {platform_id}  # the pipeline will never import it back
    (event,) = _audit(live.services, "reply.send")
    assert event.actor == "strategist1" and event.details["platform_reply_id"] == platform_id  # type: ignore[index]
    with Session(live.services.engine) as s:
        post = s.exec(select(Post)).one()
    assert post.status == "answered"


def test_sent_reply_is_not_imported_back(live: Live) -> None:
    from listener.base import PostIn

    platform = live.platforms["x"]
    reply_id = _approved(live.services, platform)
    run_outbox(desk(live.services))
    own_id = _reply(live.services, reply_id).platform_reply_id
    assert own_id is not None
    item = PostIn(
        platform="x",
        external_id=own_id,
        text="@res Thanks for reporting this pothole.",
        created_at=live.clock(),
        author="SomeCityAlias",
    )
    stats = live.services.pipeline.ingest("x", [item])
    assert (stats.stored, stats.own) == (0, 1)


@pytest.mark.parametrize("name", PLATFORMS)
def test_platform_refusal_fails_the_reply_with_its_reason(live: Live, name: str) -> None:
    platform = live.platforms[name]
    reasons = {
        "x": (403, {"detail": "You are not allowed to reply to this post.", "status": 403}),
        "mastodon": (422, {"error": "Validation failed: Reply to a post that is gone"}),
        "bluesky": (400, {"error": "InvalidRequest", "message": "Parent post is blocked"}),
        "reddit": (403, {"message": "Forbidden: thread is locked", "error": 403}),
    }
    status, body = reasons[name]
    platform.fake.fail_next("POST", platform.create_path, status, body)
    reply_id = _approved(live.services, platform)
    report = run_outbox(desk(live.services))
    assert list(report.failed) == [reply_id]
    reply = _reply(live.services, reply_id)
    assert reply.state == "failed" and reply.platform_reply_id is None
    assert str(status) in (reply.last_error or "")
    (event,) = _audit(live.services, "reply.fail")
    assert event.details["reason"] == reply.last_error  # type: ignore[index]
    assert platform.created() == []


@pytest.mark.parametrize("name", PLATFORMS)
def test_429_waits_for_the_reset_then_sends(live: Live, name: str) -> None:
    platform = live.platforms[name]
    reset_in = {"x": 900, "mastodon": 300, "bluesky": 300, "reddit": 120}[name]
    platform.fake.rate_limit_next(reset_in)  # type: ignore[attr-defined]
    reply_id = _approved(live.services, platform)
    d = desk(live.services)
    report = run_outbox(d)
    assert list(report.deferred) == [reply_id]
    reply = _reply(live.services, reply_id)
    assert reply.state == "approved" and reply.attempts == 0
    assert reply.next_attempt_at is not None
    wait = (reply.next_attempt_at - live.clock()).total_seconds()
    assert reset_in - 10 <= wait <= reset_in + 1
    live.clock.advance(seconds=wait / 2)
    run_outbox(d)  # before the reset: not even tried
    assert len(platform.fake.calls("POST", platform.create_path)) == 1
    live.clock.advance(seconds=wait / 2 + 1)
    assert run_outbox(d).sent == [reply_id]
    assert len(platform.created()) == 1
    assert _reply(live.services, reply_id).state == "sent"


@pytest.mark.parametrize("name", PLATFORMS)
def test_crash_after_sending_before_recording_does_not_double_post(
    live: Live, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = live.platforms[name]
    reply_id = _approved(live.services, platform)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("the process died after the platform took the reply")

    with monkeypatch.context() as m:
        m.setattr(outbox, "_record_sent", crash)
        try:
            report = run_outbox(desk(live.services))
        except SystemExit:
            pass
        else:
            pytest.fail(f"did not crash: {report} {_reply(live.services, reply_id)}")
    assert len(platform.created()) == 1
    assert _reply(live.services, reply_id).state == "sending"

    restarted = live.restart()
    assert run_outbox(desk(restarted)).sent == []  # within the lease: maybe still in flight
    live.clock.advance(minutes=6)
    report = run_outbox(desk(restarted))
    assert len(platform.created()) == 1  # never posted twice
    reply = _reply(restarted, reply_id)
    assert reply.state == "sent"
    created = platform.created()[0]
    expected = {"x": "id", "mastodon": "id", "bluesky": "uri", "reddit": "name"}[name]
    assert reply.platform_reply_id == created[expected]
    if name == "mastodon":  # re-sent with the same Idempotency-Key: the platform deduplicated
        keys = [
            c.headers["idempotency-key"] for c in platform.fake.calls("POST", platform.create_path)
        ]
        assert keys == [reply.idempotency_key] * 2
        assert report.sent == [reply_id]
    else:  # the thread showed the city's reply: recorded without posting
        assert report.recovered == [reply_id]
        assert len(platform.fake.calls("POST", platform.create_path)) == 1


def test_dropped_connection_after_posting_is_checked_before_retrying(live: Live) -> None:
    platform = live.platforms["x"]
    platform.fake.drop_next("POST", "/2/tweets")
    reply_id = _approved(live.services, platform)
    d = desk(live.services)
    assert list(run_outbox(d).deferred) == [reply_id]
    reply = _reply(live.services, reply_id)
    assert reply.state == "approved" and (reply.last_error or "").startswith("unavailable")
    live.clock.advance(seconds=31)
    assert run_outbox(d).recovered == [reply_id]
    assert len(platform.created()) == 1
    assert _reply(live.services, reply_id).platform_reply_id == platform.created()[0]["id"]


def test_outage_retries_with_backoff_then_fails(
    db_url: str, clock: Clock, platforms: dict[str, Platform]
) -> None:
    services = make_services(db_url, clock, dry_run=False, reply_max_attempts=3)
    platform = platforms["mastodon"]
    sender = platform.sender()
    desk(services).senders = {"mastodon": sender}
    try:
        platform.fake.fail_next("POST", platform.create_path, 503, {"error": "down"}, times=3)
        reply_id = _approved(services, platform)
        d = desk(services)
        for _ in range(3):
            run_outbox(d)
            clock.advance(hours=1)
        reply = _reply(services, reply_id)
        assert reply.state == "failed" and reply.attempts == 3
        assert "gave up after 3 attempts" in (reply.last_error or "")
        assert len(_audit(services, "reply.send_deferred")) == 2
        assert len(_audit(services, "reply.fail")) == 1
    finally:
        sender.close()
        services.close()


def test_send_now_by_a_strategist(live: Live) -> None:
    platform = live.platforms["reddit"]
    services = live.services
    cid = services.cities.default.id
    post = add_post(services, platform="reddit", external_id=platform.external_id, author="res")
    on_classified(desk(services), cid, [post.id])  # type: ignore[list-item]
    with Session(services.engine) as s:
        reply = s.exec(select(Reply)).one()
    from models.auth import PermissionDenied

    with pytest.raises(PermissionDenied):
        send_now(desk(services), actor=actors(cid)["staff"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    done = send_now(desk(services), actor=actors(cid)["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    assert done.state == "sent" and done.platform_reply_id == platform.created()[0]["name"]
    assert platform.created()[0]["body"].startswith("u/res Thanks for reporting this pothole")


def test_mastodon_checks_the_thread_once_the_idempotency_key_may_have_expired(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = live.platforms["mastodon"]
    reply_id = _approved(live.services, platform)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("the process died after the platform took the reply")

    with monkeypatch.context() as m:
        m.setattr(outbox, "_record_sent", crash)
        with pytest.raises(SystemExit):
            run_outbox(desk(live.services))
    live.clock.advance(hours=2)  # down longer than Mastodon keeps an Idempotency-Key
    restarted = live.restart()
    report = run_outbox(desk(restarted))
    assert report.recovered == [reply_id]
    assert len(platform.fake.calls("POST", platform.create_path)) == 1
    assert platform.fake.calls("GET", f"/api/v1/statuses/{platform.external_id}/context")
    assert _reply(restarted, reply_id).platform_reply_id == platform.created()[0]["id"]
