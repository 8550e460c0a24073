"""X: ``create_tweet(text=..., in_reply_to_tweet_id=...)`` through tweepy with user-context
OAuth 1.0a (the city account's consumer key and access token).

X has no idempotency key, so ``find_existing`` reads the account's own posts since the
resident's post and looks for one that replies to it. Rate limits come back as 429 with
``x-rate-limit-reset`` (epoch seconds). Pay-per-use pricing bills every post; see
:mod:`responders.replies.cost`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from responders.replies.errors import AuthRefused, RateLimited, SendRejected, SendUnavailable
from responders.replies.senders.base import OutgoingReply, SentReceipt


class _TimeoutAdapter(HTTPAdapter):
    """tweepy sends without a timeout; every request through this adapter gets one."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _reason(exc: tweepy.HTTPException) -> str:
    messages = "; ".join(str(m) for m in exc.api_messages) or exc.response.reason or ""
    return f"X answered {exc.response.status_code}: {messages}".strip()


class XSender:
    platform = "x"
    idempotent = False
    idempotency_seconds = 0.0

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        session: requests.Session | None = None,
        timeout: float = 20.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = tweepy.Client(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            return_type=dict,
            wait_on_rate_limit=False,
        )
        if session is None:
            session = requests.Session()
            adapter = _TimeoutAdapter(timeout)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.client.session = session
        self.wall = wall
        self._me: str | None = None

    def close(self) -> None:
        self.client.session.close()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except tweepy.TooManyRequests as exc:
            wait = exc.reset_time - self.wall() if exc.reset_time else 900.0
            raise RateLimited(_reason(exc), retry_after=wait) from exc
        except tweepy.Unauthorized as exc:
            raise AuthRefused(_reason(exc)) from exc
        except tweepy.TwitterServerError as exc:
            raise SendUnavailable(_reason(exc)) from exc
        except tweepy.HTTPException as exc:  # 400, 403 (duplicate, not allowed), 404
            raise SendRejected(_reason(exc)) from exc
        except requests.RequestException as exc:
            raise SendUnavailable(f"X could not be reached: {exc}") from exc

    def send(self, reply: OutgoingReply) -> SentReceipt:
        body = self._call(
            self.client.create_tweet,
            text=reply.text,
            in_reply_to_tweet_id=reply.target.external_id,
            user_auth=True,
        )
        try:
            tweet_id = str(body["data"]["id"])
        except (KeyError, TypeError) as exc:
            raise SendUnavailable(f"X answered without a post id: {body!r:.200}") from exc
        return SentReceipt(tweet_id, f"https://x.com/i/web/status/{tweet_id}")

    def _my_id(self) -> str:
        if self._me is None:
            body = self._call(self.client.get_me, user_auth=True)
            self._me = str(body["data"]["id"])
        return self._me

    def find_existing(self, reply: OutgoingReply) -> SentReceipt | None:
        """The account's reply to the post, when one was posted (reads at most 20 posts)."""
        body = self._call(
            self.client.get_users_tweets,
            self._my_id(),
            since_id=reply.target.external_id,
            max_results=20,
            tweet_fields=["referenced_tweets", "conversation_id"],
            user_auth=True,
        )
        for tweet in body.get("data") or []:
            for ref in tweet.get("referenced_tweets") or []:
                if (
                    ref.get("type") == "replied_to"
                    and str(ref.get("id")) == reply.target.external_id
                ):
                    tid = str(tweet["id"])
                    return SentReceipt(tid, f"https://x.com/i/web/status/{tid}")
        return None
