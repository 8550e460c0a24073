"""The Bluesky prefilter benchmark: events per second through the keyword and account filter.

``bench_prefilter`` writes a recorded-style Jetstream firehose file (post creates in several
languages, replies with mention facets, quotes, deletes, identity and account events; about
1 in 200 posts mentions the city), then reads it back line by line through the same
:meth:`BlueskySource._frame` path the live source uses: the byte prefilter, JSON parsing and
exact checks for candidates only. ``civic-listener bench`` runs it as ``prefilter``.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from listener.bluesky import BlueskyOptions, BlueskySource
from listener.state import MemoryState

_WORD_TEXT = (
    "the a to of and in is it you that for on with this my so but just be at are was "
    "have not like what love today new one more good time day people all get can now "
    "art music game photo morning night coffee weather cat dog book movie vote news "
    "que de la el en y los se las por un para con una su al lo como más pero sus le "
    "ich und die der das ist nicht zu es mit sich des auf für im eine als auch dem "
    "と の に は を た が で て し れ さ ある いる も する から な こと として"
)
WORDS = tuple(_WORD_TEXT.split(" "))
CITY_TEXTS = (
    "Huge pothole on Dorchester Ave, @boston.gov please fix",
    "Streetlight out on Tremont St again #bos311",
    "Trash not picked up in Roxbury this week, boston what gives",
    "Called 311 about the broken signal at Mass Ave",
)
CITY_DID = "did:plc:bostongovbench00000000"


def _did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))


def _rkey(rng: random.Random) -> str:
    return "3l" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(11))


def make_firehose(path: Path, events: int, *, seed: int = 7) -> Path:
    """Write ``events`` Jetstream v1 events, one compact JSON object per line."""
    rng = random.Random(seed)
    t_us = 1_763_000_000_000_000
    authors = [_did(rng) for _ in range(5000)]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(events):
            t_us += rng.randint(200, 5000)
            did = rng.choice(authors)
            roll = rng.random()
            event: dict[str, Any]
            if roll < 0.80:
                if rng.random() < 0.005:
                    text = rng.choice(CITY_TEXTS)
                else:
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
                record: dict[str, Any] = {
                    "$type": "app.bsky.feed.post",
                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t_us / 1e6)),
                    "langs": [rng.choice(["en", "es", "de", "ja", "pt"])],
                    "text": text,
                }
                if rng.random() < 0.3:
                    parent = f"at://{rng.choice(authors)}/app.bsky.feed.post/{_rkey(rng)}"
                    record["reply"] = {
                        "parent": {"cid": "bafyreib" + _rkey(rng), "uri": parent},
                        "root": {"cid": "bafyreib" + _rkey(rng), "uri": parent},
                    }
                if rng.random() < 0.1:
                    record["facets"] = [
                        {
                            "$type": "app.bsky.richtext.facet",
                            "index": {"byteStart": 0, "byteEnd": 12},
                            "features": [
                                {
                                    "$type": "app.bsky.richtext.facet#mention",
                                    "did": CITY_DID if rng.random() < 0.02 else rng.choice(authors),
                                }
                            ],
                        }
                    ]
                if rng.random() < 0.05:
                    record["embed"] = {
                        "$type": "app.bsky.embed.record",
                        "record": {
                            "cid": "bafyreib" + _rkey(rng),
                            "uri": f"at://{rng.choice(authors)}/app.bsky.feed.post/{_rkey(rng)}",
                        },
                    }
                commit = {
                    "rev": _rkey(rng),
                    "operation": "create",
                    "collection": "app.bsky.feed.post",
                    "rkey": _rkey(rng),
                    "record": record,
                    "cid": "bafyreib" + _rkey(rng),
                }
                event = {"did": did, "time_us": t_us, "kind": "commit", "commit": commit}
            elif roll < 0.92:
                commit = {
                    "rev": _rkey(rng),
                    "operation": "delete",
                    "collection": "app.bsky.feed.post",
                    "rkey": _rkey(rng),
                }
                event = {"did": did, "time_us": t_us, "kind": "commit", "commit": commit}
            elif roll < 0.96:
                event = {
                    "did": did,
                    "time_us": t_us,
                    "kind": "identity",
                    "identity": {
                        "did": did,
                        "handle": f"user{i}.bsky.social",
                        "seq": i,
                        "time": "2026-11-20T14:00:00Z",
                    },
                }
            else:
                event = {
                    "did": did,
                    "time_us": t_us,
                    "kind": "account",
                    "account": {
                        "active": True,
                        "did": did,
                        "seq": i,
                        "time": "2026-11-20T14:00:00Z",
                    },
                }
            fh.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    return path


def bench_prefilter(events: int = 200_000, path: Path | None = None) -> dict[str, Any]:
    """Events per second through the Bluesky keyword and account prefilter."""
    with tempfile.TemporaryDirectory() as tmp:
        firehose = path or make_firehose(Path(tmp) / "jetstream.jsonl", events)
        source = BlueskySource(
            "bench",
            BlueskyOptions(resolve_handles=False, account_dids={"boston.gov": CITY_DID}),
            keywords=["boston", "#bos311", "311", "pothole"],
            city_accounts=["boston.gov"],
            state=MemoryState(),
        )
        prefilter = source._setup()
        stop = threading.Event()
        matched = deletes = quarantined = total = 0
        size = firehose.stat().st_size
        started = time.perf_counter()
        with firehose.open("rb") as fh:
            for line in fh:
                total += 1
                item = source._frame(line.rstrip(b"\n"), prefilter)
                if item is None:
                    continue
                kind = type(item).__name__
                if kind == "PostIn":
                    matched += 1
                elif kind == "Deletion":
                    deletes += 1
                else:
                    quarantined += 1
        elapsed = time.perf_counter() - started
        del stop
    return {
        "events": total,
        "seconds": round(elapsed, 3),
        "events_per_second": round(total / elapsed) if elapsed else None,
        "megabytes_per_second": round(size / elapsed / 1e6, 1) if elapsed else None,
        "matched_posts": matched,
        "deletes_passed": deletes,
        "quarantined": quarantined,
        "target_events_per_second": 50_000,
    }


if __name__ == "__main__":
    print(json.dumps(bench_prefilter()))
