"""Mastodon through Mastodon.py: hashtag streams, an instance's public timeline and the city
account's mentions, with a ``since_id``/``min_id`` polling fallback.

Each feed (``tag:<name>``, ``public``, ``mentions``) has its own id in the JSON cursor.
On start and after every reconnect the source first polls each feed forward from its
cursor with ``min_id`` (so nothing between the drop and the new connection is missed),
then streams; with ``stream = false`` it only polls. Mastodon.py opens each stream
(authentication, streaming host discovery); this module reads the server-sent events
itself, so a malformed event is quarantined instead of ending the stream.

Ids are the listening instance's status ids, which the reply sender uses too: listen
through the city's own instance (its federated hashtag timelines include other servers).

Errors: ``MastodonRatelimitError`` → ``RateLimited`` with ``X-RateLimit-Reset``;
``MastodonUnauthorizedError`` → ``AuthFailed``; server and network errors and dropped
streams → ``SourceUnavailable``.
"""

from __future__ import annotations

import html
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon, StreamListener
from mastodon.errors import (
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
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
from listener.http import shutdown_socket
from listener.platform import (
    PlatformSource,
    SourceOptions,
    each_or_quarantine,
    load_cursor,
    parse_options,
    retry_after,
)
from listener.registry import register_source

log = logging.getLogger(__name__)
PAGE = 40


class MastodonOptions(SourceOptions):
    # The instance to listen through; the CIVIC_MASTODON_API_BASE_URL one when empty.
    instance: str | None = None
    hashtags: list[str] = Field(default_factory=list)
    public: bool = False
    public_local: bool = True
    mentions: bool = True
    stream: bool = True
    # Send CIVIC_MASTODON_ACCESS_TOKEN (needed for mentions, and by many instances to stream).
    authenticated: bool = True
    max_pages: int = Field(default=10, ge=1, le=100)
    idle_timeout_seconds: float = Field(default=120.0, gt=0)


# --------------------------------------------------------------------------- format


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    parser = _Text()
    parser.feed(content)
    parser.close()
    return html.unescape("".join(parser.parts)).strip()


def full_acct(account: dict[str, Any]) -> str:
    """``user@domain`` as the platform shows a handle, also for local accounts."""
    acct = account.get("acct")
    if not isinstance(acct, str) or not acct:
        raise MalformedPayload("account.acct is missing")
    if "@" in acct:
        return acct
    url = account.get("url")
    domain = urlsplit(url).netloc if isinstance(url, str) else ""
    return f"{acct}@{domain}" if domain else acct


def status_item(status: Any) -> PostIn:
    """One Mastodon status entity as a post; a boost becomes a repost of the original."""
    if not isinstance(status, dict):
        raise MalformedPayload(f"a status must be a JSON object, got {type(status).__name__}")
    sid = opt_str(status, "id", 64)
    if not sid:
        raise MalformedPayload("id is missing")
    account = status.get("account")
    if not isinstance(account, dict):
        raise MalformedPayload("account is missing")
    reblog = status.get("reblog")
    repost_of = None
    if reblog is not None:
        if not isinstance(reblog, dict) or not reblog.get("id"):
            raise MalformedPayload("reblog must be a status")
        repost_of = str(reblog["id"])
    content = status.get("content")
    if content is None and reblog is not None:
        content = ""
    text = html_to_text(clean_text(content, "content"))
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        text = f"{spoiler.strip()}\n\n{text}"
    quote = status.get("quote")
    quote_of = None
    if isinstance(quote, dict):
        quoted = quote.get("quoted_status")
        if isinstance(quoted, dict) and quoted.get("id"):
            quote_of = str(quoted["id"])
        elif quote.get("id"):
            quote_of = str(quote["id"])
    mentions = tuple(
        str(m["acct"]).lower()
        for m in status.get("mentions") or []
        if isinstance(m, dict) and isinstance(m.get("acct"), str)
    )
    return PostIn(
        platform="mastodon",
        external_id=sid,
        text=text,
        created_at=parse_time(status.get("created_at")),
        author=full_acct(account),
        author_id=opt_str(account, "id", 64),
        url=opt_str(status, "url") or opt_str(status, "uri"),
        lang=opt_str(status, "language", 16),
        in_reply_to_id=opt_str(status, "in_reply_to_id", 64),
        repost_of_id=repost_of,
        quote_of_id=quote_of,
        mentions=mentions,
        raw=status,
    )


def event_item(name: Any, payload: Any) -> Item | None:
    """A streaming event (``update``, ``notification``, ``delete``); None for others."""
    if not isinstance(name, str):
        raise MalformedPayload("event name is missing")
    if name in ("update", "notification", "status.update") and isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise MalformedPayload(f"{name} payload is not valid JSON") from None
    if name == "update":
        return status_item(payload)
    if name == "notification":
        return notification_item(payload)
    if name == "delete":
        if not isinstance(payload, str | int) or isinstance(payload, bool) or payload == "":
            raise MalformedPayload("delete payload must be a status id")
        return Deletion(platform="mastodon", external_id=str(payload))
    return None  # status.update (edits), filters_changed, announcements, ...


def notification_item(note: Any) -> PostIn | None:
    if not isinstance(note, dict):
        raise MalformedPayload("a notification must be a JSON object")
    if note.get("type") != "mention":
        return None
    return status_item(note.get("status"))


@register_format("mastodon")
def normalise_mastodon(obj: Any) -> Item | list[Item] | None:
    """Status entities, notifications, timelines (lists) and streaming events."""
    if isinstance(obj, list):
        return each_or_quarantine(obj, normalise_one, "mastodon")
    return normalise_one(obj)


def normalise_one(obj: Any) -> Item | None:
    if not isinstance(obj, dict):
        raise MalformedPayload(f"expected a JSON object, got {type(obj).__name__}")
    if "event" in obj:
        return event_item(obj.get("event"), obj.get("payload", obj.get("data")))
    if "type" in obj and "status" in obj and "content" not in obj:
        return notification_item(obj)
    return status_item(obj)


# --------------------------------------------------------------------------- streaming


class _Listener(StreamListener):
    """Reads server-sent events line by line and queues them raw; never raises on content."""

    def __init__(self, feed: str, out: queue.Queue[tuple[str, str, Any]]) -> None:
        super().__init__()
        self.feed = feed
        self.out = out
        self.response: requests.Response | None = None

    def handle_stream(self, response: requests.Response) -> None:
        self.response = response
        self.out.put(("connected", self.feed, None))
        name: str | None = None
        data: list[str] = []
        for raw in response.iter_lines(chunk_size=512):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.out.put(("bad", self.feed, raw))
                continue
            if not line:
                if name is not None or data:
                    self.out.put(("event", self.feed, (name, "\n".join(data))))
                name, data = None, []
            elif line.startswith(":"):
                self.out.put(("heartbeat", self.feed, None))
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))


