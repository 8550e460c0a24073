from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from listener.base import (
    Deletion,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    SourceUnavailable,
)
from listener.bluesky import BlueskyOptions, BlueskySource, normalise_bluesky
from listener.prefilter import Prefilter
from tests.fakes.bluesky import (
    BASE_US,
    DROP,
    FakeJetstream,
    FakeXrpc,
    delete_event,
    identity_event,
    post_event,
)

CITY = "did:plc:bostongov"
RESIDENT = "did:plc:resident"
STRANGER = "did:plc:stranger"


@pytest.fixture
def jet():
    with FakeJetstream() as server:
        yield server


@pytest.fixture
def xrpc():
    with FakeXrpc() as server:
        yield server


def make(jet, xrpc, clock, state, *, login: bool = True, **opts) -> BlueskySource:
    options = BlueskyOptions(
        **(
            {
                "jetstream_url": jet.url,
                "service_url": xrpc.url,
                "appview_url": xrpc.url,
                "idle_timeout_seconds": 5,
            }
            | opts
        )
    )
    return BlueskySource(
        "bsky-test",
        options,
        keywords=["pothole", "#bos311"],
        city_accounts=["boston.gov"],
        handle=xrpc.account_handle if login else None,
        app_password=xrpc.password if login else None,
        clock=clock,
        state=state,
    )


def _run(src, cursor, stop, out, errors, once: bool = False) -> threading.Thread:
    def run() -> None:
        try:
            for item in (src.one_pass if once else src.iter_items)(cursor, stop):
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


# ----------------------------------------------------------------------------- format and filter


def test_jetstream_events_normalise() -> None:
    reply = post_event(
        1,
        RESIDENT,
        "@boston.gov pothole",
        reply={
            "parent": {"uri": f"at://{CITY}/app.bsky.feed.post/p1", "cid": "c"},
            "root": {"uri": f"at://{CITY}/app.bsky.feed.post/r1", "cid": "c"},
        },
        embed={
            "$type": "app.bsky.embed.record",
            "record": {"uri": f"at://{CITY}/app.bsky.feed.post/q1", "cid": "c"},
        },
        facets=[
            {
                "index": {"byteStart": 0, "byteEnd": 11},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": CITY}],
            }
        ],
    )
    item = normalise_bluesky(reply)
    assert isinstance(item, PostIn)
    assert item.external_id == f"at://{RESIDENT}/app.bsky.feed.post/3k00000001"
    assert item.in_reply_to_id.endswith("/p1") and item.conversation_id.endswith("/r1")
    assert item.quote_of_id.endswith("/q1") and item.mentions == (CITY,)
    assert item.cursor == str(BASE_US + 1000) and item.lang == "en"
    assert normalise_bluesky(delete_event(2, RESIDENT, "abc")) == Deletion(
        platform="bluesky",
        external_id=f"at://{RESIDENT}/app.bsky.feed.post/abc",
        cursor=str(BASE_US + 2000),
    )
    assert normalise_bluesky(identity_event(3, RESIDENT, "x.bsky.social")) is None
    with pytest.raises(MalformedPayload, match="time_us is missing"):
        normalise_bluesky({"did": RESIDENT, "kind": "commit"})
    with pytest.raises(MalformedPayload, match="record.createdAt"):
        normalise_bluesky(post_event(4, RESIDENT, "x", createdAt="yesterday"))
    page = normalise_bluesky(
        {
            "posts": [
                {
                    "uri": "at://did:plc:a/app.bsky.feed.post/1",
                    "author": {"did": "did:plc:a", "handle": "a.bsky.social"},
                    "record": {"text": "hi", "createdAt": "2026-11-20T14:00:00Z"},
                },
                {"uri": "nope"},
            ]
        }
    )
    assert [type(i) for i in page] == [PostIn, Quarantined]
    assert page[0].author == "a.bsky.social"


def test_prefilter_never_misses_what_the_exact_check_keeps() -> None:
    pf = Prefilter(["Pothole", "#bos311", "señal"], [CITY])
    assert pf.candidate(b'{"text":"POTHOLE on Elm"}')
    assert pf.candidate(b'{"facets":[{"did":"did:plc:bostongov"}]}')
    assert not pf.candidate(b'{"text":"nice weather today"}')
    assert pf.candidate('{"text":"la señal"}'.encode())
    assert pf.candidate(b'{"text":"la se\\u00f1al"}')  # an escaped form is parsed and checked
    assert pf.matches_text("Big pothole!") and pf.matches_text("#BOS311 help")
    assert not pf.matches_text("nopotholes here") and not pf.matches_text("bos311")


# ----------------------------------------------------------------------------- streaming


def _firehose(jet: FakeJetstream) -> None:
    jet.events += [
        post_event(1, STRANGER, "nice weather today"),
        post_event(2, RESIDENT, "Huge pothole on Elm St", rkey="elm"),
        post_event(
            3,
            STRANGER,
            "hey @boston.gov the light is out",
            facets=[
                {
                    "index": {"byteStart": 4, "byteEnd": 15},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": CITY}],
                }
            ],
        ),
        identity_event(4, STRANGER, "stranger.bsky.social"),
        post_event(5, CITY, "We fixed the #bos311 pothole, thanks!"),
        '{"did":"did:plc:x","time_us":'
        + str(BASE_US + 6000)
        + ',"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"bad","record":{"text":"pothole","createdAt":"not a time"}}}',
        delete_event(7, "did:plc:nobody", "3k00000001"),  # an author never collected: ignored
        delete_event(8, RESIDENT, "elm"),
    ]


