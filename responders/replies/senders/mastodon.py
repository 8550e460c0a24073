"""Mastodon: ``status_post(text, in_reply_to_id=..., idempotency_key=...)`` through Mastodon.py.

Mastodon keeps an ``Idempotency-Key`` for an hour and answers a repeated post with the
status it already created, so a reply re-sent after a crash or a dropped connection is not
posted twice; the key is the reply row's ``idempotency_key``. ``in_reply_to_id`` is the
post's id on the city's own instance (the listener reads through the same instance).
Rate limits: 429 with ``X-RateLimit-Reset`` (an ISO time); Mastodon.py is told to raise
instead of sleeping so the outbox decides when to retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from mastodon.errors import MastodonError

from responders.replies.errors import AuthRefused, RateLimited, SendRejected, SendUnavailable
from responders.replies.senders.base import OutgoingReply, SentReceipt


def _reason(exc: MastodonError) -> str:
    parts = [str(a) for a in exc.args[1:] if a is not None] or [str(exc)]
    return "Mastodon answered " + " ".join(parts)


class MastodonSender:
    platform = "mastodon"
    idempotent = True
    idempotency_seconds = 3600.0  # how long Mastodon remembers an Idempotency-Key

    def __init__(
        self,
        *,
        api_base_url: str,
        access_token: str,
        visibility: str = "public",
        timeout: float = 20.0,
        session: requests.Session | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.api = Mastodon(
            access_token=access_token,
            api_base_url=api_base_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            version_check_mode="none",
            session=session,
        )
        self.visibility = visibility
        self.wall = wall
        self._me: str | None = None

    def close(self) -> None:
        self.api.session.close()

    def send(self, reply: OutgoingReply) -> SentReceipt:
        try:
            status = self.api.status_post(
                reply.text,
                in_reply_to_id=reply.target.external_id,
                idempotency_key=reply.idempotency_key,
                visibility=self.visibility,
                language=reply.language or None,
            )
        except MastodonRatelimitError as exc:
            reset = self.api.ratelimit_reset
            wait = reset - self.wall() if reset else 300.0
            raise RateLimited(f"Mastodon rate limit: {exc}", retry_after=wait) from exc
        except MastodonUnauthorizedError as exc:
            raise AuthRefused(_reason(exc)) from exc
        except MastodonNotFoundError as exc:
            raise SendRejected(_reason(exc) + " (the post is gone or not visible)") from exc
        except MastodonServerError as exc:
            raise SendUnavailable(_reason(exc)) from exc
        except MastodonNetworkError as exc:
            raise SendUnavailable(f"Mastodon could not be reached: {exc}") from exc
        except MastodonAPIError as exc:  # 403, 422 validation (too long, ...)
            raise SendRejected(_reason(exc)) from exc
        except MastodonError as exc:
            raise SendUnavailable(f"Mastodon: {exc}") from exc
        return SentReceipt(str(status["id"]), status.get("url"))

    def find_existing(self, reply: OutgoingReply) -> SentReceipt | None:
        """The account's reply among the post's descendants. The outbox asks only when the
        idempotency key may have expired (the last attempt is more than an hour old)."""
        parent = reply.target.external_id
        try:
            if self._me is None:
                self._me = str(self.api.account_verify_credentials()["id"])
            context = self.api.status_context(parent)
        except MastodonRatelimitError as exc:
            raise RateLimited(f"Mastodon rate limit: {exc}", retry_after=300.0) from exc
        except MastodonUnauthorizedError as exc:
            raise AuthRefused(_reason(exc)) from exc
        except MastodonNotFoundError as exc:
            raise SendRejected(_reason(exc) + " (the post is gone or not visible)") from exc
        except MastodonError as exc:
            raise SendUnavailable(f"Mastodon: {exc}") from exc
        for status in context["descendants"] or []:
            account = status["account"] or {}
            if str(account["id"]) == self._me and str(status["in_reply_to_id"]) == parent:
                return SentReceipt(str(status["id"]), status.get("url"))
        return None