def _translate(exc: Exception, headers: dict[str, str], now: Any, what: str) -> SourceError:
    if isinstance(exc, MastodonRatelimitError):
        return RateLimited(f"Mastodon {what}: rate limited", retry_after=retry_after(headers, now))
    if isinstance(exc, MastodonUnauthorizedError):
        return AuthFailed(f"Mastodon {what}: credentials refused ({exc})")
    if isinstance(exc, MastodonServerError | MastodonNetworkError):
        return SourceUnavailable(f"Mastodon {what}: {exc}")
    return SourceUnavailable(f"Mastodon {what}: {exc.__class__.__name__}: {exc}")


class MastodonSource(PlatformSource):
    kind = "mastodon"

    def __init__(
        self,
        name: str,
        options: MastodonOptions,
        *,
        instance: str,
        access_token: str | None,
        session_factory: Callable[[], requests.Session] = requests.Session,
        **deps: Any,
    ) -> None:
        super().__init__(name, options, **deps)
        self.opts = options
        self.instance = instance.rstrip("/")
        self.access_token = access_token if options.authenticated else None
        self.session_factory = session_factory
        self._local = threading.local()
        self.api = self._client()

    def _client(self) -> Mastodon:
        session = self.session_factory()
        session.hooks["response"].append(self._capture)
        return Mastodon(
            access_token=self.access_token,
            api_base_url=self.instance,
            ratelimit_method="throw",
            version_check_mode="none",
            session=session,
            request_timeout=20,
            user_agent="civic-listener",
        )

    def close(self) -> None:
        self.api.session.close()

    def _capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.response = response

    def _last(self) -> requests.Response | None:
        return getattr(self._local, "response", None)

    def feeds(self) -> list[str]:
        out = [f"tag:{t.lstrip('#')}" for t in self.opts.hashtags]
        if self.opts.public:
            out.append("public")
        if self.opts.mentions and self.access_token:
            out.append("mentions")
        return out

    # ------------------------------------------------------------------ polling

    def _fetch(self, feed: str, **params: Any) -> list[Any]:
        try:
            if feed.startswith("tag:"):
                self.api.timeline_hashtag(feed[4:], limit=PAGE, **params)
            elif feed == "public":
                self.api.timeline_public(local=self.opts.public_local, limit=PAGE, **params)
            else:
                self.api.notifications(types=["mention"], limit=PAGE, **params)
        except MastodonError as exc:
            resp = self._last()
            headers = dict(resp.headers) if resp is not None else {}
            raise _translate(exc, headers, self.clock(), feed) from exc
        resp = self._last()
        try:
            body = resp.json() if resp is not None else []
        except ValueError as exc:
            raise SourceUnavailable(f"Mastodon {feed}: answer is not JSON") from exc
        if not isinstance(body, list):
            raise SourceUnavailable(f"Mastodon {feed}: expected a list")
        return body

    def _poll_feed(self, feed: str, state: dict[str, str], stop: threading.Event) -> Iterator[Item]:
        """Walk forward from the cursor with ``min_id``; a first poll takes the newest page."""
        since = state.get(feed)
        for _ in range(self.opts.max_pages if since else 1):
            if stop.is_set():
                return
            page = self._fetch(feed, min_id=since) if since else self._fetch(feed)
            if not page:
                return
            entries = sorted(page, key=_entry_order)
            for entry in entries:
                try:
                    item = normalise_one(entry)
                except MalformedPayload as exc:
                    raw = json.dumps(entry, default=str).encode()
                    item = Quarantined(raw=raw, reason=f"mastodon: {exc}", platform="mastodon")
                eid = _entry_id(entry)
                if eid:
                    state[feed] = eid
                if item is None:
                    continue
                item.cursor = json.dumps(state, sort_keys=True)
                if self.keep(item):
                    yield item
            if not since or len(page) < PAGE:
                return
            since = state.get(feed)

    def _poll(self, state: dict[str, str], stop: threading.Event) -> Iterator[Item]:
        for feed in self.feeds():
            yield from self._poll_feed(feed, state, stop)

    # ------------------------------------------------------------------ streaming

    def _open(self, feed: str, out: queue.Queue[tuple[str, str, Any]]) -> _Listener:
        listener = _Listener(feed, out)
        api = self._client()

        def run() -> None:
            try:
                if feed.startswith("tag:"):
                    api.stream_hashtag(feed[4:], listener, local=False)
                elif feed == "public":
                    api.stream_public(listener, local=self.opts.public_local)
                else:
                    api.stream_user_notifications(listener)
                out.put(("dropped", feed, "stream ended"))
            except Exception as exc:  # everything ends up as a queue event
                resp = self._last()
                status = resp.status_code if resp is not None and resp.status_code != 200 else None
                headers = dict(resp.headers) if resp is not None else {}
                out.put(("error", feed, (status, headers, f"{exc.__class__.__name__}: {exc}")))
            finally:
                api.session.close()

        thread = threading.Thread(target=run, name=f"mastodon-{self.name}-{feed}", daemon=True)
        listener.thread = thread  # type: ignore[attr-defined]
        thread.start()
        return listener

    def _stream(self, state: dict[str, str], stop: threading.Event) -> Iterator[Item]:
        out: queue.Queue[tuple[str, str, Any]] = queue.Queue(maxsize=10_000)
        listeners = [self._open(feed, out) for feed in self.feeds()]
        idle = 0.0
        try:
            while not stop.is_set():
                try:
                    kind, feed, value = out.get(timeout=0.5)
                except queue.Empty:
                    idle += 0.5
                    self.monitor.tick()
                    if idle > self.opts.idle_timeout_seconds:
                        raise SourceUnavailable(
                            "Mastodon stream: silent past the idle timeout"
                        ) from None
                    continue
                idle = 0.0
                if kind == "event":
                    item = self._event(feed, *value, state=state)
                    if item is not None and self.keep(item):
                        yield item
                elif kind == "bad":
                    yield Quarantined(
                        raw=value, reason="mastodon: event is not valid UTF-8", platform="mastodon"
                    )
                elif kind == "error":
                    status, headers, message = value
                    if status == 429:
                        raise RateLimited(
                            f"Mastodon {feed} stream: 429",
                            retry_after=retry_after(headers, self.clock()),
                        )
                    if status in (401, 403):
                        raise AuthFailed(f"Mastodon {feed} stream: {status}")
                    raise SourceUnavailable(f"Mastodon {feed} stream: {message}")
                elif kind == "dropped":
                    raise SourceUnavailable(f"Mastodon {feed} stream: {value}")
        finally:
            for listener in listeners:
                if listener.response is not None:
                    shutdown_socket(listener.response)
                    try:
                        listener.response.close()
                    except Exception as exc:  # best effort; the thread ends on its own
                        log.debug("Mastodon: closing a stream: %s", exc)
            for listener in listeners:
                listener.thread.join(timeout=5)  # type: ignore[attr-defined]

    def _event(
        self, feed: str, name: str | None, data: str, *, state: dict[str, str]
    ) -> Item | None:
        try:
            item = event_item(name, data)
        except MalformedPayload as exc:
            raw = f"event: {name}\ndata: {data}".encode()
            return Quarantined(raw=raw, reason=f"mastodon: {exc}", platform="mastodon")
        if item is None:
            return None
        if isinstance(item, PostIn):
            key = feed
            if name == "notification":
                try:
                    note_id = json.loads(data).get("id")
                except (ValueError, AttributeError):
                    note_id = None
                if isinstance(note_id, str):
                    state[key] = _newest(state.get(key), note_id)
            else:
                state[key] = _newest(state.get(key), item.external_id)
        item.cursor = json.dumps(state, sort_keys=True)
        return item

    # ------------------------------------------------------------------ protocol

    def _iter(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        state = load_cursor(cursor, "Mastodon")
        self.monitor.set_state("running")
        yield from self._poll(state, stop)
        if self.opts.stream:
            yield from self._stream(state, stop)
            return
        while not self.wait(self.opts.poll_seconds, stop):
            yield from self._poll(state, stop)

    def _one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        """Poll every feed forward from the cursor once; no stream is opened."""
        yield from self._poll(load_cursor(cursor, "Mastodon"), stop)


def _entry_id(entry: Any) -> str | None:
    value = entry.get("id") if isinstance(entry, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _entry_order(entry: Any) -> tuple[int, str]:
    eid = _entry_id(entry) or ""
    return (int(eid), eid) if eid.isdigit() else (0, eid)


def _newest(a: str | None, b: str) -> str:
    if a is None:
        return b
    if a.isdigit() and b.isdigit():
        return a if int(a) > int(b) else b
    return b


_TAG = re.compile(r"^#?[\w]+$")


@register_source("mastodon")
def make_mastodon(name: str, config: dict[str, Any], **deps: Any) -> MastodonSource:
    from civic_listener.settings import SettingsError

    options = parse_options(MastodonOptions, "mastodon", name, config)
    settings = deps["settings"]
    instance = options.instance or settings.mastodon_api_base_url
    if not instance:
        raise SettingsError(
            f"source {name!r} (mastodon): set instance, or CIVIC_MASTODON_API_BASE_URL"
        )
    bad = [t for t in options.hashtags if not _TAG.match(t)]
    if bad:
        raise SettingsError(f"source {name!r} (mastodon): not hashtags: {', '.join(bad)}")
    token = settings.mastodon_access_token
    if options.mentions and options.authenticated and token is None:
        raise SettingsError(
            f"source {name!r} (mastodon): mentions need CIVIC_MASTODON_ACCESS_TOKEN "
            "(or set mentions = false)"
        )
    if not (options.hashtags or options.public or options.mentions):
        raise SettingsError(f"source {name!r} (mastodon): nothing to listen to")
    return MastodonSource(
        name,
        options,
        instance=instance,
        access_token=token.get_secret_value() if token is not None else None,
        session_factory=(deps.get("transports") or {}).get("mastodon") or requests.Session,
        clock=deps.get("clock"),
        state=deps.get("state"),
        sleep=deps.get("sleep"),
    )
