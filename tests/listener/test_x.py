from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from listener.base import (
    AuthFailed,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    SourceUnavailable,
)
from listener.budget import BudgetExhausted
from listener.http import RebaseAdapter
from listener.x import XOptions, XSource, normalise_x, tweet_item
from tests.fakes.x import FakeX


@pytest.fixture
def fake():
    with FakeX() as server:
        yield server


def make(fake: FakeX, clock, state, sleeps=None, **opts) -> XSource:
    options = XOptions(
        **({"rules": [{"value": "pothole", "tag": "potholes"}], "max_results": 10} | opts)
    )
    return XSource(
        "x-test",
        options,
        bearer_token=fake.token,
        city_accounts=["BOS311"],
        adapter=RebaseAdapter(fake.url),
        clock=clock,
        state=state,
        sleep=sleeps,
    )


# ----------------------------------------------------------------------------- format


def test_stream_line_normalises_reposts_quotes_replies_and_authors() -> None:
    users = {"users": [{"id": "200", "username": "dot_resident", "name": "D"}]}
    base = {"created_at": "2026-11-20T14:03:11.000Z", "author_id": "200"}
    rt = normalise_x(
        {
            "data": base
            | {
                "id": "5",
                "text": "RT @x: pothole",
                "referenced_tweets": [{"type": "retweeted", "id": "4"}],
            },
            "includes": users,
            "matching_rules": [{"id": "1", "tag": "potholes"}],
        }
    )
    assert isinstance(rt, PostIn)
    assert (rt.repost_of_id, rt.author, rt.url) == (
        "4",
        "dot_resident",
        "https://x.com/dot_resident/status/5",
    )
    assert rt.raw["matching_rules"][0]["tag"] == "potholes"
    quote = tweet_item(
        base | {"id": "6", "text": "look", "referenced_tweets": [{"type": "quoted", "id": "4"}]}
    )
    reply = tweet_item(
        base
        | {
            "id": "7",
            "text": "@BOS311 fix it",
            "referenced_tweets": [{"type": "replied_to", "id": "4"}],
        }
    )
    assert quote.quote_of_id == "4" and quote.repost_of_id is None
    assert reply.in_reply_to_id == "4"
    long = tweet_item(
        base | {"id": "8", "text": "short…", "note_tweet": {"text": "the whole long text"}}
    )
    assert long.text == "the whole long text"
    geo = tweet_item(
        base
        | {
            "id": "9",
            "text": "t",
            "geo": {"coordinates": {"type": "Point", "coordinates": [-71.05, 42.31]}},
        }
    )
    assert (geo.lat, geo.lon) == (42.31, -71.05)


