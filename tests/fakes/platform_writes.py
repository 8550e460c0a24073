"""Fake write endpoints of the four platforms on 127.0.0.1, speaking their wire formats.

- ``FakeX``: ``POST /2/tweets`` (OAuth 1.0a header required), ``GET /2/users/me``,
  ``GET /2/users/:id/tweets`` (the account's own posts, for the thread check).
- ``FakeMastodon``: ``POST /api/v1/statuses`` (form body) honouring ``Idempotency-Key``,
  ``GET /api/v1/statuses/:id/context`` and ``GET /api/v1/accounts/verify_credentials``.
- ``FakeBluesky``: ``com.atproto.server.createSession``, ``com.atproto.repo.createRecord``
  and ``app.bsky.feed.getPostThread`` (with the replies the fake has stored).
- ``FakeReddit``: ``POST /api/v1/access_token`` (password grant), ``POST /api/comment``,
  ``GET /user/:name/comments``.

Every fake records each request (method, path, query, headers, body) and can be told to
answer the next matching request with an error (``fail_next``: a 429 with the platform's
reset headers, a 5xx, a refusal), or to store the post and then drop the connection without
answering (``drop_next``), as a crash of the network between posting and hearing back.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter

DROP = object()
Answer = tuple[int, dict[str, str], Any]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Scripted:
    method: str
    path: str
    answer: Answer | None  # None: do the real work, then drop the connection
    times: int = 1


class FakeServer:
    """A threaded HTTP server; subclasses implement ``route``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: list[Scripted] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms stall per kept-alive request

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(
                    self.command,
                    parts.path.rstrip("/") or "/",
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                answer = owner._dispatch(rec)
                if answer is DROP:
                    self.close_connection = True
                    return
                status, headers, payload = answer
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                if self.close_connection:  # the client asked to close: say so, as servers do
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        self.script.append(Scripted(method, path, (status, headers or {}, body or {}), times))

    def drop_next(self, method: str, path: str) -> None:
        """Do the work of the next matching request, then close without answering."""
        self.script.append(Scripted(method, path, None))

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def _dispatch(self, rec: Recorded) -> Any:
        with self.lock:
            self.requests.append(rec)
            for item in self.script:
                if item.method == rec.method and rec.path == item.path and item.times > 0:
                    item.times -= 1
                    if item.answer is not None:
                        return item.answer
                    self.route(rec)
                    return DROP
            return self.route(rec)

    def route(self, rec: Recorded) -> Answer:
        raise NotImplementedError


def _not_found(rec: Recorded) -> Answer:
    return 404, {}, {"error": f"no route {rec.method} {rec.path}"}


# --------------------------------------------------------------------------- X


class FakeX(FakeServer):
    ME = "1500000000000000001"
    USERNAME = "BOS311"

    def __init__(self) -> None:
        super().__init__()
        self.tweets: list[dict[str, Any]] = []
        self._ids = itertools.count(1_900_000_000_000_000_001)

    def rate_limit_next(self, reset_in: float = 900.0) -> None:
        reset = str(int(time.time() + reset_in))
        self.fail_next(
            "POST",
            "/2/tweets",
            429,
            {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
            headers={"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"},
        )

    def route(self, rec: Recorded) -> Answer:
        if not rec.headers.get("authorization", "").startswith("OAuth "):
            return 401, {}, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}
        if rec.method == "POST" and rec.path == "/2/tweets":
            body = rec.json()
            tweet = {"id": str(next(self._ids)), "text": body["text"]}
            reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            if reply_to:
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": str(reply_to)}]
            self.tweets.append(tweet)
            return 201, {}, {"data": {"id": tweet["id"], "text": tweet["text"]}}
        if rec.method == "GET" and rec.path == "/2/users/me":
            return 200, {}, {"data": {"id": self.ME, "name": "City", "username": self.USERNAME}}
        if rec.method == "GET" and rec.path == f"/2/users/{self.ME}/tweets":
            since = int(rec.query.get("since_id", ["0"])[0])
            data = [t for t in reversed(self.tweets) if int(t["id"]) > since]
            return 200, {}, {"data": data, "meta": {"result_count": len(data)}}
        return _not_found(rec)


class LoopbackAdapter(HTTPAdapter):
    """Sends requests meant for ``https://api.twitter.com`` to a fake on loopback."""

    def __init__(self, base_url: str) -> None:
        super().__init__(max_retries=0)
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        kwargs["timeout"] = kwargs.get("timeout") or 5
        return super().send(request, **kwargs)


def x_session(fake: FakeX) -> requests.Session:
    session = requests.Session()
    session.mount("https://api.twitter.com", LoopbackAdapter(fake.base_url))
    return session


# --------------------------------------------------------------------------- Mastodon


class FakeMastodon(FakeServer):
    TOKEN = "mastodon-token-7f2a"
    ACCOUNT = {"id": "1", "username": "city", "acct": "city", "url": "https://city.example/@city"}

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.gone: set[str] = set()
        self._ids = itertools.count(113_000_000_000_000_001)

    def rate_limit_next(self, reset_in: float = 300.0) -> None:
        reset = datetime.now(UTC) + timedelta(seconds=reset_in)
        self.fail_next(
            "POST",
            "/api/v1/statuses",
            429,
            {"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
            },
        )

    def route(self, rec: Recorded) -> Answer:
        if rec.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return 401, {}, {"error": "The access token is invalid"}
        if rec.method == "POST" and rec.path == "/api/v1/statuses":
            key = rec.headers.get("idempotency-key")
            if key and key in self.by_key:
                return 200, {}, self.by_key[key]
            form = rec.form()
            parent = form.get("in_reply_to_id")
            if parent in self.gone:
                return 404, {}, {"error": "Record not found"}
            if len(form.get("status", "")) > 500:
                return 422, {}, {"error": "Validation failed: Text character limit of 500 exceeded"}
            sid = str(next(self._ids))
            status = {
                "id": sid,
                "uri": f"https://city.example/users/city/statuses/{sid}",
                "url": f"https://city.example/@city/{sid}",
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "content": f"<p>{form.get('status', '')}</p>",
                "in_reply_to_id": parent,
                "visibility": form.get("visibility", "public"),
                "language": form.get("language"),
                "account": self.ACCOUNT,
                "mentions": [],
                "tags": [],
                "emojis": [],
                "media_attachments": [],
            }
            self.statuses.append(status)
            if key:
                self.by_key[key] = status
            return 200, {}, status
        if rec.method == "GET" and rec.path == "/api/v1/accounts/verify_credentials":
            return 200, {}, self.ACCOUNT
        if rec.method == "GET" and rec.path.endswith("/context"):
            sid = rec.path.split("/")[-2]
            if sid in self.gone:
                return 404, {}, {"error": "Record not found"}
            replies = [st for st in self.statuses if st["in_reply_to_id"] == sid]
            return 200, {}, {"ancestors": [], "descendants": replies}
        return _not_found(rec)


# --------------------------------------------------------------------------- Bluesky


class FakeBluesky(FakeServer):
    DID = "did:plc:citycityboston"
    HANDLE = "boston.gov"
    PASSWORD = "abcd-efgh-ijkl-mnop"

    def __init__(self) -> None:
        super().__init__()
        self.posts: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self._rkeys = itertools.count(1)
        self.tokens: set[str] = set()

    def add_post(
        self, uri: str, *, handle: str, did: str, text: str, reply: dict[str, Any] | None = None
    ) -> None:
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text}
        if reply:
            record["reply"] = reply
        self.posts[uri] = {
            "uri": uri,
            "cid": "bafyrei" + uri.rsplit("/", 1)[-1],
            "author": {"did": did, "handle": handle},
            "record": record,
        }

    def rate_limit_next(self, reset_in: float = 300.0) -> None:
        self.fail_next(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            429,
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(int(time.time() + reset_in)),
            },
        )

    def _authed(self, rec: Recorded) -> bool:
        auth = rec.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def _view(self, uri: str, depth: int) -> dict[str, Any]:
        node: dict[str, Any] = {
            "$type": "app.bsky.feed.defs#threadViewPost",
            "post": self.posts[uri],
        }
        if depth > 0:
            node["replies"] = [
                self._view(u, depth - 1)
                for u, p in self.posts.items()
                if ((p["record"].get("reply") or {}).get("parent") or {}).get("uri") == uri
            ]
        return node

    def route(self, rec: Recorded) -> Answer:
        if rec.path == "/xrpc/com.atproto.server.createSession":
            body = rec.json()
            if body.get("identifier") != self.HANDLE or body.get("password") != self.PASSWORD:
                return (
                    401,
                    {},
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            token = f"jwt-{len(self.tokens) + 1}"
            self.tokens.add(token)
            return (
                200,
                {},
                {
                    "accessJwt": token,
                    "refreshJwt": "r-" + token,
                    "did": self.DID,
                    "handle": self.HANDLE,
                },
            )
        if not self._authed(rec):
            return (
                401,
                {},
                {"error": "AuthenticationRequired", "message": "Authentication Required"},
            )
        if rec.method == "GET" and rec.path == "/xrpc/app.bsky.feed.getPostThread":
            uri = rec.query["uri"][0]
            if uri not in self.posts:
                return 400, {}, {"error": "NotFound", "message": f"Post not found: {uri}"}
            depth = int(rec.query.get("depth", ["6"])[0])
            return 200, {}, {"thread": self._view(uri, depth)}
        if rec.method == "POST" and rec.path == "/xrpc/com.atproto.repo.createRecord":
            body = rec.json()
            record = body.get("record") or {}
            reply = record.get("reply") or {}
            parent, root = reply.get("parent") or {}, reply.get("root") or {}
            if body.get("repo") != self.DID:
                return (
                    400,
                    {},
                    {"error": "InvalidRequest", "message": "repo does not match session"},
                )
            if not (parent.get("cid") and root.get("cid")):
                return (
                    400,
                    {},
                    {"error": "InvalidRequest", "message": "reply refs need uri and cid"},
                )
            if len(record.get("text", "")) > 3000:
                return (
                    400,
                    {},
                    {
                        "error": "InvalidRequest",
                        "message": "Record/text must not be longer than 300 graphemes",
                    },
                )
            uri = f"at://{self.DID}/app.bsky.feed.post/3lcity{next(self._rkeys):07d}"
            self.posts[uri] = {
                "uri": uri,
                "cid": "bafyreicity" + uri[-7:],
                "author": {"did": self.DID, "handle": self.HANDLE},
                "record": record,
            }
            self.created.append(self.posts[uri])
            return 200, {}, {"uri": uri, "cid": self.posts[uri]["cid"]}
        return _not_found(rec)


# --------------------------------------------------------------------------- Reddit


class FakeReddit(FakeServer):
    CLIENT_ID = "city-client-id"
    CLIENT_SECRET = "city-client-secret-93"
    USERNAME = "BostonCity"
    PASSWORD = "hunter2-but-longer"
    HEADERS = {"x-ratelimit-remaining": "599", "x-ratelimit-used": "1", "x-ratelimit-reset": "300"}

    def __init__(self) -> None:
        super().__init__()
        self.comments: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def rate_limit_next(self, retry_after: float = 120.0) -> None:
        self.fail_next(
            "POST",
            "/api/comment",
            429,
            {"message": "Too Many Requests", "error": 429},
            headers={"retry-after": str(int(retry_after)), **self.HEADERS},
        )

    def route(self, rec: Recorded) -> Answer:
        status, headers, body = self._route(rec)
        return status, {**self.HEADERS, **headers}, body

    def _route(self, rec: Recorded) -> Answer:
        if rec.path == "/api/v1/access_token":
            import base64

            expected = base64.b64encode(f"{self.CLIENT_ID}:{self.CLIENT_SECRET}".encode()).decode()
            if rec.headers.get("authorization") != f"Basic {expected}":
                return 401, {}, {"message": "Unauthorized", "error": 401}
            form = rec.form()
            if form.get("username") != self.USERNAME or form.get("password") != self.PASSWORD:
                return 200, {}, {"error": "invalid_grant"}
            return (
                200,
                {},
                {
                    "access_token": "reddit-token",
                    "token_type": "bearer",
                    "expires_in": 86400,
                    "scope": "*",
                },
            )
        if rec.headers.get("authorization") != "bearer reddit-token":
            return 401, {}, {"message": "Unauthorized", "error": 401}
        if rec.method == "POST" and rec.path == "/api/comment":
            form = rec.form()
            parent = form.get("thing_id", "")
            cid = f"kc{next(self._ids):04d}"
            link = parent if parent.startswith("t3_") else "t3_parentpost"
            comment = {
                "id": cid,
                "name": f"t1_{cid}",
                "parent_id": parent,
                "link_id": link,
                "body": form.get("text", ""),
                "author": self.USERNAME,
                "permalink": f"/r/boston/comments/{link[3:]}/_/{cid}/",
                "subreddit": "boston",
                "created_utc": time.time(),
            }
            self.comments.append(comment)
            return (
                200,
                {},
                {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": comment}]}}},
            )
        if rec.method == "GET" and rec.path == f"/user/{self.USERNAME}/comments":
            children = [{"kind": "t1", "data": c} for c in reversed(self.comments)]
            return (
                200,
                {},
                {"kind": "Listing", "data": {"after": None, "before": None, "children": children}},
            )
        return _not_found(rec)
