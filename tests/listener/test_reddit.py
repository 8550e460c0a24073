from __future__ import annotations

import json
import threading

import praw
import prawcore
import pytest
import requests

from listener.base import AuthFailed, Deletion, PostIn, Quarantined, RateLimited, SourceUnavailable
from listener.reddit import RedditOptions, RedditSource, normalise_reddit
from tests.fakes.reddit import FakeReddit


@pytest.fixture
def fake():
    with FakeReddit() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_prawcore_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # prawcore retries a 5xx after a short real sleep; the tests do not wait for it
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)


def make(
    fake: FakeReddit, clock, state, *, username: str | None = "city_of_boston", **opts
) -> RedditSource:
    account = {"username": username, "password": "pw-123"} if username else {}
    reddit = praw.Reddit(
        client_id="cid",
        client_secret="csecret",
        user_agent="civic-listener tests",
        oauth_url=fake.url,
        reddit_url=fake.url,
        requestor_kwargs={"session": requests.Session()},
        check_for_updates=False,
        check_for_async=False,
        **account,
    )
    if not username:
        reddit.read_only = True
    options = RedditOptions(**({"subreddits": ["boston"]} | opts))
    return RedditSource("reddit-test", options, reddit=reddit, clock=clock, state=state)


def test_listing_normalises_posts_comments_crossposts_and_deletions(fake) -> None:
    post = fake.submission(100, "Pothole on Elm", selftext="It is deep")
    xpost = fake.submission(101, "Pothole on Elm", crosspost_parent="t3_2s")
    comment = fake.comment(102, "same here", post["data"]["name"])
    gone = fake.submission(103, "bye", selftext="[removed]")
    items = normalise_reddit(
        {"kind": "Listing", "data": {"children": [post, xpost, comment, gone, {"kind": "t5"}]}}
    )
    assert [type(i) for i in items] == [PostIn, PostIn, PostIn, Deletion, Quarantined]
    assert items[0].text == "Pothole on Elm\n\nIt is deep"
    assert items[0].url == "https://www.reddit.com/r/boston/comments/2s/x/"
    assert items[1].repost_of_id == "t3_2s"
    assert (items[2].in_reply_to_id, items[2].conversation_id) == ("t3_2s", "t3_2s")
    assert "kind must be t1 or t3" in items[4].reason


def test_pass_yields_oldest_first_and_resumes_without_gap_or_duplicate(fake, clock, state) -> None:
    for n in range(1000, 1003):
        fake.submission(n, f"post {n}")
    fake.comment(1003, "a comment", "t3_" + "rs")
    fake.comment(
        1004, "hey u/city_of_boston the light is out", "t3_rs", sub="somerville", mention=True
    )
    src = make(fake, clock, state)
    first = list(src.one_pass(None, threading.Event()))
    names = [i.external_id for i in first]
    assert names == ["t3_rs", "t3_rt", "t3_ru", "t1_rv", "t1_rw"]
    assert json.loads(first[-1].cursor) == {
        "new:boston": "t3_ru",
        "comments:boston": "t1_rv",
        "mentions": "t1_rw",
    }
    # 250 new posts: three pages back to the cursor, then oldest first
    for n in range(1010, 1260):
        fake.submission(n, f"post {n}")
    second = list(src.one_pass(first[-1].cursor, threading.Event()))
    posts = [i.external_id for i in second if isinstance(i, PostIn)]
    assert len(posts) == 250 and len(set(posts)) == 250
    assert posts == sorted(posts, key=lambda s: int(s[3:], 36))
    assert [r.arg("after") for r in fake.calls("/r/boston/new")][1:] == [
        None,
        posts[-100],
        posts[-200],
    ]


def test_deleted_posts_are_noticed_on_the_next_pass(fake, clock, state) -> None:
    fake.submission(2000, "my address is 12 Elm, pothole")
    src = make(fake, clock, state, comments=False, mentions=False)
    first = list(src.one_pass(None, threading.Event()))
    fake.delete(first[0].external_id)
    second = list(src.one_pass(first[-1].cursor, threading.Event()))
    assert second == [
        Deletion(platform="reddit", external_id=first[0].external_id, cursor=second[0].cursor)
    ]
    assert fake.calls("/api/info")[-1].arg("id") == first[0].external_id
    # a new source object (a restart) remembers what to re-check
    assert make(fake, clock, state).recent == []


def test_read_only_without_an_account_skips_mentions(fake, clock, state) -> None:
    fake.submission(3000, "hello")
    src = make(fake, clock, state, username=None)
    assert src.feeds() == ["new:boston", "comments:boston"]
    assert len(list(src.one_pass(None, threading.Event()))) == 1
    grants = fake.calls("/api/v1/access_token")
    assert b"grant_type=client_credentials" in grants[0].body


def test_429_5xx_and_refused_credentials(fake, clock, state) -> None:
    fake.fail_next(
        429,
        headers={
            "x-ratelimit-reset": "75",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "600",
        },
        path="/r/",
    )
    with pytest.raises(RateLimited) as err:
        list(make(fake, clock, state).one_pass(None, threading.Event()))
    assert err.value.retry_after == pytest.approx(75)
    fake.fail_next(503, path="/r/", times=3)
    with pytest.raises(SourceUnavailable):
        list(make(fake, clock, state).one_pass(None, threading.Event()))
    fake.fail_next(401, path="/api/v1/access_token", body={"error": "invalid_grant"})
    with pytest.raises(AuthFailed):
        list(make(fake, clock, state).one_pass(None, threading.Event()))