@pytest.mark.parametrize(
    ("tweet", "reason"),
    [
        ({"id": "x1", "text": "a", "created_at": "2026-11-20T14:03:11Z"}, "not numeric"),
        ({"id": "1", "text": "a"}, "created_at is missing"),
        ({"id": "1", "text": 5, "created_at": "2026-11-20T14:03:11Z"}, "text must be a string"),
    ],
)
def test_malformed_tweets_say_why(tweet: dict, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        normalise_x({"data": tweet})


def test_a_bad_tweet_in_a_page_is_quarantined_and_the_rest_kept() -> None:
    items = normalise_x(
        {"data": [{"id": "1", "text": "ok", "created_at": "2026-11-20T14:03:11Z"}, {"id": "2"}]}
    )
    assert [type(i) for i in items] == [PostIn, Quarantined]
    assert "text is missing" in items[1].reason


# ----------------------------------------------------------------------------- polling


def test_poll_search_and_mentions_resume_from_since_id_without_gap_or_duplicate(
    fake, clock, state
) -> None:
    for i in range(1, 6):
        fake.tweet(1000 + i, f"pothole number {i}")
    fake.tweet(1010, "@BOS311 streetlight out on Elm")
    src = make(fake, clock, state)
    first = list(src.one_pass(None, threading.Event()))
    ids = [i.external_id for i in first]
    assert ids == ["1001", "1002", "1003", "1004", "1005", "1010"]
    assert all(i.author == "dot_resident" for i in first)
    cursor = json.loads(first[-1].cursor)
    assert cursor == {"search:potholes": "1005", "mentions:100": "1010"}
    # new posts arrive; the next pass asks only for what is newer
    fake.tweet(1011, "another pothole")
    fake.tweet(1012, "@bos311 thanks")
    second = list(src.one_pass(first[-1].cursor, threading.Event()))
    assert [i.external_id for i in second] == ["1011", "1012"]
    searches = fake.calls("/2/tweets/search/recent")
    assert searches[-1].arg("since_id") == "1005"
    assert fake.calls("/2/users/100/mentions")[-1].arg("since_id") == "1010"
    # the user id of the city's account was looked up once and kept
    assert len(fake.calls("/2/users/by")) == 1


def test_poll_pages_oldest_first_and_a_first_poll_reads_one_page(fake, clock, state) -> None:
    for i in range(1, 26):
        fake.tweet(2000 + i, f"pothole {i}")
    src = make(fake, clock, state, mentions=False)
    first = list(src.one_pass(None, threading.Event()))
    assert [i.external_id for i in first] == [str(2000 + i) for i in range(16, 26)]
    for i in range(26, 51):
        fake.tweet(2000 + i, f"pothole {i}")
    second = list(src.one_pass(first[-1].cursor, threading.Event()))
    assert [i.external_id for i in second] == [str(2000 + i) for i in range(26, 51)]
    assert [r.arg("next_token") for r in fake.calls("/2/tweets/search/recent")][1:] == [
        None,
        "10",
        "20",
    ]


def test_429_honours_the_reset_header(fake, clock, state) -> None:
    reset = int(clock().timestamp()) + 240
    fake.fail_next(429, headers={"x-rate-limit-reset": str(reset)}, path="/2/tweets/search")
    with pytest.raises(RateLimited) as err:
        list(make(fake, clock, state, mentions=False).one_pass(None, threading.Event()))
    assert err.value.retry_after == pytest.approx(240, abs=1)


def test_5xx_is_unavailable_and_401_is_auth_failed(fake, clock, state) -> None:
    fake.fail_next(503, path="/2/tweets/search")
    with pytest.raises(SourceUnavailable):
        list(make(fake, clock, state, mentions=False).one_pass(None, threading.Event()))
    src = make(fake, clock, state, mentions=False)
    src.client.bearer_token = "wrong"
    with pytest.raises(AuthFailed):
        list(src.one_pass(None, threading.Event()))


def test_poll_mode_loops_with_the_injected_wait_and_slows_near_the_budget(
    fake, clock, state, sleeps
) -> None:
    for i in range(1, 10):
        fake.tweet(3000 + i, f"pothole {i}")
    stop = threading.Event()
    sleeps.stop, sleeps.stop_after = stop, 2
    src = make(
        fake,
        clock,
        state,
        sleeps,
        mentions=False,
        monthly_read_budget=10,
        budget_slow_at=0.5,
        budget_stop_at=1.0,
        poll_seconds=60,
    )
    items = list(src.iter_items(None, stop))
    assert len(items) == 9
    # 9 of 10 reads: past slow_at, so the next wait is stretched
    assert sleeps.waits[0] > 60 * 5


def test_budget_stops_reading_and_survives_a_restart(fake, clock, state) -> None:
    for i in range(1, 30):
        fake.tweet(4000 + i, f"pothole {i}")
    src = make(fake, clock, state, mentions=False, monthly_read_budget=20, budget_stop_at=1.0)
    items = list(src.one_pass(None, threading.Event()))
    cursor = items[-1].cursor
    for i in range(30, 50):
        fake.tweet(4000 + i, f"pothole {i}")
    again = make(fake, clock, state, mentions=False, monthly_read_budget=20, budget_stop_at=1.0)
    assert again.budget.reads == 10  # kept across the restart
    got = []
    with pytest.raises(BudgetExhausted) as err:
        for item in again.one_pass(cursor, threading.Event()):
            got.append(item)
    assert len(got) == 10
    snap = again.budget.snapshot()
    assert snap["reads"] == 20 and snap["spend_usd"] == pytest.approx(0.10)
    assert snap["state"] == "stopped"
    # waits until the period resets: 1 December 00:00 UTC
    expected = (datetime(2026, 12, 1, tzinfo=UTC) - clock()).total_seconds()
    assert err.value.retry_after == pytest.approx(expected)
    assert len(fake.calls("/2/tweets/search/recent")) == 2  # nothing asked past the budget


# ----------------------------------------------------------------------------- streaming


def _stream_items(src: XSource, cursor, stop, out: list, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            for item in src.iter_items(cursor, stop):
                out.append(item)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_stream_syncs_tagged_rules_quarantines_bad_lines_and_survives_a_drop(
    fake, clock, state
) -> None:
    fake.rules = [{"id": "99", "value": "old rule", "tag": "old"}]
    src = make(fake, clock, state, mode="stream")
    stop = threading.Event()
    out: list = []
    errors: list = []
    t = _stream_items(src, None, stop, out, errors)
    fake.push(
        fake.stream_line(fake.tweet(5001, "pothole on Elm"), "potholes"),
        "\r\n",  # keep-alive
        '{"data": {"id": "5002", "text": "no date"}}\r\n',
        "{not json\r\n",
        fake.stream_line(
            fake.tweet(5003, "RT pothole", referenced_tweets=[{"type": "retweeted", "id": "5001"}]),
            "potholes",
        ),
    )
    _until(lambda: len(out) == 4)
    fake.drop()
    t.join(5)
    assert [type(i) for i in out] == [PostIn, Quarantined, Quarantined, PostIn]
    assert out[3].repost_of_id == "5001"
    assert isinstance(errors[0], SourceUnavailable)
    # rules: the stale one deleted, the configured one added with its tag
    assert [(r["value"], r["tag"]) for r in fake.rules] == [("pothole", "potholes")]
    assert src.budget.reads == 2
    # a post arrived while disconnected: the restart's search with since_id recovers it
    fake.tweet(5004, "pothole missed during the drop")
    out2: list = []
    t2 = _stream_items(src, out[-1].cursor, stop, out2, errors)
    fake.wait_for_stream(2)
    fake.push(fake.stream_line(fake.tweet(5005, "pothole live again"), "potholes"), stream=2)
    _until(lambda: len(out2) == 2)
    stop.set()
    t2.join(5)
    assert [i.external_id for i in out2] == ["5004", "5005"]
    assert fake.calls("/2/tweets/search/recent")[-1].arg("since_id") == "5003"
    assert json.loads(out2[-1].cursor)["stream"] == "5005"
    # stopping closed the connection: the fake sees its stream end
    fake.push("\r\n", "\r\n", stream=2)
    _until(lambda: fake.open_streams == 0)


def test_stream_429_too_many_connections_honours_reset(fake, clock, state) -> None:
    reset = int(clock().timestamp()) + 90
    fake.fail_next(
        429,
        headers={"x-rate-limit-reset": str(reset)},
        body={"title": "ConnectionException", "detail": "TooManyConnections"},
        path="/2/tweets/search/stream",
    )
    # the rules call goes first, the stream connection gets the 429
    fake.faults[0].path = "/2/tweets/search/stream"
    fake.rules = [{"id": "1", "value": "pothole", "tag": "potholes"}]
    src = make(fake, clock, state, mode="stream", sync_rules=False)
    with pytest.raises(RateLimited) as err:
        list(src.iter_items(None, threading.Event()))
    assert err.value.retry_after == pytest.approx(90, abs=1)


def test_quote_policy_skip_and_city_routing(fake, clock, state) -> None:
    fake.tweet(6001, "pothole, look", referenced_tweets=[{"type": "quoted", "id": "6000"}])
    fake.tweet(6002, "pothole on Oak")
    items = list(
        make(fake, clock, state, mentions=False, quote_policy="skip", city="springfield").one_pass(
            None, threading.Event()
        )
    )
    assert [(i.external_id, i.city) for i in items] == [("6002", "springfield")]
    # the skipped quote still moved the cursor: it is not asked for again
    assert json.loads(items[-1].cursor)["search:potholes"] == "6002"


def test_stream_leaves_for_paced_polling_past_slow_at(fake, clock, state, sleeps) -> None:
    fake.rules = [{"id": "1", "value": "pothole", "tag": "potholes"}]
    stop = threading.Event()
    sleeps.stop, sleeps.stop_after = stop, 1
    src = make(
        fake,
        clock,
        state,
        sleeps,
        mode="stream",
        sync_rules=False,
        monthly_read_budget=100,
        budget_slow_at=0.01,
        poll_seconds=60,
    )
    out: list = []
    errors: list = []
    t = _stream_items(src, None, stop, out, errors)
    fake.push(fake.stream_line(fake.tweet(7001, "pothole one"), "potholes"))
    fake.push(fake.stream_line(fake.tweet(7002, "pothole two"), "potholes"))
    t.join(5)
    assert not errors and [i.external_id for i in out] == ["7001", "7002"]
    # the stream was closed and the source went on polling, waiting longer than poll_seconds
    fake.push("\r\n", "\r\n", "\r\n")
    _until(lambda: fake.open_streams == 0)
    assert fake.calls("/2/tweets/search/recent")[-1].arg("since_id") == "7002"
    assert sleeps.waits and sleeps.waits[0] > 60
