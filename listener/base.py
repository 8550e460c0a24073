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

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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
