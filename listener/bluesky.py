"""Bluesky: the Jetstream firehose with a keyword and account prefilter, and authenticated
``app.bsky.feed.searchPosts`` for backfill.

Jetstream (``/subscribe?wantedCollections=app.bsky.feed.post``, protocol v1) sends every
public post of the network as one JSON text frame. Each frame passes a byte-level
:class:`~listener.prefilter.Prefilter` before it is parsed; matching posts become
:class:`~listener.base.PostIn` with the ``at://`` URI as id, deletes of posts this source
collected become :class:`~listener.base.Deletion`. The cursor is the event's ``time_us``:
after a restart the socket reconnects with ``cursor=`` and Jetstream replays from there.
When the cursor is older than the host keeps (``replay_window_hours``) or on first start
(``backfill_hours``), searchPosts fills the gap first.

Errors: network and 5xx become ``SourceUnavailable``, 429 ``RateLimited`` with the
``ratelimit-reset`` time, refused credentials ``AuthFailed``; a frame that is not a valid
event is quarantined and the stream goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import Field

from listener.base import (
    AuthFailed,
    Deletion,
    Item,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    SourceUnavailable,
)
from listener.formats import clean_text, parse_time, register_format
from listener.platform import (
    PlatformSource,
    SourceOptions,
    city_settings,
    each_or_quarantine,
    parse_options,
    retry_after,
)
from listener.prefilter import Prefilter
from listener.registry import register_source

log = logging.getLogger(__name__)
POST_COLLECTION = "app.bsky.feed.post"
DEFAULT_JETSTREAM = "wss://jetstream2.us-east.bsky.network/subscribe"
MAX_FRAME = 1_000_000


class BlueskyOptions(SourceOptions):
    jetstream_url: str = DEFAULT_JETSTREAM
    # Where createSession and searchPosts go; CIVIC_BLUESKY_PDS_URL when empty.
    service_url: str | None = None
    # Public AppView for handle and profile look-ups (no credentials needed).
    appview_url: str = "https://public.api.bsky.app"
    # Words to match; empty means the city's keywords.
    keywords: list[str] = Field(default_factory=list)
    # Extra handles or DIDs whose mentions, replies and quotes are collected.
    accounts: list[str] = Field(default_factory=list)
    # DIDs of the accounts, when they should not be looked up at start.
    account_dids: dict[str, str] = Field(default_factory=dict)
    backfill_hours: float = Field(default=0.0, ge=0)
    replay_window_hours: float = Field(default=24.0, gt=0)
    resolve_handles: bool = True
    # --once: read the replay up to the moment the pass began, at most this long.
    once_max_seconds: float = Field(default=30.0, gt=0)
    idle_timeout_seconds: float = Field(default=60.0, gt=0)


# --------------------------------------------------------------------------- format


def _did_of(uri: Any) -> str | None:
    if isinstance(uri, str) and uri.startswith("at://"):
        return uri[5:].split("/", 1)[0]
    return None


def _uri(obj: Any, *path: str) -> str | None:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj if isinstance(obj, str) else None


def _record_fields(record: dict[str, Any]) -> dict[str, Any]:
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    quote = None
    etype = embed.get("$type") if embed else None
    if etype == "app.bsky.embed.record":
        quote = _uri(embed, "record", "uri")
    elif etype == "app.bsky.embed.recordWithMedia":
        quote = _uri(embed, "record", "record", "uri")
    mentions = []
    for facet in record.get("facets") or []:
        if not isinstance(facet, dict):
            continue
        for feature in facet.get("features") or []:
            if (
                isinstance(feature, dict)
                and feature.get("$type") == "app.bsky.richtext.facet#mention"
                and isinstance(feature.get("did"), str)
            ):
                mentions.append(feature["did"])
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    return {
        "text": clean_text(record.get("text")),
        "lang": lang[:16] if lang else None,
        "in_reply_to_id": _uri(record, "reply", "parent", "uri"),
        "conversation_id": _uri(record, "reply", "root", "uri"),
        "quote_of_id": quote,
        "mention_dids": mentions,
    }


def _post_url(did: str, rkey: str, handle: str | None = None) -> str:
    return f"https://bsky.app/profile/{handle or did}/post/{rkey}"


def jetstream_item(event: Any) -> Item | None:
    """One Jetstream v1 event: a post, a delete, or None for anything else."""
    if not isinstance(event, dict):
        raise MalformedPayload(f"an event must be a JSON object, got {type(event).__name__}")
    did, time_us, kind = event.get("did"), event.get("time_us"), event.get("kind")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise MalformedPayload("did is missing")
    if isinstance(time_us, bool) or not isinstance(time_us, int):
        raise MalformedPayload("time_us is missing")
    if kind != "commit":
        return None  # identity and account events carry no post
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise MalformedPayload("commit is missing")
    if commit.get("collection") != POST_COLLECTION:
        return None
    rkey, op = commit.get("rkey"), commit.get("operation")
    if not isinstance(rkey, str) or not rkey or len(rkey) > 64:
        raise MalformedPayload("commit.rkey is missing")
    uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
    if op == "delete":
        return Deletion(platform="bluesky", external_id=uri, cursor=str(time_us))
    if op not in ("create", "update"):
        raise MalformedPayload(f"commit.operation {op!r} is unknown")
    record = commit.get("record")
    if not isinstance(record, dict):
        raise MalformedPayload("commit.record is missing")
    fields = _record_fields(record)
    created = record.get("createdAt")
    created_at = parse_time(created, "record.createdAt") if created else parse_time(time_us / 1e6)
    mention_dids = fields.pop("mention_dids")
    return PostIn(
        platform="bluesky",
        external_id=uri,
        author=did,
        author_id=did,
        created_at=created_at,
        url=_post_url(did, rkey),
        raw=event,
        mentions=tuple(mention_dids),
        cursor=str(time_us),
        **fields,
    )


def postview_item(view: Any) -> PostIn:
    """A ``PostView`` as searchPosts and getPosts return it."""
    if not isinstance(view, dict):
        raise MalformedPayload(f"a post view must be a JSON object, got {type(view).__name__}")
    uri, author, record = view.get("uri"), view.get("author"), view.get("record")
    if not isinstance(uri, str) or not uri.startswith("at://"):
        raise MalformedPayload("uri is missing")
    if not isinstance(author, dict) or not isinstance(author.get("did"), str):
        raise MalformedPayload("author.did is missing")
    if not isinstance(record, dict):
        raise MalformedPayload("record is missing")
    handle = author.get("handle") if isinstance(author.get("handle"), str) else None
    fields = _record_fields(record)
    mention_dids = fields.pop("mention_dids")
    return PostIn(
        platform="bluesky",
        external_id=uri,
        author=handle or author["did"],
        author_id=author["did"],
        created_at=parse_time(record.get("createdAt") or view.get("indexedAt"), "createdAt"),
        url=_post_url(author["did"], uri.rsplit("/", 1)[-1], handle),
        raw=view,
        mentions=tuple(mention_dids),
        **fields,
    )


@register_format("bluesky")
def normalise_bluesky(obj: Any) -> Item | list[Item] | None:
    """Jetstream events, post views, and searchPosts/getPosts pages (``{"posts": [...]}``)."""
    if isinstance(obj, dict) and "posts" in obj and "did" not in obj:
        posts = obj["posts"]
        if not isinstance(posts, list):
            raise MalformedPayload("posts must be a list")
        return each_or_quarantine(posts, postview_item, "bluesky")
    if isinstance(obj, dict) and "uri" in obj and "record" in obj:
        return postview_item(obj)
    return jetstream_item(obj)


# --------------------------------------------------------------------------- source


def _translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
        return SourceUnavailable(f"{what}: {exc.__class__.__name__}: {exc}")
    return exc


class BlueskySource(PlatformSource):
    kind = "bluesky"

    def __init__(
        self,
        name: str,
        options: BlueskyOptions,
        *,
        keywords: list[str],
        city_accounts: list[str],
        handle: str | None = None,
        app_password: str | None = None,
        transport: httpx.BaseTransport | None = None,
        connect: Callable[..., Any] | None = None,
        **deps: Any,
    ) -> None:
        super().__init__(name, options, **deps)
        self.opts = options
        if options.service_url is None:
            options.service_url = "https://bsky.social"
        self.keywords = options.keywords or keywords
        self.account_handles = [a.lstrip("@") for a in city_accounts + options.accounts]
        self.handle = handle
        self.app_password = app_password
        self._transport = transport
        self._http: httpx.Client | None = None
        self._connect = connect
        self._access_jwt: str | None = None
        self.dids: dict[str, str] = {}  # handle -> did
        self.handles: OrderedDict[str, str] = OrderedDict()  # did -> handle (LRU)
        self.collected: OrderedDict[str, None] = OrderedDict()  # author dids we stored
        saved = self.state.load(name)
        self.dids.update(saved.get("dids") or {})
        for did in saved.get("collected") or []:
            self.collected[did] = None
        self.prefilter: Prefilter | None = None

    # ------------------------------------------------------------------ http

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(transport=self._transport, timeout=20.0)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _get(self, url: str, params: Any = None, *, auth: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {self._access_jwt}"} if auth else {}
        try:
            resp = self.http.get(url, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise _translate(exc, url) from exc
        return self._json(resp, url)

    def _json(self, resp: httpx.Response, what: str) -> Any:
        if resp.status_code == 429:
            raise RateLimited(f"{what}: 429", retry_after=retry_after(resp.headers, self.clock()))
        if resp.status_code in (401, 403):
            raise AuthFailed(f"{what}: {resp.status_code} {resp.text[:200]}")
        if resp.status_code >= 500:
            raise SourceUnavailable(f"{what}: {resp.status_code}")
        if resp.status_code >= 400:
            raise SourceUnavailable(f"{what}: {resp.status_code} {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise SourceUnavailable(f"{what}: answer is not JSON") from exc

    def _login(self) -> bool:
        if self._access_jwt:
            return True
        if not (self.handle and self.app_password):
            return False
        url = f"{self.opts.service_url}/xrpc/com.atproto.server.createSession"
        try:
            resp = self.http.post(
                url, json={"identifier": self.handle, "password": self.app_password}
            )
        except httpx.HTTPError as exc:
            raise _translate(exc, url) from exc
        if resp.status_code in (400, 401):
            raise AuthFailed(f"Bluesky refused the app password for {self.handle}")
        data = self._json(resp, url)
        self._access_jwt = data.get("accessJwt")
        return bool(self._access_jwt)

    def _resolve_accounts(self) -> list[str]:
        dids = []
        for handle in self.account_handles:
            if handle.startswith("did:"):
                dids.append(handle)
                continue
            did = self.opts.account_dids.get(handle) or self.dids.get(handle)
            if did is None:
                data = self._get(
                    f"{self.opts.appview_url}/xrpc/com.atproto.identity.resolveHandle",
                    {"handle": handle},
                )
                did = data.get("did") if isinstance(data, dict) else None
                if not isinstance(did, str):
                    log.warning("bluesky: could not resolve %s; its mentions are missed", handle)
                    continue
                self.dids[handle] = did
            self.handles[did] = handle
            dids.append(did)
        self.state.save(self.name, "dids", self.dids)
        return dids

    def _author_handle(self, did: str) -> str:
        if did in self.handles:
            self.handles.move_to_end(did)
            return self.handles[did]
        handle = did
        if self.opts.resolve_handles:
            try:
                data = self._get(
                    f"{self.opts.appview_url}/xrpc/app.bsky.actor.getProfiles", {"actors": did}
                )
                for prof in data.get("profiles") or []:
                    if prof.get("did") == did and isinstance(prof.get("handle"), str):
                        handle = prof["handle"]
            except (RateLimited, SourceUnavailable, AuthFailed) as exc:
                log.info("bluesky: no handle for %s (%s)", did, exc)
                return did  # not cached: try again next time
        self.handles[did] = handle
        if len(self.handles) > 50_000:
            self.handles.popitem(last=False)
        return handle

    # ------------------------------------------------------------------ filtering

    def _setup(self) -> Prefilter:
        if self.prefilter is None:
            self.prefilter = Prefilter(self.keywords, self._resolve_accounts())
        return self.prefilter

    def _remember_author(self, did: str) -> None:
        self.collected[did] = None
        self.collected.move_to_end(did)
        if len(self.collected) > 100_000:
            self.collected.popitem(last=False)

    def _frame(self, frame: bytes, pf: Prefilter) -> Item | None:
        """One Jetstream frame: prefilter on bytes, then parse and check exactly."""
        if b'"delete"' in frame and _DELETE.search(frame):
            did = _DID.search(frame)
            if did is None or did.group(1).decode("ascii", "replace") not in self.collected:
                return None  # only deletes of authors this source collected matter
        elif not pf.candidate(frame):
            return None
        try:
            if len(frame) > MAX_FRAME:
                raise MalformedPayload(f"frame is longer than {MAX_FRAME} bytes")
            try:
                event = json.loads(frame)
            except (ValueError, RecursionError) as exc:
                raise MalformedPayload(f"not valid JSON: {exc}") from None
            item = jetstream_item(event)
        except MalformedPayload as exc:
            return Quarantined(raw=frame, reason=f"bluesky: {exc}", platform="bluesky")
        if item is None or isinstance(item, Deletion):
            return item
        assert isinstance(item, PostIn)
        did_values = [
            *item.mentions,
            _did_of(item.in_reply_to_id),
            _did_of(item.conversation_id),
            _did_of(item.quote_of_id),
        ]
        if not (pf.matches_text(item.text) or pf.matches_account(did_values)):
            return None
        item.author = self._author_handle(item.author)
        if item.author != item.author_id:
            item.url = _post_url(
                item.author_id or "", item.external_id.rsplit("/", 1)[-1], item.author
            )
        item.mentions = ()
        if item.author_id:
            self._remember_author(item.author_id)
        return item

    # ------------------------------------------------------------------ backfill

    def backfill(self, since: datetime, until: datetime, stop: threading.Event) -> Iterator[Item]:
        """searchPosts for each keyword and account mention between ``since`` and ``until``."""
        if not self._login():
            log.info("bluesky %s: no credentials, backfill skipped", self.name)
            return
        pf = self._setup()
        queries: list[dict[str, str]] = [{"q": k} for k in self.keywords]
        queries += [{"q": "*", "mentions": h} for h in self.account_handles]
        seen: set[str] = set()
        for query in queries:
            page: str | None = None
            for _ in range(20):
                if stop.is_set():
                    return
                params = dict(query, sort="latest", limit="100")
                params["since"] = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
                params["until"] = until.astimezone(UTC).isoformat().replace("+00:00", "Z")
                if page:
                    params["cursor"] = page
                data = self._get(
                    f"{self.opts.service_url}/xrpc/app.bsky.feed.searchPosts", params, auth=True
                )
                for view in data.get("posts") or []:
                    try:
                        item: Item = postview_item(view)
                    except MalformedPayload as exc:
                        raw = json.dumps(view).encode()
                        item = Quarantined(raw=raw, reason=f"bluesky: {exc}", platform="bluesky")
                    if isinstance(item, PostIn):
                        if item.external_id in seen:
                            continue
                        seen.add(item.external_id)
                        if item.author_id:
                            self._remember_author(item.author_id)
                    if self.keep(item):
                        yield item
                page = data.get("cursor")
                if not page or not data.get("posts"):
                    break
        del pf

    # ------------------------------------------------------------------ streaming

    def _open(self, cursor: int | None, stack: contextlib.ExitStack) -> Any:
        """Connect to Jetstream; the connection closes when ``stack`` does."""
        params = {"wantedCollections": POST_COLLECTION}
        if cursor is not None:
            params["cursor"] = str(cursor)
        url = f"{self.opts.jetstream_url}?{urlencode(params)}"
        connect: Callable[..., Any]
        if self._connect is not None:
            connect = self._connect
        else:
            from websockets.sync.client import connect
        try:
            return stack.enter_context(connect(url, open_timeout=20, max_size=MAX_FRAME * 2))
        except Exception as exc:
            response = getattr(exc, "response", None)
            if getattr(response, "status_code", None) == 429:
                headers = dict(getattr(response, "headers", {}) or {})
                raise RateLimited(
                    "jetstream: 429", retry_after=retry_after(headers, self.clock())
                ) from exc
            raise SourceUnavailable(f"jetstream: cannot connect: {exc}") from exc

    def _gap_fill(self, cursor: int | None, stop: threading.Event) -> Iterator[Item]:
        now = self.clock()
        if cursor is None:
            if self.opts.backfill_hours > 0:
                yield from self.backfill(now - timedelta(hours=self.opts.backfill_hours), now, stop)
            return
        since = datetime.fromtimestamp(cursor / 1e6, UTC)
        window = timedelta(hours=self.opts.replay_window_hours)
        if now - since > window:
            yield from self.backfill(since, now - window, stop)

    def _stream(
        self, cursor: int | None, stop: threading.Event, *, until_us: int | None
    ) -> Iterator[Item]:
        pf = self._setup()
        started = time.monotonic()
        stack = contextlib.ExitStack()
        ws = self._open(cursor, stack)
        self.monitor.set_state("running")
        from websockets.exceptions import ConnectionClosed

        idle = 0.0
        try:
            while not stop.is_set():
                if until_us is not None and time.monotonic() - started > self.opts.once_max_seconds:
                    return
                try:
                    frame = ws.recv(timeout=1.0)
                except TimeoutError:
                    if until_us is not None:
                        return  # caught up
                    idle += 1.0
                    self.monitor.tick()
                    if idle >= self.opts.idle_timeout_seconds:
                        raise SourceUnavailable(
                            "jetstream: no frame within the idle timeout"
                        ) from None
                    continue
                except ConnectionClosed as exc:
                    raise SourceUnavailable(f"jetstream: connection closed: {exc}") from exc
                idle = 0.0
                if isinstance(frame, str):
                    frame = frame.encode("utf-8")
                item = self._frame(frame, pf)
                ts = _time_us(frame) if item is not None or until_us is not None else None
                if item is not None and cursor is not None and ts is not None and ts <= cursor:
                    item = None  # replayed from before the cursor: already stored
                if item is not None and self.keep(item):
                    yield item
                if until_us is not None and ts is not None and ts >= until_us:
                    return  # caught up with the moment the pass began
        finally:
            stack.close()
            self.state.save(self.name, "collected", list(self.collected)[-10_000:])

    def _iter(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        resume = _parse_cursor(cursor)
        yield from self._gap_fill(resume, stop)
        yield from self._stream(resume, stop, until_us=None)

    def _one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        """Backfill what the stream cannot replay, then replay up to now and end."""
        resume = _parse_cursor(cursor)
        yield from self._gap_fill(resume, stop)
        if resume is None:
            return  # nothing to replay: a first pass only backfills
        yield from self._stream(resume, stop, until_us=int(self.clock().timestamp() * 1e6))


def _parse_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError:
        log.warning("bluesky: ignoring a cursor that is not time_us: %r", cursor[:40])
        return None


_DELETE = re.compile(rb'"operation"\s*:\s*"delete"')
_DID = re.compile(rb'"did"\s*:\s*"([^"]{1,2048})"')
_TIME_US = re.compile(rb'"time_us"\s*:\s*(\d{1,20})')


def _time_us(frame: bytes) -> int | None:
    found = _TIME_US.search(frame)
    return int(found.group(1)) if found else None


@register_source("bluesky")
def make_bluesky(name: str, config: dict[str, Any], **deps: Any) -> BlueskySource:
    from listener.platform import require_secret

    options = parse_options(BlueskyOptions, "bluesky", name, config)
    settings = deps["settings"]
    city = city_settings(deps, options.city)
    password = None
    if settings.bluesky_handle:
        password = require_secret(
            settings.bluesky_app_password, "bluesky", name, "CIVIC_BLUESKY_APP_PASSWORD"
        )
    if options.service_url is None:
        options.service_url = settings.bluesky_pds_url
    return BlueskySource(
        name,
        options,
        keywords=list(city.keywords),
        city_accounts=list(city.accounts.get("bluesky", [])),
        handle=settings.bluesky_handle,
        app_password=password,
        transport=(deps.get("transports") or {}).get("bluesky"),
        connect=deps.get("connect_websocket"),
        clock=deps.get("clock"),
        state=deps.get("state"),
        sleep=deps.get("sleep"),
    )
