"""Reddit: ``reply(text)`` on the submission or comment through praw (a script app signed
in as the city's account; ``POST /api/comment`` with ``thing_id``).

praw's own waiting is turned off (``ratelimit_seconds=0``) and prawcore's retries are
disabled for the post, so a reply is never re-posted behind the outbox's back; the outbox
retries instead. Reddit has no idempotency key: ``find_existing`` reads the account's
newest comments for one whose parent is the post. Rate limits: 429 (``retry-after`` or
``x-ratelimit-reset`` seconds) or a ``RATELIMIT`` error in the answer ("try again in 5
minutes").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import praw
import prawcore
import requests
from praw.exceptions import PRAWException, RedditAPIException
from prawcore.sessions import FiniteRetryStrategy

from responders.replies.errors import AuthRefused, RateLimited, SendRejected, SendUnavailable
from responders.replies.senders.base import OutgoingReply, ReplyTarget, SentReceipt

_WAIT = re.compile(r"(\d+) (millisecond|second|minute)s?")


@dataclass(frozen=True)
class _NoRetry(FiniteRetryStrategy):
    DEFAULT_RETRIES = 0
    retries: int = 0


def fullname(target: ReplyTarget) -> str:
    """``t3_<id>`` for a submission, ``t1_<id>`` for a comment."""
    ext = target.external_id
    if ext.startswith(("t1_", "t3_")):
        return ext
    raw = target.raw or {}
    data = raw.get("data") if isinstance(raw.get("data"), dict) else raw
    name = data.get("name") if isinstance(data, dict) else None
    if isinstance(name, str) and name.startswith(("t1_", "t3_")):
        return name
    is_comment = isinstance(data, dict) and ("link_id" in data or "parent_id" in data)
    return ("t1_" if is_comment else "t3_") + ext


def _rate_wait(message: str) -> float:
    m = _WAIT.search(message or "")
    if not m:
        return 600.0
    n = int(m.group(1))
    return {"millisecond": 1.0, "second": float(n), "minute": n * 60.0}[m.group(2)]


class RedditSender:
    platform = "reddit"
    idempotent = False
    idempotency_seconds = 0.0

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        user_agent: str,
        oauth_url: str | None = None,
        reddit_url: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 20.0,
    ) -> None:
        overrides: dict[str, Any] = {}
        if oauth_url:
            overrides["oauth_url"] = oauth_url
        if reddit_url:
            overrides["reddit_url"] = reddit_url
        self.reddit = praw.Reddit(
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            user_agent=user_agent,
            check_for_updates=False,
            ratelimit_seconds=0,
            timeout=int(timeout),
            requestor_kwargs={"session": session} if session is not None else None,
            **overrides,
        )
        core = getattr(self.reddit, "_core", None)
        if core is not None and hasattr(core, "_retry_strategy_class"):
            core._retry_strategy_class = _NoRetry
        self.username = username
        self._session = session

    def close(self) -> None:
        requestor = getattr(getattr(self.reddit, "_core", None), "requestor", None)
        if requestor is not None:
            requestor.close()

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except RedditAPIException as exc:
            limited = [i for i in exc.items if i.error_type == "RATELIMIT"]
            if limited:
                raise RateLimited(
                    f"Reddit: {limited[0].message}",
                    retry_after=_rate_wait(limited[0].message or ""),
                ) from exc
            raise SendRejected(f"Reddit refused the reply: {exc}") from exc
        except prawcore.TooManyRequests as exc:
            headers = exc.response.headers
            wait = headers.get("retry-after") or headers.get("x-ratelimit-reset") or "600"
            raise RateLimited(f"Reddit rate limit: {exc}", retry_after=float(wait)) from exc
        except (prawcore.OAuthException, prawcore.InvalidToken) as exc:
            raise AuthRefused(f"Reddit refused the credentials: {exc}") from exc
        except prawcore.ServerError as exc:
            raise SendUnavailable(f"Reddit answered {exc}") from exc
        except prawcore.RequestException as exc:
            raise SendUnavailable(f"Reddit could not be reached: {exc}") from exc
        except prawcore.ResponseException as exc:  # 400, 403 (locked, banned), 404
            raise SendRejected(f"Reddit answered {exc}") from exc
        except PRAWException as exc:
            raise SendRejected(f"Reddit: {exc}") from exc

    def _thing(self, target: ReplyTarget) -> Any:
        name = fullname(target)
        kind, ident = name.split("_", 1)
        return self.reddit.comment(ident) if kind == "t1" else self.reddit.submission(ident)

    def send(self, reply: OutgoingReply) -> SentReceipt:
        comment = self._call(self._thing(reply.target).reply, reply.text)
        if comment is None:
            raise SendUnavailable("Reddit took the reply but returned no comment")
        permalink = getattr(comment, "permalink", None)
        return SentReceipt(
            f"t1_{comment.id}", f"https://www.reddit.com{permalink}" if permalink else None
        )

    def find_existing(self, reply: OutgoingReply) -> SentReceipt | None:
        parent = fullname(reply.target)

        def newest() -> list[Any]:
            return list(self.reddit.redditor(self.username).comments.new(limit=25))

        for comment in self._call(newest):
            if getattr(comment, "parent_id", None) == parent:
                permalink = getattr(comment, "permalink", None)
                return SentReceipt(
                    f"t1_{comment.id}",
                    f"https://www.reddit.com{permalink}" if permalink else None,
                )
        return None
