"""Hostile input, property-tested: malformed, oversized, wrongly encoded and hostile payloads
through every normaliser, the replay reader, the pipeline's store and the Open311 client's
response parsing. Each ends as a stored post, a quarantined record with a reason, or (for
Open311) an ``Open311Error``: never a crash, never a silent drop.

The strategies reach what ``st.text()`` leaves out by default: lone surrogates (valid in
JSON as ``\\udc00``, not in UTF-8), NUL, integers too long to convert, deep nesting, byte
order marks, other encodings, and lines past the size limits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from civic_listener.settings import load_settings
from civic_listener.wiring import Services, build_services
from listener.base import Deletion, MalformedPayload, PostIn, Quarantined
from listener.formats import MAX_TEXT, get_format
from listener.replay import MAX_LINE, ReplaySource
from responders.open311.client import NewRequest, Open311Client
from responders.open311.errors import Open311Error
from tests.fakes.classifier import KeywordClassifier

FORMATS = ["post", "x", "mastodon", "bluesky", "reddit"]
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# every code point, surrogates and NUL included
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
hostile_text = st.one_of(
    any_text,
    st.sampled_from(
        [
            "\udc00",
            "pot\ud800hole",
            "\x00",
            "\u202egnp.exe",
            "<script>alert(1)</script>",
            '=HYPERLINK("http://x")',
            "\ufeff",
            "🕳️" * 50,
            "a" * (MAX_TEXT + 1),
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**310),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=6)
    ),
    max_leaves=20,
)
KEYS = {
    "post": ["platform", "external_id", "text", "created_at", "author", "lat", "lon", "url"],
    "x": ["data", "includes", "id", "text", "created_at", "author_id", "geo", "errors"],
    "mastodon": ["id", "content", "created_at", "account", "reblog", "event", "payload"],
    "bluesky": ["did", "time_us", "kind", "commit", "record", "uri", "author"],
    "reddit": ["kind", "data", "children", "name", "title", "body", "created_utc", "author"],
}
GOOD = {
    "platform": "x",
    "external_id": "1",
    "text": "pothole on Main St",
    "created_at": "2026-11-20T10:00:00Z",
}


def shaped(fmt: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the format's own keys holding hostile values (and, for ``post``, a valid
    post with one field made hostile)."""
    loose = st.fixed_dictionaries({}, optional={k: json_values for k in KEYS[fmt]})
    if fmt != "post":
        return loose
    one_bad = st.builds(
        lambda k, v: {**GOOD, k: v}, st.sampled_from([*GOOD, "author", "url", "lat"]), scalars
    )
    return st.one_of(loose, one_bad)


def json_line(value: Any) -> bytes:
    """A JSON Lines line; ``ensure_ascii`` writes lone surrogates as escapes, as platforms do."""
    return json.dumps(value, allow_nan=True).encode("ascii")


hostile_lines = st.one_of(
    st.binary(max_size=120),  # anything at all
    st.builds(lambda t: t.encode("utf-16", "surrogatepass"), any_text),  # another encoding
    st.builds(lambda t: t.encode("latin-1", "replace"), any_text),
    st.builds(lambda v: b"\xef\xbb\xbf" + json_line(v), json_values),  # a byte order mark
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 100_000)),  # deep nesting
    st.builds(lambda n: b'{"text": ' + b"9" * n + b"}", st.integers(4_000, 6_000)),
    st.just(b'{"text": "' + b"a" * (MAX_LINE + 1) + b'"}'),  # over the line limit
)


def _storable(item: PostIn) -> None:
    for name in ("platform", "external_id", "text", "author", "url", "lang"):
        value = getattr(item, name)
        if isinstance(value, str):
            value.encode("utf-8")  # no lone surrogate
            assert "\x00" not in value
    json.dumps(item.raw, ensure_ascii=False).encode("utf-8")


def _check_items(got: Any) -> list[Any]:
    items = got if isinstance(got, list) else [got]
    for item in items:
        assert item is None or isinstance(item, PostIn | Deletion | Quarantined)
        if isinstance(item, Quarantined):
            assert item.reason.strip()
        if isinstance(item, PostIn):
            _storable(item)
    return items


# --------------------------------------------------------------------------- normalisers


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_normaliser_takes_hostile_values(fmt: str) -> None:
    normalise = get_format(fmt)

    @SETTINGS
    @given(st.one_of(json_values, shaped(fmt), st.lists(shaped(fmt), max_size=3)))
    def check(value: Any) -> None:
        try:
            got = normalise(value)
        except MalformedPayload as exc:
            assert str(exc).strip()
            return
        _check_items(got)

    check()


@SETTINGS
@given(field=st.sampled_from([*GOOD, "author", "url"]), bad=st.sampled_from(["\udc00", "a\x00b"]))
def test_a_post_that_cannot_be_stored_is_refused_with_its_field(field: str, bad: str) -> None:
    value = {**GOOD, field: bad}
    try:
        item = get_format("post")(value)
    except MalformedPayload as exc:
        if field == "platform":
            assert "platform" in str(exc)
        else:
            assert field in str(exc) or "payload" in str(exc)
        return
    # NUL in the text is dropped from the text; the raw payload still holds it
    pytest.fail(f"stored {item!r}")


# --------------------------------------------------------------------------- replay reader


