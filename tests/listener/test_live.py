"""Live checks against the real platforms: opt-in (``pytest -m live``), each skipped without
its credentials. They read a handful of posts and write nothing.

Credentials are read when this module is imported (the test fixtures clear ``CIVIC_*``
variables afterwards). The X check spends at most 10 reads (about $0.05 on pay-per-use).
The Jetstream check needs no account; it runs when ``CIVIC_LIVE_NETWORK=1``.
"""

from __future__ import annotations

import os
import threading
from itertools import islice

import pytest

from listener.base import PostIn
from listener.state import MemoryState

pytestmark = pytest.mark.live
ENV = {k: v for k, v in os.environ.items() if k.startswith("CIVIC_")}


def need(*names: str) -> None:
    missing = [n for n in names if not ENV.get(n)]
    if missing:
        pytest.skip(f"live check needs {', '.join(missing)}")


def test_x_recent_search_reads_a_page() -> None:
    need("CIVIC_X_BEARER_TOKEN")
    from listener.x import XOptions, XSource

    src = XSource(
        "live-x",
        XOptions(
            rules=[{"value": "from:BOS311", "tag": "live"}],
            mentions=False,
            max_results=10,
            monthly_read_budget=10,
            budget_stop_at=1.0,
        ),
        bearer_token=ENV["CIVIC_X_BEARER_TOKEN"],
        city_accounts=["BOS311"],
        state=MemoryState(),
    )
    items = list(src.one_pass(None, threading.Event()))
    assert all(isinstance(i, PostIn) and i.author.lower() == "bos311" for i in items)
    assert src.budget.reads <= 10


def test_mastodon_hashtag_timeline() -> None:
    need("CIVIC_MASTODON_API_BASE_URL", "CIVIC_MASTODON_ACCESS_TOKEN")
    from listener.mastodon import MastodonOptions, MastodonSource

    src = MastodonSource(
        "live-mastodon",
        MastodonOptions(hashtags=["boston"], mentions=False, stream=False),
        instance=ENV["CIVIC_MASTODON_API_BASE_URL"],
        access_token=ENV["CIVIC_MASTODON_ACCESS_TOKEN"],
        state=MemoryState(),
    )
    items = list(src.one_pass(None, threading.Event()))
    assert all("@" in i.author for i in items if isinstance(i, PostIn))


def test_reddit_new_submissions() -> None:
    need("CIVIC_REDDIT_CLIENT_ID", "CIVIC_REDDIT_CLIENT_SECRET")
    import praw

    from listener.reddit import RedditOptions, RedditSource

    reddit = praw.Reddit(
        client_id=ENV["CIVIC_REDDIT_CLIENT_ID"],
        client_secret=ENV["CIVIC_REDDIT_CLIENT_SECRET"],
        user_agent=ENV.get("CIVIC_REDDIT_USER_AGENT", "civic-listener live check"),
        check_for_updates=False,
        check_for_async=False,
    )
    reddit.read_only = True
    src = RedditSource(
        "live-reddit",
        RedditOptions(subreddits=["boston"], comments=False, mentions=False),
        reddit=reddit,
        state=MemoryState(),
    )
    items = list(src.one_pass(None, threading.Event()))
    assert items and all(i.external_id.startswith("t3_") for i in items if isinstance(i, PostIn))


def test_jetstream_firehose_delivers_and_filters() -> None:
    if ENV.get("CIVIC_LIVE_NETWORK") != "1" and not ENV.get("CIVIC_BLUESKY_APP_PASSWORD"):
        pytest.skip("live check needs CIVIC_LIVE_NETWORK=1 (no account needed)")
    from listener.bluesky import BlueskyOptions, BlueskySource

    src = BlueskySource(
        "live-bsky",
        BlueskyOptions(
            resolve_handles=False, account_dids={"bsky.app": "did:plc:z72i7hdynmk6r22z27h6tvur"}
        ),
        keywords=["the"],  # common enough to match within seconds
        city_accounts=["bsky.app"],
        state=MemoryState(),
    )
    stop = threading.Event()
    items = list(islice(src.iter_items(None, stop), 3))
    stop.set()
    assert len(items) == 3 and all(
        i.external_id.startswith("at://") for i in items if isinstance(i, PostIn)
    )
