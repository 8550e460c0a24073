"""Reddit through praw: new submissions and comments of chosen subreddits, and the account's
username mentions.

praw signs in (a "script" app with the account's password, or read-only app access when
no account is configured: mentions then need an account) and keeps to Reddit's rate-limit
headers; this module asks for listings as raw JSON (``Reddit.request``) and pages back
from the newest until it reaches the last id it stored, so a pass yields, oldest first,
exactly the things posted since. Ids are fullnames (``t3_`` posts, ``t1_`` comments),
which grow with time; the JSON cursor keeps the newest per feed.

Each pass also re-reads the posts it collected recently (``/api/info``): a post its author
deleted, or moderators removed, becomes a :class:`~listener.base.Deletion`.

Errors: ``TooManyRequests`` → ``RateLimited`` (``x-ratelimit-reset``);
``OAuthException``/``InvalidToken``/``Forbidden`` → ``AuthFailed``; ``ServerError`` and
network errors → ``SourceUnavailable``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import praw
import prawcore
import requests
from pydantic import Field

from listener.base import (
    AuthFailed,
    Deletion,
    Item,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    SourceError,
    SourceUnavailable,
)
from listener.formats import clean_text, opt_str, parse_time, register_format
from listener.platform import (
    PlatformSource,
    SourceOptions,
    each_or_quarantine,
    load_cursor,
    parse_options,
    require_secret,
    retry_after,
)
from listener.registry import register_source

log = logging.getLogger(__name__)
PAGE = 100
RECHECK = 100
_GONE = frozenset({"[deleted]", "[removed]"})


class RedditOptions(SourceOptions):
    subreddits: list[str] = Field(default_factory=list)
    submissions: bool = True
    comments: bool = True
    mentions: bool = True
    max_pages: int = Field(default=5, ge=1, le=10)
    # Re-read this many recently collected items each pass to honour deletions (0: off).
    recheck: int = Field(default=RECHECK, ge=0, le=100)
    # Other endpoints (a proxy); Reddit's own otherwise.
    oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"


# --------------------------------------------------------------------------- format


def _b36(fullname: str) -> int:
    try:
        return int(fullname.split("_", 1)[-1], 36)
    except ValueError:
        return 0


def thing_item(thing: Any) -> Item:
    """A listing child (``{"kind": "t3"|"t1", "data": {...}}``) as a post or a deletion."""
    if not isinstance(thing, dict):
        raise MalformedPayload(f"a thing must be a JSON object, got {type(thing).__name__}")
    kind, data = thing.get("kind"), thing.get("data")
    if kind not in ("t1", "t3"):
        raise MalformedPayload(f"kind must be t1 or t3, got {kind!r}")
    if not isinstance(data, dict):
        raise MalformedPayload("data is missing")
    name = opt_str(data, "name", 32) or (f"{kind}_{data['id']}" if data.get("id") else None)
    if not name or not name.startswith(f"{kind}_"):
        raise MalformedPayload("name is missing")
    author = opt_str(data, "author", 64) or ""
    if kind == "t3":
        title = clean_text(data.get("title"), "title")
        body = data.get("selftext") or ""
        gone = author == "[deleted]" or body in _GONE or data.get("removed_by_category")
        text = f"{title}\n\n{clean_text(body, 'selftext')}".strip() if body else title
    else:
        body = clean_text(data.get("body"), "body")
        gone = author == "[deleted]" or body in _GONE
        text = body
    if gone:
        return Deletion(platform="reddit", external_id=name)
    permalink = opt_str(data, "permalink")
    crosspost = opt_str(data, "crosspost_parent", 32)
    parent = opt_str(data, "parent_id", 32) if kind == "t1" else None
    return PostIn(
        platform="reddit",
        external_id=name,
        text=text,
        created_at=parse_time(data.get("created_utc"), "created_utc"),
        author=author,
        author_id=opt_str(data, "author_fullname", 32),
        url=f"https://www.reddit.com{permalink}" if permalink else None,
        in_reply_to_id=parent,
        conversation_id=opt_str(data, "link_id", 32) if kind == "t1" else name,
        repost_of_id=crosspost,
        raw=thing,
    )


@register_format("reddit")
def normalise_reddit(obj: Any) -> Item | list[Item] | None:
    """Reddit listings (``{"kind": "Listing", ...}``), a list of listings, or one thing."""
    if isinstance(obj, list):
        out: list[Item] = []
        for part in obj:
            got = normalise_reddit(part)
            out.extend(got if isinstance(got, list) else [got] if got else [])
        return out
    if isinstance(obj, dict) and obj.get("kind") == "Listing":
        data = obj.get("data")
        children = data.get("children") if isinstance(data, dict) else None
        if not isinstance(children, list):
            raise MalformedPayload("Listing has no data.children")
        return each_or_quarantine(children, thing_item, "reddit")
    return thing_item(obj)


# --------------------------------------------------------------------------- source


def _translate(exc: Exception, now: Any, what: str) -> SourceError:
    response = getattr(exc, "response", None)
    if isinstance(exc, prawcore.TooManyRequests):
        headers = dict(response.headers) if response is not None else {}
        return RateLimited(f"Reddit {what}: 429", retry_after=retry_after(headers, now))
    if isinstance(exc, prawcore.OAuthException | prawcore.InvalidToken | prawcore.Forbidden) or (
        isinstance(exc, prawcore.ResponseException)
        and response is not None
        and response.status_code == 401
    ):
        return AuthFailed(f"Reddit {what}: credentials refused ({exc})")
    return SourceUnavailable(f"Reddit {what}: {exc.__class__.__name__}: {exc}")


class RedditSource(PlatformSource):
    kind = "reddit"

    def __init__(
        self, name: str, options: RedditOptions, *, reddit: praw.Reddit, **deps: Any
    ) -> None:
        super().__init__(name, options, **deps)
        self.opts = options
        self.reddit = reddit
        self.recent: list[str] = list(self.state.load(name).get("recent") or [])

    def close(self) -> None:
        requestor = getattr(getattr(self.reddit, "_core", None), "_requestor", None)
        if requestor is not None:
            requestor.close()

    def feeds(self) -> list[str]:
        out = []
        subs = "+".join(s.removeprefix("r/") for s in self.opts.subreddits)
        if subs and self.opts.submissions:
            out.append(f"new:{subs}")
        if subs and self.opts.comments:
            out.append(f"comments:{subs}")
        if self.opts.mentions and not self.reddit.read_only:
            out.append("mentions")
        return out

    def _get(self, what: str, path: str, params: dict[str, Any]) -> Any:
        try:
            return self.reddit.request(method="GET", path=path, params=params)
        except (
            prawcore.PrawcoreException,
            praw.exceptions.PRAWException,
            requests.RequestException,
        ) as exc:
            raise _translate(exc, self.clock(), what) from exc

    def _listing(self, feed: str, newest: str | None) -> list[Any]:
        """Children newer than ``newest``, oldest first."""
        if feed.startswith("new:"):
            path = f"/r/{feed[4:]}/new"
        elif feed.startswith("comments:"):
            path = f"/r/{feed[9:]}/comments"
        else:
            path = "/message/mentions"
        floor = _b36(newest) if newest else None
        children: list[Any] = []
        after: str | None = None
        for _ in range(self.opts.max_pages if newest else 1):
            params: dict[str, Any] = {"limit": PAGE, "raw_json": 1}
            if after:
                params["after"] = after
            body = self._get(feed, path, params)
            data = body.get("data") if isinstance(body, dict) else None
            page = data.get("children") if isinstance(data, dict) else None
            if not isinstance(page, list):
                raise SourceUnavailable(f"Reddit {feed}: answer is not a listing")
            reached = False
            for child in page:
                cname = _child_name(child)
                if floor is not None and cname and _b36(cname) <= floor:
                    reached = True
                    break
                children.append(child)
            after = data.get("after") if isinstance(data, dict) else None
            if reached or not after or not page:
                break
        else:
            if newest:
                log.warning(
                    "Reddit %s: more than %d pages since the last pass", feed, self.opts.max_pages
                )
        return sorted(children, key=lambda c: _b36(_child_name(c) or ""))

    def _recheck(self, state: dict[str, str], stop: threading.Event) -> Iterator[Item]:
        ids = self.recent[-self.opts.recheck :] if self.opts.recheck else []
        if not ids or stop.is_set():
            return
        body = self._get("info", "/api/info", {"id": ",".join(ids), "raw_json": 1})
        data = body.get("data") if isinstance(body, dict) else None
        for child in (data or {}).get("children") or []:
            try:
                item = thing_item(child)
            except MalformedPayload:
                continue
            if isinstance(item, Deletion):
                self.recent = [r for r in self.recent if r != item.external_id]
                item.cursor = json.dumps(state, sort_keys=True)
                yield item

    def _remember(self, fullname: str) -> None:
        self.recent.append(fullname)
        if len(self.recent) > RECHECK:
            self.recent = self.recent[-RECHECK:]

    def _pass(self, state: dict[str, str], stop: threading.Event) -> Iterator[Item]:
        for feed in self.feeds():
            if stop.is_set():
                return
            for child in self._listing(feed, state.get(feed)):
                cname = _child_name(child)
                if cname:
                    state[feed] = cname
                try:
                    item = thing_item(child)
                except MalformedPayload as exc:
                    raw = json.dumps(child, default=str).encode()
                    item = Quarantined(raw=raw, reason=f"reddit: {exc}", platform="reddit")
                if isinstance(item, PostIn):
                    self._remember(item.external_id)
                item.cursor = json.dumps(state, sort_keys=True)
                if self.keep(item):
                    yield item
        yield from self._recheck(state, stop)
        self.state.save(self.name, "recent", self.recent)

    def _iter(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        state = load_cursor(cursor, "Reddit")
        self.monitor.set_state("running")
        while True:
            yield from self._pass(state, stop)
            if self.wait(self.opts.poll_seconds, stop):
                return

    def _one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        yield from self._pass(load_cursor(cursor, "Reddit"), stop)


def _child_name(child: Any) -> str | None:
    data = child.get("data") if isinstance(child, dict) else None
    if not isinstance(data, dict):
        return None
    name = data.get("name")
    if isinstance(name, str):
        return name
    if isinstance(data.get("id"), str) and isinstance(child.get("kind"), str):
        return f"{child['kind']}_{data['id']}"
    return None


_SUB = re.compile(r"^(r/)?[A-Za-z0-9_]{2,21}$")


@register_source("reddit")
def make_reddit(name: str, config: dict[str, Any], **deps: Any) -> RedditSource:
    from civic_listener.settings import SettingsError

    options = parse_options(RedditOptions, "reddit", name, config)
    settings = deps["settings"]
    bad = [s for s in options.subreddits if not _SUB.match(s)]
    if bad:
        raise SettingsError(f"source {name!r} (reddit): not subreddit names: {', '.join(bad)}")
    if not settings.reddit_client_id:
        raise SettingsError(f"source {name!r} (reddit) needs CIVIC_REDDIT_CLIENT_ID")
    secret = require_secret(
        settings.reddit_client_secret, "reddit", name, "CIVIC_REDDIT_CLIENT_SECRET"
    )
    account: dict[str, Any] = {}
    if settings.reddit_username:
        account = {
            "username": settings.reddit_username,
            "password": require_secret(
                settings.reddit_password, "reddit", name, "CIVIC_REDDIT_PASSWORD"
            ),
        }
    elif options.mentions and not options.subreddits:
        raise SettingsError(f"source {name!r} (reddit): mentions need CIVIC_REDDIT_USERNAME")
    session = (deps.get("transports") or {}).get("reddit")
    reddit = praw.Reddit(
        client_id=str(settings.reddit_client_id),
        client_secret=secret,
        user_agent=settings.reddit_user_agent,
        oauth_url=options.oauth_url,
        reddit_url=options.reddit_url,
        requestor_kwargs={"session": session() if callable(session) else requests.Session()},
        check_for_updates=False,
        check_for_async=False,
        **account,
    )
    if not account:
        reddit.read_only = True
    return RedditSource(
        name,
        options,
        reddit=reddit,
        clock=deps.get("clock"),
        state=deps.get("state"),
        sleep=deps.get("sleep"),
    )