@pytest.mark.parametrize("fmt", FORMATS)
def test_replay_reader_never_crashes_or_drops_a_line(
    fmt: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    @SETTINGS
    @given(
        st.lists(
            st.one_of(hostile_lines, st.builds(json_line, shaped(fmt)), st.just(json_line(GOOD))),
            min_size=1,
            max_size=6,
        )
    )
    def check(lines: list[bytes]) -> None:
        path = tmp_path_factory.mktemp("hostile") / "in.jsonl"
        lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
        path.write_bytes(b"\n".join(lines) + b"\n")
        items = list(ReplaySource("r", path, fmt=fmt).iter_items(None, threading.Event()))
        _check_items(items)
        nonblank = [line for line in lines if line.strip()]
        if fmt == "post":  # one item per line: a post, a deletion or a quarantined record
            assert len(items) == len(nonblank)
        quarantined = [i for i in items if isinstance(i, Quarantined)]
        assert all(q.raw for q in quarantined)

    check()


def test_replay_reader_quarantines_each_kind_of_hostile_line(tmp_path: Path) -> None:
    lines = [
        b"\xff\xfe{}",
        "{}".encode("utf-16"),
        b'{"text": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"text": "' + b"a" * (MAX_LINE + 1) + b'"}',
        b"\xef\xbb\xbf" + json_line(GOOD),
        json_line({**GOOD, "text": "bad \udc00"}),
        json_line(GOOD),
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(ReplaySource("r", path).iter_items(None, threading.Event()))
    reasons = [i.reason if isinstance(i, Quarantined) else "stored" for i in items]
    assert len(reasons) == len(lines)
    assert reasons[-1] == "stored"
    expected = [
        "not valid UTF-8",
        "not valid UTF-8",
        "not valid JSON",
        "nested too deeply",
        "longer than",
        "not valid JSON",
        "lone surrogate",
    ]
    for reason, words in zip(reasons, expected, strict=False):
        assert words in reason, reasons


# --------------------------------------------------------------------------- stored


@pytest.fixture
def hostile_services(tmp_path: Path) -> Iterator[Services]:
    svc = build_services(
        load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", replay_file=None),
        classifier=KeywordClassifier(),
        with_sources=False,
    )
    yield svc
    svc.close()


def _quarantined(engine: Engine) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM quarantinedpayload")).scalar_one())


def test_the_pipeline_stores_or_quarantines_every_hostile_line(
    hostile_services: Services, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pipeline = hostile_services.pipeline
    counter = iter(range(10**9))

    @SETTINGS
    @given(st.lists(st.one_of(hostile_lines, st.builds(json_line, shaped("post"))), max_size=5))
    def check(lines: list[bytes]) -> None:
        # a fresh id on each valid line, so every post is new
        n = next(counter)
        lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
        lines.append(json_line({**GOOD, "external_id": f"ok-{n}"}))
        path = tmp_path_factory.mktemp("store") / "in.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        items = list(ReplaySource("r", path).iter_items(None, threading.Event()))
        before = _quarantined(hostile_services.engine)
        stats = pipeline.ingest(f"src-{n}", items)  # must not raise
        accounted = (
            stats.stored + stats.duplicates + stats.quarantined + stats.deleted + stats.reposts
        )
        assert accounted + stats.own == stats.received == len(items)
        assert _quarantined(hostile_services.engine) - before == stats.quarantined
        assert stats.stored >= 1
        pipeline.classify_pending()

    check()


# --------------------------------------------------------------------------- Open311 responses

bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda v: json.dumps(v, allow_nan=True).encode(), json_values),
    st.builds(
        lambda tag, text: f"<?xml version='1.0'?><{tag}>{text}</{tag}>".encode(),
        st.sampled_from(["service_requests", "services", "errors", "request", "x"]),
        st.text(max_size=40),
    ),
    st.just(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><x>&c;&c;&c;&c;</x>'
    ),
    st.just(b"<html><body>502 Bad Gateway</body></html>"),
)
responses = st.tuples(
    st.sampled_from([200, 201, 400, 401, 403, 404, 429, 500, 502, 503]),
    st.sampled_from(
        ["application/json", "text/xml", "application/xml", "text/html", "text/plain", ""]
    ),
    bodies,
)


def _client(answer: tuple[int, str, bytes]) -> Open311Client:
    status, ctype, body = answer

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": ctype} if ctype else {}
        if status == 429:
            headers["retry-after"] = "not a number"
        return httpx.Response(status, headers=headers, content=body)

    return Open311Client(
        "http://open311.invalid/v2/", jurisdiction_id="city", transport=httpx.MockTransport(handler)
    )


@SETTINGS
@given(responses)
def test_open311_client_turns_any_response_into_values_or_an_open311_error(
    answer: tuple[int, str, bytes],
) -> None:
    calls = [
        lambda c: c.services(),
        lambda c: c.service_definition("REQPOTHL"),
        lambda c: c.requests(service_code="REQPOTHL", start_date=datetime(2026, 11, 1, tzinfo=UTC)),
        lambda c: c.request("101"),
        lambda c: c.create_request(
            NewRequest(service_code="REQPOTHL", description="pothole", lat=42.3, lon=-71.05)
        ),
    ]
    with _client(answer) as client:
        for call in calls:
            try:
                call(client)
            except Open311Error as exc:
                assert str(exc).strip()
