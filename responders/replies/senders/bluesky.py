"""Bluesky: a post record with ``reply.root`` and ``reply.parent`` strong refs, written with
``com.atproto.repo.createRecord`` on the account's PDS over httpx.

The parent's ``cid`` and the thread's root come from ``app.bsky.feed.getPostThread`` (the
PDS proxies it to the AppView), so only the post's AT URI is needed. Links and the
resident's handle get rich-text facets (byte offsets) so they are clickable and notify.
Sessions come from ``com.atproto.server.createSession`` with an app password and are
renewed when the access token expires. Bluesky has no idempotency key: ``find_existing``
reads the thread's direct replies for one by the city's account. Rate limits: 429 with
``ratelimit-reset`` (epoch seconds).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from responders.replies.errors import AuthRefused, RateLimited, SendRejected, SendUnavailable
from responders.replies.length import find_urls
from responders.replies.senders.base import OutgoingReply, ReplyTarget, SentReceipt

POST_COLLECTION = "app.bsky.feed.post"
_WEB_URL = re.compile(r"bsky\.app/profile/([^/]+)/post/([A-Za-z0-9]+)")


def at_uri(target: ReplyTarget) -> str:
    """The post's AT URI from what the listener stored (id, raw payload or web link)."""
    if target.external_id.startswith("at://"):
        return target.external_id
    raw = target.raw or {}
    if isinstance(raw.get("uri"), str) and raw["uri"].startswith("at://"):
        return str(raw["uri"])
    commit = raw.get("commit") if isinstance(raw.get("commit"), dict) else None
    if commit and raw.get("did") and commit.get("rkey"):
        collection = commit.get("collection") or POST_COLLECTION
        return f"at://{raw['did']}/{collection}/{commit['rkey']}"
    m = _WEB_URL.search(target.url or "")
    if m:
        return f"at://{m.group(1)}/{POST_COLLECTION}/{m.group(2)}"
    raise SendRejected(f"cannot tell the AT URI of Bluesky post {target.external_id!r}")


def _web_url(uri: str, handle: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"


def facets(text: str, mentions: dict[str, str]) -> list[dict[str, Any]]:
    """Link facets for every URL and mention facets for ``@handle`` -> did in ``mentions``."""
    out: list[dict[str, Any]] = []

    def byte_range(start: int, end: int) -> dict[str, int]:
        return {
            "byteStart": len(text[:start].encode("utf-8")),
            "byteEnd": len(text[:end].encode("utf-8")),
        }

    for start, end in find_urls(text):
        url = text[start:end]
        if not url.lower().startswith(("http://", "https://")):
            url = "https://" + url
        out.append(
            {
                "index": byte_range(start, end),
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    for handle, did in mentions.items():
        for m in re.finditer(r"(?<![\w@])@" + re.escape(handle) + r"(?![\w.\-])", text):
            out.append(
                {
                    "index": byte_range(*m.span()),
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
                }
            )
    return out


class BlueskySender:
    platform = "bluesky"
    idempotent = False
    idempotency_seconds = 0.0

    def __init__(
        self,
        *,
        handle: str,
        app_password: str,
        pds_url: str = "https://bsky.social",
        transport: httpx.BaseTransport | None = None,
        timeout: float = 20.0,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.handle = handle
        self._password = app_password
        self.http = httpx.Client(
            base_url=pds_url.rstrip("/") + "/xrpc/", transport=transport, timeout=timeout
        )
        self.wall = wall
        self.clock = clock
        self._jwt: str | None = None
        self.did: str | None = None

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, nsid: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, nsid, **kwargs)
        except httpx.TransportError as exc:
            raise SendUnavailable(f"Bluesky could not be reached: {exc}") from exc

    def _check(self, resp: httpx.Response) -> dict[str, Any]:
        try:
            body = resp.json() if resp.content else {}
        except ValueError:
            body = {}
        reason = f"Bluesky answered {resp.status_code}: {body.get('error', '')} {body.get('message', '')}".strip()
        if resp.status_code == 429:
            reset = resp.headers.get("ratelimit-reset")
            wait = float(reset) - self.wall() if reset and reset.isdigit() else 300.0
            raise RateLimited(reason, retry_after=wait)
        if resp.status_code == 401:
            raise AuthRefused(reason)
        if resp.status_code >= 500:
            raise SendUnavailable(reason)
        if resp.status_code >= 400:
            raise SendRejected(reason)
        return body if isinstance(body, dict) else {}

    def _login(self) -> None:
        resp = self._request(
            "POST",
            "com.atproto.server.createSession",
            json={"identifier": self.handle, "password": self._password},
        )
        if resp.status_code in (400, 401):
            raise AuthRefused(f"Bluesky refused the app password for {self.handle}")
        body = self._check(resp)
        self._jwt, self.did = body["accessJwt"], body["did"]

    def _call(self, method: str, nsid: str, **kwargs: Any) -> dict[str, Any]:
        if self._jwt is None:
            self._login()
        for attempt in (1, 2):
            resp = self._request(
                method, nsid, headers={"Authorization": f"Bearer {self._jwt}"}, **kwargs
            )
            expired = resp.status_code in (400, 401) and "ExpiredToken" in resp.text
            if expired and attempt == 1:
                self._login()
                continue
            return self._check(resp)
        raise AuthRefused("Bluesky session could not be renewed")  # pragma: no cover

    def _thread(self, uri: str, depth: int) -> dict[str, Any]:
        body = self._call(
            "GET",
            "app.bsky.feed.getPostThread",
            params={"uri": uri, "depth": depth, "parentHeight": 0},
        )
        thread = body.get("thread") or {}
        if thread.get("$type", "").endswith("#notFoundPost") or "post" not in thread:
            raise SendRejected(f"Bluesky post {uri} is gone or blocked")
        return dict(thread)

    # ------------------------------------------------------------------ sender

    def send(self, reply: OutgoingReply) -> SentReceipt:
        thread = self._thread(at_uri(reply.target), depth=0)
        post = thread["post"]
        parent = {"uri": post["uri"], "cid": post["cid"]}
        root = ((post.get("record") or {}).get("reply") or {}).get("root") or parent
        author = post.get("author") or {}
        mentions = (
            {author["handle"]: author["did"]} if author.get("handle") and author.get("did") else {}
        )
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": reply.text,
            "createdAt": self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "reply": {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent},
        }
        if reply.language:
            record["langs"] = [reply.language]
        found = facets(reply.text, mentions)
        if found:
            record["facets"] = found
        body = self._call(
            "POST",
            "com.atproto.repo.createRecord",
            json={"repo": self.did, "collection": POST_COLLECTION, "record": record},
        )
        uri = str(body["uri"])
        return SentReceipt(uri, _web_url(uri, self.handle))

    def find_existing(self, reply: OutgoingReply) -> SentReceipt | None:
        thread = self._thread(at_uri(reply.target), depth=1)
        for child in thread.get("replies") or []:
            post = child.get("post") or {}
            if (post.get("author") or {}).get("did") == self.did and post.get("uri"):
                return SentReceipt(str(post["uri"]), _web_url(post["uri"], self.handle))
        return None
