"""The platforms' own JSON through ``ingest --format`` (the replay source) and the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from civic_listener.service import run_once
from listener.base import Deletion, MalformedPayload, PostIn, Quarantined
from listener.formats import get_format
from listener.replay import ReplaySource
from models.store import POST

DATA = Path(__file__).resolve().parent.parent / "data" / "platforms"


def _ingest(services, name: str, fmt: str):
    services.sources = [ReplaySource(f"ingest:{name}", DATA / name, fmt=fmt)]
    return run_once(services).stats


def _posts(services) -> dict[str, dict]:
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(POST)).mappings().all()
    return {r["external_id"]: dict(r) for r in rows}


def test_x_stream_lines_and_search_pages(services) -> None:
    s = _ingest(services, "x_stream.jsonl", "x")
    assert (s.stored, s.reposts, s.own, s.quarantined) == (3, 1, 1, 1)
    posts = _posts(services)
    first = posts["1861234567890123456"]
    assert first["author"] == "dot_resident" and first["repost_count"] == 1
    assert first["raw"]["matching_rules"][0]["tag"] == "city-accounts"
    assert posts["1861234567890123481"]["lat"] == pytest.approx(42.3102)
    assert "1861234567890123470" not in posts  # the city's own reply


def test_mastodon_statuses_notifications_and_events(services) -> None:
    s = _ingest(services, "mastodon.jsonl", "mastodon")
    assert (s.stored, s.reposts, s.own, s.deleted, s.quarantined) == (2, 1, 1, 1, 1)
    posts = _posts(services)
    assert posts["113512345678901234"]["status"] == "deleted"
    mention = posts["113512345678901250"]
    assert mention["author"] == "resident@toot.community"
    assert mention["text"] == "@cityofboston rats all over the Prudential plaza"


def test_jetstream_events(services) -> None:
    s = _ingest(services, "jetstream.jsonl", "bluesky")
    assert (s.stored, s.deleted, s.quarantined) == (2, 1, 1)
    posts = _posts(services)
    reply = posts["at://did:plc:qm3k6z2wnqm4tjdxhfgaaaaa/app.bsky.feed.post/3lbtxk7zz2c2a"]
    assert reply["in_reply_to_id"].endswith("/3lbtxk2b6vk2k")


def test_reddit_listings(services) -> None:
    s = _ingest(services, "reddit.jsonl", "reddit")
    assert (s.stored, s.reposts, s.deleted) == (2, 1, 0)
    assert set(_posts(services)) == {"t3_1gv2abd", "t1_lxy1234"}


def test_a_restart_inside_a_multi_post_line_rereads_the_line(tmp_path: Path) -> None:
    import threading

    src = ReplaySource("r", DATA / "x_stream.jsonl", fmt="x")
    items = list(src.iter_items(None, threading.Event()))
    page = items[-3:]
    # all but the last item of the page line resume at the line's start: nothing skipped
    assert page[0].cursor == page[1].cursor != page[2].cursor
    again = list(src.iter_items(page[0].cursor, threading.Event()))
    assert [i.external_id for i in again if isinstance(i, PostIn)] == [
        p.external_id for p in page if isinstance(p, PostIn)
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=25,
)
KEYS = {
    "x": [
        "data",
        "includes",
        "id",
        "text",
        "created_at",
        "author_id",
        "referenced_tweets",
        "geo",
        "errors",
    ],
    "mastodon": [
        "id",
        "content",
        "created_at",
        "account",
        "reblog",
        "event",
        "payload",
        "type",
        "status",
        "quote",
    ],
    "bluesky": ["did", "time_us", "kind", "commit", "posts", "uri", "record", "author"],
    "reddit": ["kind", "data", "children", "name", "title", "body", "created_utc", "author"],
}


@pytest.mark.parametrize("fmt", sorted(KEYS))
def test_normalisers_never_crash(fmt: str) -> None:
    normalise = get_format(fmt)
    shaped = st.fixed_dictionaries({}, optional={k: json_values for k in KEYS[fmt]})

    @settings(max_examples=150, deadline=None)
    @given(st.one_of(json_values, shaped, st.lists(shaped, max_size=3)))
    def check(value: object) -> None:
        try:
            got = normalise(value)
        except MalformedPayload as exc:
            assert str(exc)
            return
        for item in got if isinstance(got, list) else [got]:
            assert item is None or isinstance(item, PostIn | Deletion | Quarantined)
            if isinstance(item, Quarantined):
                assert item.reason

    check()
