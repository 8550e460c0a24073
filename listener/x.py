"""X (Twitter) API v2 through tweepy: the filtered stream, recent search and mentions.

Modes (``mode`` option):

- ``stream``: the v2 filtered stream with the configured rules (every rule has a tag;
  ``sync_rules`` makes the account's rules match the configuration). The handler catches
  its own errors, so one bad line is quarantined and the stream goes on. Closing sets the
  stream's running flag and closes the HTTP response and session, so no stale connection
  keeps the account's single stream slot (429 TooManyConnections). After a reconnect,
  recent search with ``since_id`` fills the gap.
- ``poll``: recent search for each rule's query and the mentions of the city's accounts,
  each with its own ``since_id``; for access levels without streaming.

Every post read counts against a monthly :class:`~listener.budget.ReadBudget`: polling
slows down past ``budget_slow_at``, a stream falls back to paced polling there, and
reading stops at ``budget_stop_at`` until the period resets.

The cursor is JSON: ``{"stream": newest stream id, "search:<tag>": id, "mentions:<user id>": id}``.

Errors: tweepy's are translated at this edge: ``TooManyRequests`` → ``RateLimited`` with
the ``x-rate-limit-reset`` time; ``Unauthorized``/``Forbidden`` → ``AuthFailed``;
``TwitterServerError`` and network errors → ``SourceUnavailable``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
import tweepy
from pydantic import BaseModel, ConfigDict, Field, field_validator

from listener.base import (
    AuthFailed,
    Item,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    SourceError,
    SourceUnavailable,
)
from listener.budget import ReadBudget
from listener.formats import clean_text, opt_str, parse_time, register_format
from listener.http import shutdown_socket
from listener.platform import (
    PlatformSource,
    SourceOptions,
    city_settings,
    each_or_quarantine,
    load_cursor,
    parse_options,
    require_secret,
    retry_after,
)
from listener.registry import register_source

log = logging.getLogger(__name__)
X_HOST = "https://api.twitter.com"
TWEET_FIELDS = [
    "created_at",
    "author_id",
    "conversation_id",
    "lang",
    "referenced_tweets",
    "entities",
    "geo",
    "in_reply_to_user_id",
    "note_tweet",
]
EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"]
USER_FIELDS = ["username"]
MAX_LINE = 1_000_000


class XRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=1024)
    tag: str = Field(min_length=1, max_length=64)


class XOptions(SourceOptions):
    mode: str = "poll"
    rules: list[XRule] = Field(default_factory=list)
    mentions: bool = True
    sync_rules: bool = True
    monthly_read_budget: int = Field(default=10_000, ge=1, le=2_000_000)
    cost_per_read_usd: float = Field(default=0.005, ge=0)
    budget_slow_at: float = Field(default=0.8, gt=0, le=1)
    budget_stop_at: float = Field(default=0.98, gt=0, le=1)
    budget_reset_day: int = Field(default=1, ge=1, le=28)
    max_results: int = Field(default=100, ge=10, le=100)
    max_pages: int = Field(default=5, ge=1, le=50)
    # Another base URL for the API (an egress proxy); tweepy's own host otherwise.
    api_base: str | None = None

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("stream", "poll"):
            raise ValueError("must be 'stream' or 'poll'")
        return value


# --------------------------------------------------------------------------- format


def _users(includes: Any) -> dict[str, str]:
    users = includes.get("users") if isinstance(includes, dict) else None
    out: dict[str, str] = {}
    for user in users or []:
        if (
            isinstance(user, dict)
            and isinstance(user.get("id"), str)
            and isinstance(user.get("username"), str)
        ):
            out[user["id"]] = user["username"]
    return out


def tweet_item(tweet: Any, users: dict[str, str] | None = None) -> PostIn:
    """One v2 tweet object (with the ``includes.users`` of its response) as a post."""
    if not isinstance(tweet, dict):
        raise MalformedPayload(f"a tweet must be a JSON object, got {type(tweet).__name__}")
    tid = opt_str(tweet, "id", 32)
    if not tid or not tid.isdigit():
        raise MalformedPayload("id is missing or not numeric")
    text = tweet.get("text")
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        text = note["text"]  # a long post's full text
    author_id = opt_str(tweet, "author_id", 32)
    username = (users or {}).get(author_id or "", "")
    refs: dict[str, str] = {}
    for ref in tweet.get("referenced_tweets") or []:
        if isinstance(ref, dict) and isinstance(ref.get("type"), str):
            rid = ref.get("id")
            if isinstance(rid, str):
                refs[ref["type"]] = rid
    lat = lon = None
    geo = tweet.get("geo")
    if isinstance(geo, dict) and isinstance(geo.get("coordinates"), dict):
        coords = geo["coordinates"].get("coordinates")
        if (
            isinstance(coords, list)
            and len(coords) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
        ):
            lon, lat = float(coords[0]), float(coords[1])
            if abs(lat) > 90 or abs(lon) > 180:
                raise MalformedPayload("geo.coordinates out of range")
    mentions: list[str] = []
    entities = tweet.get("entities")
    if isinstance(entities, dict):
        for m in entities.get("mentions") or []:
            if isinstance(m, dict) and isinstance(m.get("username"), str):
                mentions.append(m["username"].lower())
    return PostIn(
        platform="x",
        external_id=tid,
        text=clean_text(text),
        created_at=parse_time(tweet.get("created_at")),
        author=username,
        author_id=author_id,
        url=f"https://x.com/{username or 'i/web'}/status/{tid}",
        lang=opt_str(tweet, "lang", 16),
        in_reply_to_id=refs.get("replied_to"),
        conversation_id=opt_str(tweet, "conversation_id", 32),
        repost_of_id=refs.get("retweeted"),
        quote_of_id=refs.get("quoted"),
        lat=lat,
        lon=lon,
        mentions=tuple(mentions),
    )


def _with_raw(item: PostIn, tweet: dict[str, Any], obj: dict[str, Any]) -> PostIn:
    raw: dict[str, Any] = {"data": tweet}
    author = next(
        (
            u
            for u in (obj.get("includes") or {}).get("users") or []
            if isinstance(u, dict) and u.get("id") == item.author_id
        ),
        None,
    )
    if author is not None:
        raw["includes"] = {"users": [author]}
    if isinstance(obj.get("matching_rules"), list):
        raw["matching_rules"] = obj["matching_rules"]
    item.raw = raw
    return item


@register_format("x")
def normalise_x(obj: Any) -> Item | list[Item] | None:
    """X API v2: a stream line or a response (``data`` a tweet or a list), or a bare tweet."""
    if not isinstance(obj, dict):
        raise MalformedPayload(f"X payload must be a JSON object, got {type(obj).__name__}")
    if "data" not in obj:
        if "errors" in obj:
            return None  # an error or disconnect notice carries no post
        if "id" in obj and "text" in obj:
            return tweet_item(obj)
        raise MalformedPayload("data is missing")
    users = _users(obj.get("includes"))
    data = obj["data"]
    if isinstance(data, list):
        return each_or_quarantine(data, lambda t: _with_raw(tweet_item(t, users), t, obj), "x")
    if not isinstance(data, dict):
        raise MalformedPayload("data must be a tweet object or a list")
    return _with_raw(tweet_item(data, users), data, obj)


# --------------------------------------------------------------------------- errors


def _translate(exc: Exception, now: Any, what: str) -> SourceError:
    if isinstance(exc, tweepy.TooManyRequests):
        headers = dict(exc.response.headers) if exc.response is not None else {}
        return RateLimited(f"X {what}: 429 rate limited", retry_after=retry_after(headers, now))
    if isinstance(exc, tweepy.Unauthorized | tweepy.Forbidden):
        return AuthFailed(f"X {what}: credentials refused ({exc})")
    if isinstance(exc, tweepy.TwitterServerError):
        return SourceUnavailable(f"X {what}: server error ({exc})")
    if isinstance(exc, tweepy.HTTPException):
        return SourceUnavailable(f"X {what}: {exc}")
    return SourceUnavailable(f"X {what}: {exc.__class__.__name__}: {exc}")


# --------------------------------------------------------------------------- stream


class _Stream(tweepy.StreamingClient):
    """tweepy's filtered stream with every callback turned into a queue event.

    ``max_retries=0`` and ``disconnect()`` on each error hand reconnecting to the service's
    backoff (which honours reset headers) instead of tweepy's own sleeps.
    """

    def __init__(self, bearer_token: str, out: queue.Queue[tuple[str, Any]]) -> None:
        super().__init__(
            bearer_token,
            return_type=requests.Response,
            wait_on_rate_limit=False,
            max_retries=0,
            daemon=True,
        )
        self.out = out
        self.response: requests.Response | None = None
        self.session.hooks["response"].append(self._capture)

    def _capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "/stream" in response.url and "/rules" not in response.url:
            self.response = response

    def on_data(self, raw_data: bytes) -> None:
        try:
            self.out.put(("data", raw_data))
        except Exception as exc:  # the handler never lets one line kill the stream
            log.error("X stream: could not queue a line: %s", exc)

    def on_keep_alive(self) -> None:
        self.out.put(("keepalive", None))

    def on_connect(self) -> None:
        self.out.put(("connected", None))

    def on_request_error(self, status_code: int) -> None:
        resp = self.response
        headers = dict(resp.headers) if resp is not None else {}
        body = resp.text[:300] if resp is not None else ""
        self.out.put(("http_error", (status_code, headers, body)))
        self.disconnect()

    def on_connection_error(self) -> None:
        self.out.put(("dropped", "connection error or timeout"))
        self.disconnect()

    def on_closed(self, response: requests.Response) -> None:
        self.out.put(("dropped", "closed by X"))
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        self.out.put(("dropped", f"{exception.__class__.__name__}: {exception}"))

    def on_disconnect(self) -> None:
        self.out.put(("closed", None))

    def close(self) -> None:
        """Stop reading and close the connection so X frees the stream slot at once."""
        self.disconnect()
        resp = self.response
        if resp is not None:
            shutdown_socket(resp)
            try:
                resp.close()
            except Exception as exc:  # closing is best effort; the session close follows
                log.debug("X stream: closing the response: %s", exc)
        self.session.close()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)


# --------------------------------------------------------------------------- source


class XSource(PlatformSource):
    kind = "x"

    def __init__(
        self,
        name: str,
        options: XOptions,
        *,
        bearer_token: str,
        city_accounts: list[str],
        adapter: Any = None,
        **deps: Any,
    ) -> None:
        super().__init__(name, options, **deps)
        self.opts = options
        self.bearer_token = bearer_token
        self.city_accounts = [a.lstrip("@") for a in city_accounts]
        self.adapter = adapter
        if adapter is None and options.api_base:
            from listener.http import RebaseAdapter

            self.adapter = RebaseAdapter(options.api_base)
        self.client = tweepy.Client(
            bearer_token, return_type=requests.Response, wait_on_rate_limit=False
        )
        self._mount(self.client.session)
        self.budget = ReadBudget(
            name,
            monthly_reads=options.monthly_read_budget,
            cost_per_read=options.cost_per_read_usd,
            slow_at=min(options.budget_slow_at, options.budget_stop_at),
            stop_at=options.budget_stop_at,
            reset_day=options.budget_reset_day,
            clock=self.clock,
            store=self.state,
        )
        self.monitor.budget = self.budget.snapshot
        self.user_ids: dict[str, str] = dict(self.state.load(name).get("user_ids") or {})
        self._stream: _Stream | None = None

    def close(self) -> None:
        self.client.session.close()
        self.budget.save()

    def _mount(self, session: requests.Session) -> None:
        if self.adapter is not None:
            session.mount(X_HOST, self.adapter)

    # ------------------------------------------------------------------ REST

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = fn(*args, **kwargs)
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise _translate(exc, self.clock(), what) from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise SourceUnavailable(f"X {what}: answer is not JSON") from exc
        return body if isinstance(body, dict) else {}

    def _lookup_users(self) -> dict[str, str]:
        missing = [u for u in self.city_accounts if u.lower() not in self.user_ids]
        if missing:
            body = self._call("users lookup", self.client.get_users, usernames=missing[:100])
            for user in body.get("data") or []:
                if isinstance(user, dict) and "username" in user and "id" in user:
                    self.user_ids[str(user["username"]).lower()] = str(user["id"])
            self.state.save(self.name, "user_ids", self.user_ids)
        return {
            u: self.user_ids[u.lower()] for u in self.city_accounts if u.lower() in self.user_ids
        }

    def _pages(
        self, what: str, fn: Callable[..., Any], since_id: str | None, **params: Any
    ) -> list[Item]:
        """Every page newer than ``since_id``, oldest post first, each read charged."""
        items: list[Item] = []
        token: str | None = None
        pages = self.opts.max_pages if since_id else 1  # a first poll reads one page
        for page in range(pages):
            if self.budget.remaining() <= 0:
                log.warning("X %s: read budget reached; older posts of this poll skipped", what)
                break
            # the API asks for 10 to 100; near the stop point at most 9 reads go past it
            size = min(self.opts.max_results, max(10, self.budget.remaining()))
            kwargs = dict(
                params,
                since_id=since_id,
                max_results=size,
                tweet_fields=TWEET_FIELDS,
                expansions=EXPANSIONS,
                user_fields=USER_FIELDS,
            )
            if token:
                kwargs["pagination_token" if what == "mentions" else "next_token"] = token
            body = self._call(what, fn, **kwargs)
            data = body.get("data") or []
            includes = body.get("includes") or {}
            self.budget.charge(len(data) + len(includes.get("tweets") or []))
            page_items = normalise_x({**body, "data": data}) if data else []
            items.extend(
                page_items if isinstance(page_items, list) else [page_items] if page_items else []
            )
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
            if page == pages - 1 and since_id:
                log.warning(
                    "X %s: more than %d pages since the last poll; older posts skipped", what, pages
                )
        self.budget.save()

        def order(item: Item) -> int:
            return int(item.external_id) if isinstance(item, PostIn) else 0

        return sorted(items, key=order)

    def _poll(
        self, state: dict[str, str], stop: threading.Event, *, mentions: bool
    ) -> Iterator[Item]:
        jobs: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = []
        for rule in self.opts.rules:
            since = _newest(state.get(f"search:{rule.tag}"), state.get("stream"))
            jobs.append(
                (
                    f"search:{rule.tag}",
                    since or "",
                    self.client.search_recent_tweets,
                    {"query": rule.value},
                )
            )
        if mentions and self.opts.mentions:
            for _, uid in sorted(self._lookup_users().items()):
                jobs.append(
                    (
                        f"mentions:{uid}",
                        state.get(f"mentions:{uid}") or "",
                        self.client.get_users_mentions,
                        {"id": uid},
                    )
                )
        for key, since, fn, params in jobs:
            if stop.is_set():
                return
            what = "mentions" if key.startswith("mentions:") else "search"
            for item in self._pages(what, fn, since or None, **params):
                if isinstance(item, PostIn):
                    state[key] = _newest(state.get(key), item.external_id) or item.external_id
                item.cursor = json.dumps(state, sort_keys=True)
                if self.keep(item):
                    yield item
        self.budget.check()  # after yielding what was read: stop until the period resets

    # ------------------------------------------------------------------ stream

    def _sync_rules(self) -> None:
        stream = _Stream(self.bearer_token, queue.Queue())
        self._mount(stream.session)
        try:
            body = self._call("rules", stream.get_rules)
            current = {(r.get("value"), r.get("tag")): r.get("id") for r in body.get("data") or []}
            wanted = {(r.value, r.tag) for r in self.opts.rules}
            stale = [rid for key, rid in current.items() if key not in wanted and rid]
            if stale:
                self._call("rules", stream.delete_rules, stale)
            add = [tweepy.StreamRule(value=v, tag=t) for v, t in sorted(wanted - set(current))]
            if add:
                body = self._call("rules", stream.add_rules, add)
                for err in body.get("errors") or []:
                    log.error("X refused a stream rule: %s", err)
        finally:
            stream.session.close()

    def _read_stream(self, state: dict[str, str], stop: threading.Event) -> Iterator[Item]:
        events: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=10_000)
        stream = _Stream(self.bearer_token, events)
        self._mount(stream.session)
        self._stream = stream
        stream.filter(
            threaded=True,
            tweet_fields=TWEET_FIELDS,
            expansions=EXPANSIONS,
            user_fields=USER_FIELDS,
        )
        try:
            while not stop.is_set():
                try:
                    kind, value = events.get(timeout=0.5)
                except queue.Empty:
                    self.monitor.tick()
                    continue
                if kind == "data":
                    item = self._line(value)
                    if item is None:
                        continue
                    if isinstance(item, PostIn):
                        state["stream"] = (
                            _newest(state.get("stream"), item.external_id) or item.external_id
                        )
                        self.budget.charge(1)
                    item.cursor = json.dumps(state, sort_keys=True)
                    if self.keep(item):
                        yield item
                    if self.budget.pace() > 1.0:
                        log.warning(
                            "X %s: past budget_slow_at; leaving the stream for paced polling",
                            self.name,
                        )
                        return
                elif kind == "keepalive":
                    self.monitor.tick()
                elif kind == "http_error":
                    status, headers, body = value
                    if status == 429:
                        raise RateLimited(
                            f"X stream: 429 {body[:120]}",
                            retry_after=retry_after(headers, self.clock()),
                        )
                    if status in (401, 403):
                        raise AuthFailed(f"X stream: {status} {body[:200]}")
                    raise SourceUnavailable(f"X stream: HTTP {status} {body[:200]}")
                elif kind == "dropped":
                    raise SourceUnavailable(f"X stream dropped: {value}")
                elif kind == "closed":
                    raise SourceUnavailable("X stream closed")
        finally:
            stream.close()
            self._stream = None
            self.budget.save()

    def _line(self, raw: bytes) -> Item | None:
        try:
            if len(raw) > MAX_LINE:
                raise MalformedPayload(f"line is longer than {MAX_LINE} bytes")
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise MalformedPayload(f"not valid JSON: {exc}") from None
            if isinstance(obj, dict) and "data" not in obj and "errors" in obj:
                log.warning("X stream notice: %s", str(obj["errors"])[:300])
                return None
            item = normalise_x(obj)
            if isinstance(item, list):
                raise MalformedPayload("a stream line holds one post")
            return item
        except MalformedPayload as exc:
            return Quarantined(raw=raw, reason=f"x: {exc}", platform="x")

    # ------------------------------------------------------------------ protocol

    def _iter(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        state = load_cursor(cursor, "X")
        self.monitor.set_state("running")
        if self.opts.mode == "stream" and self.budget.pace() <= 1.0:
            if self.opts.sync_rules:
                self._sync_rules()
            if state.get("stream"):
                yield from self._poll(state, stop, mentions=False)  # the gap since the drop
            yield from self._read_stream(state, stop)
            if stop.is_set():
                return
        while not stop.is_set():
            yield from self._poll(state, stop, mentions=self.opts.mode == "poll")
            if self.wait(self.opts.poll_seconds * self.budget.pace(), stop):
                return
            if self.opts.mode == "stream" and self.budget.pace() <= 1.0:
                return  # a new billing period: the service reconnects the stream

    def _one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        """One poll of every query (a stream source recovers its gap by search and ends)."""
        state = load_cursor(cursor, "X")
        yield from self._poll(state, stop, mentions=self.opts.mode == "poll")


def _newest(a: str | None, b: str | None) -> str | None:
    ids = [int(v) for v in (a, b) if v and v.isdigit()]
    return str(max(ids)) if ids else None


@register_source("x")
def make_x(name: str, config: dict[str, Any], **deps: Any) -> XSource:
    from civic_listener.settings import SettingsError

    options = parse_options(XOptions, "x", name, config)
    settings = deps["settings"]
    if options.mode == "stream" and not options.rules:
        raise SettingsError(f"source {name!r} (x): stream mode needs at least one rule")
    if options.mode == "poll" and not options.rules and not options.mentions:
        raise SettingsError(f"source {name!r} (x): nothing to poll: add rules or mentions")
    token = require_secret(settings.x_bearer_token, "x", name, "CIVIC_X_BEARER_TOKEN")
    city = city_settings(deps, options.city)
    return XSource(
        name,
        options,
        bearer_token=token,
        city_accounts=list(city.accounts.get("x", [])),
        adapter=(deps.get("transports") or {}).get("x"),
        clock=deps.get("clock"),
        state=deps.get("state"),
        sleep=deps.get("sleep"),
    )
