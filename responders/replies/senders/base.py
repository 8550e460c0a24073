"""What a sender is: one platform's way to post a reply and to look for one already posted.

A sender raises only :mod:`responders.replies.errors` ``SendError`` subclasses; each module
translates its SDK's errors at the edge. ``find_existing`` reads the thread for the city's
own reply to the post: the outbox calls it before re-sending a reply whose earlier attempt
may have reached the platform (a crash after sending, or a dropped connection), on
platforms that offer no idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The resident's post, as stored by the listener."""

    platform: str
    external_id: str
    author: str
    created_at: datetime
    url: str | None = None
    conversation_id: str | None = None
    in_reply_to_id: str | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OutgoingReply:
    reply_id: int
    text: str
    language: str
    idempotency_key: str
    target: ReplyTarget


@dataclass(frozen=True, slots=True)
class SentReceipt:
    """The platform's id for the posted reply (what the listener will see it as) and a link."""

    platform_id: str
    url: str | None = None


class Sender(Protocol):
    platform: str
    # True when the platform itself refuses a second post with the same idempotency key,
    # for ``idempotency_seconds`` after the first
    idempotent: bool
    idempotency_seconds: float

    def send(self, reply: OutgoingReply) -> SentReceipt: ...

    def find_existing(self, reply: OutgoingReply) -> SentReceipt | None: ...

    def close(self) -> None: ...
