from __future__ import annotations

import json
import threading
import time

import pytest

from listener.base import (
    AuthFailed,
    Deletion,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    SourceUnavailable,
)
from listener.mastodon import MastodonOptions, MastodonSource, normalise_mastodon, status_item
from tests.fakes.mastodon import FakeMastodon


@pytest.fixture
def fake():
    with FakeMastodon() as server:
        yield server


def make(
    fake: FakeMastodon, clock, state, sleeps=None, token: str | None = "masto-test-token", **opts
) -> MastodonSource:
    options = MastodonOptions(**({"hashtags": ["bos311"], "mentions": True} | opts))
    return MastodonSource(
        "masto-test",
        options,
        instance=fake.url,
        access_token=token,
        clock=clock,
        state=state,
        sleep=sleeps,
    )


def _until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


# ----------------------------------------------------------------------------- format


def test_status_html_boosts_quotes_and_full_handles(fake) -> None:
    s = fake.status(
        1, "<p>Pothole on <a href='x'>#bos311</a> Elm &amp; Main</p><p>second<br>line</p>", "dot"
    )
    item = status_item(s)
    assert item.text == "Pothole on #bos311 Elm & Main\n\nsecond\nline"
    assert item.author == "dot@social.example"  # local accounts get their domain
    boost = status_item(fake.status(2, "", "other", local=False, reblog=s))
    assert boost.repost_of_id == "1" and boost.author == "other@other.example"
    quote = status_item(
        fake.status(3, "<p>this</p>", quote={"state": "accepted", "quoted_status": s})
    )
    assert quote.quote_of_id == "1"
    cw = status_item(fake.status(4, "<p>body</p>", spoiler_text="rats"))
    assert cw.text == "rats\n\nbody"


def test_streaming_events_and_timelines_normalise() -> None:
    assert normalise_mastodon({"event": "delete", "payload": "77"}) == Deletion(
        platform="mastodon", external_id="77"
    )
    assert normalise_mastodon({"event": "filters_changed"}) is None
    with pytest.raises(MalformedPayload, match="not valid JSON"):
        normalise_mastodon({"event": "update", "payload": "{oops"})
    with pytest.raises(MalformedPayload, match="account is missing"):
        normalise_mastodon({"id": "1", "content": "x", "created_at": "2026-11-20T14:00:00Z"})
    items = normalise_mastodon([{"id": "1"}, {"type": "follow", "status": None}])
    assert [type(i) for i in items] == [Quarantined]


# ----------------------------------------------------------------------------- polling


def test_poll_walks_forward_from_the_cursor_with_min_id(fake, clock, state) -> None:
    for i in range(1, 4):
        fake.status(100 + i, f"<p>#bos311 pothole {i}</p>", tags=["bos311"])
    n = fake.mention(900, fake.status(110, "<p>@cityofboston streetlight out</p>"))
    src = make(fake, clock, state)
    first = list(src.one_pass(None, threading.Event()))
    assert [i.external_id for i in first] == ["101", "102", "103", "110"]
    assert json.loads(first[-1].cursor) == {"tag:bos311": "103", "mentions": n["id"]}
    # 45 new posts: more than a page; the next pass pages forward with min_id, no gap
    for i in range(4, 49):
        fake.status(100 + i, f"<p>#bos311 more {i}</p>", tags=["bos311"])
    second = list(src.one_pass(first[-1].cursor, threading.Event()))
    assert [i.external_id for i in second] == [str(100 + i) for i in range(4, 49)]
    mins = [r.arg("min_id") for r in fake.calls("/api/v1/timelines/tag/bos311")]
    assert mins == [None, "103", "143"]


def test_rate_limit_auth_and_server_errors(fake, clock, state) -> None:
    reset = clock().replace(minute=clock().minute + 3).isoformat()
    fake.fail_next(
        429,
        headers={"X-RateLimit-Reset": reset},
        body={"error": "Too many requests"},
        path="/api/v1/timelines",
    )
    with pytest.raises(RateLimited) as err:
        list(make(fake, clock, state).one_pass(None, threading.Event()))
    assert err.value.retry_after == pytest.approx(180, abs=1)
    fake.fail_next(502, body={"error": "Bad gateway"}, path="/api/v1/timelines")
    with pytest.raises(SourceUnavailable):
        list(make(fake, clock, state).one_pass(None, threading.Event()))
    with pytest.raises(AuthFailed):
        list(make(fake, clock, state, token="wrong-token").one_pass(None, threading.Event()))


def test_polling_fallback_loops_with_injected_waits(fake, clock, state, sleeps) -> None:
    fake.status(201, "<p>#bos311 one</p>", tags=["bos311"])
    stop = threading.Event()
    sleeps.stop = stop
    sleeps.stop_after = 2
    src = make(fake, clock, state, sleeps, stream=False, mentions=False, poll_seconds=30)

    def add_later(seconds: float) -> None:
        sleeps(seconds)
        fake.status(202 + len(sleeps.waits), "<p>#bos311 later</p>", tags=["bos311"])

    src._sleep = add_later
    items = list(src.iter_items(None, stop))
    assert [i.external_id for i in items] == ["201", "203"]
    assert sleeps.waits == [30, 30]


# ----------------------------------------------------------------------------- streaming


def _run(src, cursor, stop, out, errors) -> threading.Thread:
    def run() -> None:
        try:
            for item in src.iter_items(cursor, stop):
                out.append(item)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_stream_events_deletes_bad_events_drop_and_resume(fake, clock, state) -> None:
    fake.status(301, "<p>#bos311 before start</p>", tags=["bos311"])
    src = make(fake, clock, state, mentions=False)
    stop = threading.Event()
    out: list = []
    errors: list = []
    t = _run(src, None, stop, out, errors)
    fake.wait_for_stream(1)  # connected: a post made now arrives through the stream
    live = fake.status(302, "<p>#bos311 live pothole</p>", tags=["bos311"])
    fake.push(
        ":thump\n",
        fake.sse("update", live),
        fake.sse("update", "{broken json"),
        "event: delete\ndata: 301\n\n",
        fake.sse("status.update", live),
    )
    _until(lambda: len(out) == 4 or errors)
    assert not errors, errors
    fake.drop()
    t.join(5)
    assert [type(i) for i in out] == [PostIn, PostIn, Quarantined, Deletion]
    assert [i.external_id for i in out if not isinstance(i, Quarantined)] == ["301", "302", "301"]
    assert isinstance(errors[0], SourceUnavailable)
    assert fake.stream_paths[0] == "/api/v1/streaming/hashtag?tag=bos311"
    assert fake.calls("/api/v1/streaming")[0].headers["authorization"] == "Bearer masto-test-token"
    # posted while the stream was down: the restart polls from the cursor first
    fake.status(303, "<p>#bos311 missed</p>", tags=["bos311"])
    out2: list = []
    t2 = _run(src, out[-1].cursor, stop, out2, errors)
    fake.wait_for_stream(2)
    fake.push(fake.sse("update", fake.status(304, "<p>#bos311 new</p>", tags=["bos311"])), stream=2)
    _until(lambda: len(out2) == 2)
    stop.set()
    t2.join(5)
    assert [i.external_id for i in out2] == ["303", "304"]
    assert fake.calls("/api/v1/timelines/tag/bos311")[-1].arg("min_id") == "302"
    fake.push(":thump\n", ":thump\n", stream=2)
    _until(lambda: fake.open_streams == 0)
