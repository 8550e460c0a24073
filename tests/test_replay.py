from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listener.base import Deletion, MalformedPayload, PostIn, Quarantined
from listener.formats import normalise_post
from listener.replay import ReplaySource
from tests.helpers import post, write_jsonl


def test_reads_posts_in_order_and_quarantines_bad_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [post(1), '{"platform": "x", "exter', post(2, text="second"), "", post(3) | {"text": None}],
    )
    items = list(ReplaySource("r", path).iter_items(None, threading.Event()))
    assert [type(i) for i in items] == [PostIn, Quarantined, PostIn, Quarantined]
    assert items[0].external_id == "1000001"
    assert "not valid JSON" in items[1].reason
    assert "text is missing" in items[3].reason
    assert items[1].raw.startswith(b'{"platform"')


def test_resumes_from_cursor(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [post(i) for i in range(10)])
    src = ReplaySource("r", path)
    first = []
    for item in src.iter_items(None, threading.Event()):
        first.append(item)
        if len(first) == 4:
            break
    rest = list(src.iter_items(first[-1].cursor, threading.Event()))
    ids = [i.external_id for i in first + rest]
    assert ids == [str(1_000_000 + i) for i in range(10)]


def test_paced_at_real_time_times_n(tmp_path: Path) -> None:
    rows = [post(0), post(30), post(90)]  # 0 s, 30 s, 90 s apart
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    waits: list[float] = []
    src = ReplaySource("r", path, speed=10.0, sleep=waits.append)
    assert len(list(src.iter_items(None, threading.Event()))) == 3
    # At 10x, the second post is due 3 s in and the third 9 s in (no real time passes here).
    assert len(waits) == 2
    assert 2.5 < waits[0] <= 3.0
    assert 8.5 < waits[1] <= 9.0


def test_stop_event_ends_the_replay(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [post(i) for i in range(5)])
    stop = threading.Event()
    stop.set()
    assert list(ReplaySource("r", path).iter_items(None, stop)) == []


def test_invalid_utf8_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "\xff\xfe"}\n')
    (item,) = ReplaySource("r", path).iter_items(None, threading.Event())
    assert isinstance(item, Quarantined)
    assert "UTF-8" in item.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"platform": "myspace"}, "platform must be one of"),
        ({"created_at": "yesterday"}, "not an ISO 8601"),
        ({"created_at": "2026-11-20T10:00:00"}, "no time zone"),
        ({"external_id": ""}, "external_id is missing"),
        ({"lat": 123.0}, "out of range"),
        ({"text": 5}, "text must be a string"),
        ({"mentions": "x"}, "mentions must be a list"),
    ],
)
def test_post_format_reasons(change: dict, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        normalise_post(post(1) | change)


def test_deleted_flag_is_a_deletion() -> None:
    item = normalise_post({"platform": "bluesky", "external_id": "at://x", "deleted": True})
    assert item == Deletion(platform="bluesky", external_id="at://x")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
post_like = st.fixed_dictionaries(
    {},
    optional={
        k: json_values
        for k in (
            "platform",
            "external_id",
            "text",
            "created_at",
            "author",
            "lat",
            "lon",
            "mentions",
            "url",
        )
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, post_like))
def test_normaliser_never_crashes(value: object) -> None:
    try:
        item = normalise_post(value)
    except MalformedPayload as exc:
        assert str(exc)
    else:
        assert isinstance(item, PostIn | Deletion)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_replay_reader_turns_any_bytes_into_items(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "in.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    items = list(ReplaySource("r", path).iter_items(None, threading.Event()))
    nonblank = [line for line in lines if line.replace(b"\n", b" ").strip()]
    assert len(items) == len(nonblank)  # nothing silently dropped
    for item in items:
        assert isinstance(item, PostIn | Quarantined | Deletion)
        if isinstance(item, Quarantined):
            assert item.reason