def test_firehose_filters_resolves_handles_and_honours_deletes(jet, xrpc, clock, state) -> None:
    _firehose(jet)
    jet.drop_after_replay = True
    src = make(jet, xrpc, clock, state)
    with pytest.raises(SourceUnavailable):
        out = []
        for item in src.iter_items(None, threading.Event()):
            out.append(item)
    assert [type(i) for i in out] == [PostIn, PostIn, PostIn, Quarantined, Deletion]
    assert [i.author for i in out[:3]] == ["dot-resident.bsky.social", STRANGER, "boston.gov"]
    assert out[0].url == "https://bsky.app/profile/dot-resident.bsky.social/post/elm"
    assert out[4].external_id == f"at://{RESIDENT}/app.bsky.feed.post/elm"
    assert "record.createdAt" in out[3].reason
    assert "wantedCollections=app.bsky.feed.post" in jet.paths[0]
    assert xrpc.calls("/xrpc/com.atproto.identity.resolveHandle")[0].arg("handle") == "boston.gov"


def test_restart_resumes_from_time_us_without_gap_or_duplicate(jet, xrpc, clock, state) -> None:
    _firehose(jet)
    src = make(jet, xrpc, clock, state)
    stop = threading.Event()
    out: list = []
    errors: list = []
    t = _run(src, None, stop, out, errors)
    _until(lambda: len(out) == 5)
    jet.live.put(post_event(9, RESIDENT, "another pothole"))
    _until(lambda: len(out) == 6)
    jet.live.put(DROP)
    t.join(5)
    assert isinstance(errors[0], SourceUnavailable)
    cursor = out[-1].cursor
    jet.events.append(post_event(10, RESIDENT, "pothole posted while we were away"))
    again: list = []
    t2 = _run(make(jet, xrpc, clock, state), cursor, stop, again, errors)
    _until(lambda: len(again) == 1)
    stop.set()
    t2.join(5)
    assert f"cursor={cursor}" in jet.paths[-1]
    assert [i.text for i in again] == ["pothole posted while we were away"]


def test_handshake_429_honours_ratelimit_reset(jet, xrpc, clock, state) -> None:
    jet.rejects.append((429, {"ratelimit-reset": str(int(clock().timestamp()) + 45)}))
    with pytest.raises(RateLimited) as err:
        list(make(jet, xrpc, clock, state).iter_items(None, threading.Event()))
    assert err.value.retry_after == pytest.approx(45, abs=1)


def test_one_pass_replays_to_now_and_ends(jet, xrpc, clock, state) -> None:
    _firehose(jet)
    clock.now = datetime.fromtimestamp((BASE_US + 8000) / 1e6, UTC)
    out = list(make(jet, xrpc, clock, state).one_pass(str(BASE_US + 1500), threading.Event()))
    assert [type(i) for i in out] == [PostIn, PostIn, PostIn, Quarantined, Deletion]


def test_backfill_by_search_on_first_start_and_after_a_long_outage(jet, xrpc, clock, state) -> None:
    clock.now = datetime.fromtimestamp(BASE_US / 1e6, UTC) + timedelta(hours=30)
    old = xrpc.view(post_event(10, RESIDENT, "pothole from yesterday"))
    xrpc.view(post_event(11, RESIDENT, "@boston.gov streetlight"))
    src = make(jet, xrpc, clock, state, backfill_hours=48)
    first = list(src.one_pass(None, threading.Event()))
    assert {i.external_id for i in first} == {p["uri"] for p in xrpc.posts}
    assert first[0].author == "dot-resident.bsky.social" and first[0].cursor is None
    searches = xrpc.calls("/xrpc/app.bsky.feed.searchPosts")
    assert {r.arg("q") for r in searches} == {"pothole", "#bos311", "*"}
    assert searches[0].headers["authorization"] == "Bearer jwt-1"
    # a cursor older than the replay window: search fills the part Jetstream no longer has
    jet.events.append(post_event(9_000_000, RESIDENT, "pothole, live"))
    out = list(
        make(jet, xrpc, clock, state, replay_window_hours=2).one_pass(
            str(BASE_US), threading.Event()
        )
    )
    texts = [i.text for i in out]
    assert old["record"]["text"] in texts


def test_without_credentials_backfill_is_skipped(jet, xrpc, clock, state) -> None:
    out = list(
        make(jet, xrpc, clock, state, login=False, backfill_hours=1).one_pass(
            None, threading.Event()
        )
    )
    assert out == [] and not xrpc.calls("/xrpc/app.bsky.feed.searchPosts")


def test_5xx_from_search_and_the_firehose_is_unavailable(jet, xrpc, clock, state) -> None:
    xrpc.fail_next(502, path="/xrpc/app.bsky.feed.searchPosts")
    with pytest.raises(SourceUnavailable, match="502"):
        list(make(jet, xrpc, clock, state, backfill_hours=1).one_pass(None, threading.Event()))
    jet.rejects.append((503, {}))
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        list(make(jet, xrpc, clock, state).iter_items(None, threading.Event()))


def test_wrong_app_password_is_auth_failed(jet, xrpc, clock, state) -> None:
    from listener.base import AuthFailed

    src = make(jet, xrpc, clock, state, backfill_hours=1)
    src.app_password = "wrong-password"
    with pytest.raises(AuthFailed):
        list(src.one_pass(None, threading.Event()))
