"""Each sender against its platform's fake write endpoints on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from responders.replies.errors import AuthRefused, RateLimited, SendRejected, SendUnavailable
from responders.replies.senders.base import OutgoingReply, ReplyTarget
from responders.replies.senders.bluesky import BlueskySender, at_uri
from responders.replies.senders.mastodon import MastodonSender
from responders.replies.senders.reddit import RedditSender, fullname
from responders.replies.senders.x import XSender
from tests.fakes.platform_writes import FakeBluesky, FakeMastodon, FakeReddit, FakeX, x_session

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RESIDENT_DID = "did:plc:resident0001"


def _reply(
    platform: str, external_id: str, text: str = "@res Thanks, on it.", **kw
) -> OutgoingReply:  # type: ignore[no-untyped-def]
    return OutgoingReply(
        reply_id=1,
        text=text,
        language="en",
        idempotency_key="key-0001",
        target=ReplyTarget(
            platform=platform, external_id=external_id, author="res", created_at=WHEN, **kw
        ),
    )


_OPEN: list = []


def _keep(sender):  # type: ignore[no-untyped-def]
    _OPEN.append(sender)
    return sender


@pytest.fixture(autouse=True)
def _close_senders() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    with FakeX() as fake:
        yield fake


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky() as fake:
        yield fake


@pytest.fixture
def fake_reddit() -> Iterator[FakeReddit]:
    with FakeReddit() as fake:
        yield fake


def x_sender(fake: FakeX) -> XSender:
    return _keep(
        XSender(
            consumer_key="ck",
            consumer_secret="cs",
            access_token="at",
            access_token_secret="ats",
            session=x_session(fake),
        )
    )


def reddit_sender(fake: FakeReddit, password: str = FakeReddit.PASSWORD) -> RedditSender:
    return _keep(
        RedditSender(
            client_id=FakeReddit.CLIENT_ID,
            client_secret=FakeReddit.CLIENT_SECRET,
            username=FakeReddit.USERNAME,
            password=password,
            user_agent="civic-listener tests",
            oauth_url=fake.base_url,
            reddit_url=fake.base_url,
            timeout=5,
        )
    )


# --------------------------------------------------------------------------- X


def test_x_posts_a_reply_with_the_reply_reference(fake_x: FakeX) -> None:
    receipt = x_sender(fake_x).send(_reply("x", "1861234567890123456"))
    (call,) = fake_x.calls("POST", "/2/tweets")
    assert call.json() == {
        "text": "@res Thanks, on it.",
        "reply": {"in_reply_to_tweet_id": "1861234567890123456"},
    }
    assert call.headers["authorization"].startswith("OAuth ")
    assert receipt.platform_id == fake_x.tweets[0]["id"]


def test_x_rate_limit_carries_the_reset(fake_x: FakeX) -> None:
    fake_x.rate_limit_next(reset_in=600)
    with pytest.raises(RateLimited) as info:
        x_sender(fake_x).send(_reply("x", "1"))
    assert 590 <= info.value.retry_after <= 601


def test_x_errors_are_translated(fake_x: FakeX) -> None:
    sender = x_sender(fake_x)
    fake_x.fail_next(
        "POST",
        "/2/tweets",
        403,
        {"detail": "You are not allowed to create a Tweet with duplicate content.", "status": 403},
    )
    with pytest.raises(SendRejected, match="duplicate content"):
        sender.send(_reply("x", "1"))
    fake_x.fail_next("POST", "/2/tweets", 503, {"title": "Service Unavailable"})
    with pytest.raises(SendUnavailable):
        sender.send(_reply("x", "1"))
    fake_x.fail_next("POST", "/2/tweets", 401, {"title": "Unauthorized"})
    with pytest.raises(AuthRefused):
        sender.send(_reply("x", "1"))


def test_x_finds_its_own_reply_in_the_thread(fake_x: FakeX) -> None:
    sender = x_sender(fake_x)
    out = _reply("x", "1861234567890123456")
    assert sender.find_existing(out) is None
    sent = sender.send(out)
    found = sender.find_existing(out)
    assert found is not None and found.platform_id == sent.platform_id


# --------------------------------------------------------------------------- Mastodon


def mastodon_sender(fake: FakeMastodon) -> MastodonSender:
    return _keep(
        MastodonSender(api_base_url=fake.base_url, access_token=FakeMastodon.TOKEN, timeout=5)
    )


def test_mastodon_posts_with_reply_id_and_idempotency_key(fake_mastodon: FakeMastodon) -> None:
    sender = mastodon_sender(fake_mastodon)
    out = _reply("mastodon", "113500")
    first = sender.send(out)
    again = sender.send(out)  # a re-send after a crash: same key, same status
    calls = fake_mastodon.calls("POST", "/api/v1/statuses")
    assert len(calls) == 2 and len(fake_mastodon.statuses) == 1
    assert calls[0].headers["idempotency-key"] == "key-0001"
    assert calls[0].form()["in_reply_to_id"] == "113500"
    assert first.platform_id == again.platform_id


def test_mastodon_errors(fake_mastodon: FakeMastodon) -> None:
    sender = mastodon_sender(fake_mastodon)
    fake_mastodon.rate_limit_next(reset_in=300)
    with pytest.raises(RateLimited) as info:
        sender.send(_reply("mastodon", "1"))
    assert 250 < info.value.retry_after <= 301
    fake_mastodon.gone.add("404404")
    with pytest.raises(SendRejected, match="Record not found"):
        sender.send(_reply("mastodon", "404404"))
    with pytest.raises(SendRejected, match="character limit"):
        sender.send(_reply("mastodon", "1", text="x" * 501))
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 502, {"error": "bad gateway"})
    with pytest.raises(SendUnavailable):
        sender.send(_reply("mastodon", "1"))
    bad = _keep(MastodonSender(api_base_url=fake_mastodon.base_url, access_token="wrong-token-1"))
    with pytest.raises(AuthRefused):
        bad.send(_reply("mastodon", "1"))


# --------------------------------------------------------------------------- Bluesky


def bluesky_sender(fake: FakeBluesky, password: str = FakeBluesky.PASSWORD) -> BlueskySender:
    return _keep(
        BlueskySender(
            handle=FakeBluesky.HANDLE, app_password=password, pds_url=fake.base_url, timeout=5
        )
    )


def test_bluesky_reply_has_root_and_parent_refs_and_facets(fake_bluesky: FakeBluesky) -> None:
    root = f"at://{RESIDENT_DID}/app.bsky.feed.post/3root"
    parent = f"at://{RESIDENT_DID}/app.bsky.feed.post/3parent"
    fake_bluesky.add_post(root, handle="res.bsky.social", did=RESIDENT_DID, text="thread start")
    fake_bluesky.add_post(
        parent,
        handle="res.bsky.social",
        did=RESIDENT_DID,
        text="pothole on Main St",
        reply={
            "root": {"uri": root, "cid": "bafyrei3root"},
            "parent": {"uri": root, "cid": "bafyrei3root"},
        },
    )
    text = "@res.bsky.social Thanks! Case 123: https://311.boston.gov/tickets/123"
    receipt = bluesky_sender(fake_bluesky).send(_reply("bluesky", parent, text=text))
    (call,) = fake_bluesky.calls("POST", "/xrpc/com.atproto.repo.createRecord")
    record = call.json()["record"]
    assert record["reply"]["parent"] == {"uri": parent, "cid": "bafyrei3parent"}
    assert record["reply"]["root"] == {"uri": root, "cid": "bafyrei3root"}
    kinds = sorted(f["features"][0]["$type"] for f in record["facets"])
    assert kinds == ["app.bsky.richtext.facet#link", "app.bsky.richtext.facet#mention"]
    link = next(f for f in record["facets"] if f["features"][0]["$type"].endswith("#link"))
    encoded = text.encode()
    assert (
        encoded[link["index"]["byteStart"] : link["index"]["byteEnd"]]
        == b"https://311.boston.gov/tickets/123"
    )
    assert receipt.platform_id.startswith(f"at://{FakeBluesky.DID}/")
    found = bluesky_sender(fake_bluesky).find_existing(_reply("bluesky", parent))
    assert found is not None and found.platform_id == receipt.platform_id


def test_bluesky_errors(fake_bluesky: FakeBluesky) -> None:
    uri = f"at://{RESIDENT_DID}/app.bsky.feed.post/3abc"
    fake_bluesky.add_post(uri, handle="res.bsky.social", did=RESIDENT_DID, text="hi")
    with pytest.raises(AuthRefused):
        bluesky_sender(fake_bluesky, password="wrong-pass-word").send(_reply("bluesky", uri))
    sender = bluesky_sender(fake_bluesky)
    fake_bluesky.rate_limit_next(reset_in=120)
    with pytest.raises(RateLimited) as info:
        sender.send(_reply("bluesky", uri))
    assert 100 < info.value.retry_after <= 121
    with pytest.raises(SendRejected, match="Post not found"):
        sender.send(_reply("bluesky", uri + "gone"))


def test_bluesky_uri_from_jetstream_raw_and_web_link() -> None:
    raw = {"did": RESIDENT_DID, "commit": {"collection": "app.bsky.feed.post", "rkey": "3k2"}}
    t = ReplyTarget("bluesky", "3k2", "res", WHEN, raw=raw)
    assert at_uri(t) == f"at://{RESIDENT_DID}/app.bsky.feed.post/3k2"
    t = ReplyTarget(
        "bluesky", "x", "res", WHEN, url="https://bsky.app/profile/res.bsky.social/post/3k9"
    )
    assert at_uri(t) == "at://res.bsky.social/app.bsky.feed.post/3k9"


# --------------------------------------------------------------------------- Reddit


def test_reddit_replies_to_a_submission_and_a_comment(fake_reddit: FakeReddit) -> None:
    sender = reddit_sender(fake_reddit)
    first = sender.send(_reply("reddit", "t3_1abcde"))
    second = sender.send(_reply("reddit", "t1_xyz", text="u/res thanks"))
    calls = fake_reddit.calls("POST", "/api/comment")
    assert [c.form()["thing_id"] for c in calls] == ["t3_1abcde", "t1_xyz"]
    assert calls[1].form()["text"] == "u/res thanks"
    assert first.platform_id == "t1_kc0001" and second.platform_id == "t1_kc0002"
    assert fake_reddit.calls("POST", "/api/v1/access_token")
    found = sender.find_existing(_reply("reddit", "t1_xyz"))
    assert found is not None and found.platform_id == "t1_kc0002"
    assert sender.find_existing(_reply("reddit", "t3_other")) is None


def test_reddit_errors(fake_reddit: FakeReddit) -> None:
    sender = reddit_sender(fake_reddit)
    fake_reddit.rate_limit_next(retry_after=120)
    with pytest.raises(RateLimited) as info:
        sender.send(_reply("reddit", "t3_1"))
    assert info.value.retry_after == 120
    fake_reddit.fail_next(
        "POST",
        "/api/comment",
        200,
        {
            "json": {
                "errors": [
                    ["RATELIMIT", "Take a break for 5 minutes before trying again.", "ratelimit"]
                ]
            }
        },
    )
    with pytest.raises(RateLimited) as info:
        sender.send(_reply("reddit", "t3_1"))
    assert info.value.retry_after == 300
    fake_reddit.fail_next("POST", "/api/comment", 403, {"message": "Forbidden", "error": 403})
    with pytest.raises(SendRejected):
        sender.send(_reply("reddit", "t3_1"))
    fake_reddit.fail_next("POST", "/api/comment", 500, {"message": "Internal Server Error"})
    with pytest.raises(SendUnavailable):
        sender.send(_reply("reddit", "t3_1"))
    assert len(fake_reddit.calls("POST", "/api/comment")) == 4  # no hidden retries
    with pytest.raises(AuthRefused):
        reddit_sender(fake_reddit, password="wrong-password-1").send(_reply("reddit", "t3_1"))


def test_reddit_fullname_from_raw() -> None:
    assert fullname(ReplyTarget("reddit", "abc", "r", WHEN, raw={"name": "t1_abc"})) == "t1_abc"
    assert fullname(ReplyTarget("reddit", "abc", "r", WHEN, raw={"link_id": "t3_q"})) == "t1_abc"
    assert fullname(ReplyTarget("reddit", "abc", "r", WHEN)) == "t3_abc"
