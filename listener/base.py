"""The source contract: what a source yields and how it fails.

Exceptions raised by sources (platform SDK errors are translated at the edge with
``raise ... from exc``)::

    SourceError
     ├── RateLimited(retry_after)   the platform said slow down; wait, then resume
     ├── AuthFailed                 credentials refused; the source stops until fixed
     └── SourceUnavailable          network down, 5xx, dropped stream; back off and resume
    MalformedPayload                one payload could not be normalised (quarantined, run goes on)
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import orjson

PLATFORMS = frozenset({"x", "mastodon", "bluesky", "reddit"})


class SourceError(Exception):
    """A source could not deliver."""


class RateLimited(SourceError):
    def __init__(self, message: str = "rate limited", *, retry_after: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthFailed(SourceError):
    """The platform refused the credentials."""


class SourceUnavailable(SourceError):
    """The platform could not be reached or answered with a server error."""


class MalformedPayload(ValueError):
    """A payload that cannot be turned into a post; the message is the quarantine reason."""


@dataclass(slots=True)
class PostIn:
    """A post normalised at the edge: the one shape every platform turns into."""

    platform: str
    external_id: str
    text: str
    created_at: datetime
    author: str = ""
    author_id: str | None = None
    url: str | None = None
    lang: str | None = None
    in_reply_to_id: str | None = None
    conversation_id: str | None = None
    repost_of_id: str | None = None
    quote_of_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    mentions: tuple[str, ...] = ()
    raw: dict[str, Any] | None = None
    # The city a source already knows the post belongs to (slug); None means "route it".
    city: str | None = None
    cursor: str | None = None

    def __post_init__(self) -> None:
        """Refuse what no database can store, so it is quarantined instead of failing the
        batch: a lone surrogate (JSON allows ``\\udc00``; UTF-8 does not) or a NUL
        character, in any text field or anywhere in the raw payload."""
        joined = "".join([v for v in _TEXT_VALUES(self) if isinstance(v, str)])
        if _storable(joined):  # every field at once; the field at fault is named below
            _check_rest(self)
            return
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and not _storable(value):
                raise MalformedPayload(f"{name} {_UNSTORABLE}")
        _check_rest(self)


_TEXT_FIELDS = (
    "platform",
    "external_id",
    "text",
    "author",
    "author_id",
    "url",
    "lang",
    "in_reply_to_id",
    "conversation_id",
    "repost_of_id",
    "quote_of_id",
    "city",
)
_UNSTORABLE = "holds a lone surrogate or a NUL character, which cannot be stored"
_TEXT_VALUES = operator.attrgetter(*_TEXT_FIELDS)


def _check_rest(post: PostIn) -> None:
    """The mentions and the raw payload of a post whose text fields are storable."""
    if not all(_storable(m) for m in post.mentions if isinstance(m, str)):
        raise MalformedPayload(f"mentions {_UNSTORABLE}")
    if post.raw is not None and not _storable_json(post.raw):
        raise MalformedPayload(f"the payload {_UNSTORABLE}")


def _storable(text: str) -> bool:
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _storable_json(value: Any, depth: int = 0) -> bool:
    """Every string and key of a decoded JSON value is storable (PostgreSQL's JSONB refuses
    ``\\u0000`` and lone surrogates)."""
    if depth == 0 and isinstance(value, dict):
        # fast path: orjson refuses lone surrogates and writes a NUL as the escape "\\u0000";
        # what it refuses for other reasons (keys that are not strings, big integers, deep
        # nesting) or a text that may hold a NUL is checked one value at a time below
        try:
            if b"\\u0000" not in orjson.dumps(value):
                return True
        except TypeError:
            pass
    if isinstance(value, str):
        return _storable(value)
    if depth > 200:
        return False
    if isinstance(value, dict):
        return all(
            _storable(k) and _storable_json(v, depth + 1)
            for k, v in value.items()
            if isinstance(k, str)
        )
    if isinstance(value, list | tuple):
        return all(_storable_json(v, depth + 1) for v in value)
    return True


@dataclass(slots=True)
class Quarantined:
    """A payload that failed normalisation: kept with its raw bytes and the reason."""

    raw: bytes
    reason: str
    platform: str | None = None
    cursor: str | None = None


@dataclass(slots=True)
class Deletion:
    """The author deleted a post: the stored copy is removed."""

    platform: str
    external_id: str
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not all(_storable(v) for v in (self.platform, self.external_id) if isinstance(v, str)):
            raise MalformedPayload(f"the deleted post's id {_UNSTORABLE}")


Item = PostIn | Quarantined | Deletion


@dataclass(slots=True)
class SourceHealth:
    state: str = "idle"  # idle | running | backing_off | stopped | failed | finished
    last_error: str | None = None
    items: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    """Yields items from ``cursor`` on until exhausted or ``stop`` is set.

    Each item carries the cursor to resume *after* it; the pipeline stores that cursor in
    the same transaction as the item, so a restart neither skips nor repeats.
    """

    name: str
    finite: bool

    def iter_items(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]: ...
