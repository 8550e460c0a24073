"""A fake Mastodon instance on 127.0.0.1: instance info, hashtag and public timelines,
mention notifications (``min_id``/``since_id``/``limit`` as the real API pages them), and
the server-sent-events streaming API (``event:``/``data:`` lines, ``:`` heartbeats).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.listener.wire import DROP, END, FakeServer, Request, Response, Stream

BASE_TIME = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


class FakeMastodon(FakeServer):
    def __init__(self, token: str = "masto-test-token") -> None:
        super().__init__()
        self.token = token
        self.statuses: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.stream_paths: list[str] = []

    @property
    def domain(self) -> str:
        return "social.example"

    def account(self, username: str, local: bool = True) -> dict[str, Any]:
        domain = self.domain if local else "other.example"
        return {
            "id": str(abs(hash(username)) % 10_000),
            "username": username,
            "acct": username if local else f"{username}@{domain}",
            "url": f"https://{domain}/@{username}",
            "display_name": username,
        }

    def status(
        self, sid: int, html: str, user: str = "resident", *, tags=(), local=True, **extra: Any
    ) -> dict[str, Any]:
        s = {
            "id": str(sid),
            "uri": f"https://{self.domain}/users/{user}/statuses/{sid}",
            "url": f"https://{self.domain}/@{user}/{sid}",
            "created_at": (BASE_TIME + timedelta(seconds=sid % 100_000))
            .isoformat()
            .replace("+00:00", ".000Z"),
            "content": html,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "in_reply_to_id": None,
            "reblog": None,
            "account": self.account(user, local),
            "mentions": [],
            "tags": [{"name": t, "url": f"https://{self.domain}/tags/{t}"} for t in tags],
        }
        s.update(extra)
        self.statuses.append(s)
        return s

    def mention(self, nid: int, status: dict[str, Any]) -> dict[str, Any]:
        n = {
            "id": str(nid),
            "type": "mention",
            "created_at": status["created_at"],
            "account": status["account"],
            "status": status,
        }
        self.notifications.append(n)
        return n

    def sse(self, event: str, payload: Any) -> str:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        return f"event: {event}\ndata: {data}\n\n"

    def push(self, *chunks: Any, stream: int = 1) -> None:
        feed = self.wait_for_stream(stream).feed
        for chunk in chunks:
            feed.put(chunk)

    def drop(self, stream: int = 1) -> None:
        self.wait_for_stream(stream).feed.put(DROP)

    def end(self, stream: int = 1) -> None:
        self.wait_for_stream(stream).feed.put(END)

    # ------------------------------------------------------------------ routes

    def _limits(self) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "299",
            "X-RateLimit-Reset": reset,
        }

    def handle(self, req: Request) -> Response | Stream:
        path = req.path.rstrip("/")
        authed = req.headers.get("authorization") == f"Bearer {self.token}"
        if "authorization" in req.headers and not authed:
            return Response(401, {"error": "The access token is invalid"})
        if path == "/api/v1/instance":
            return Response(
                200,
                {
                    "uri": self.domain,
                    "title": "Fake",
                    "version": "4.3.0",
                    "urls": {"streaming_api": self.url.replace("http", "ws")},
                },
            )
        if path == "/api/v2/instance":
            feeds = {"local": "public", "remote": "public"}
            return Response(
                200,
                {
                    "domain": self.domain,
                    "version": "4.3.0",
                    "configuration": {
                        "urls": {"streaming": self.url.replace("http", "ws")},
                        "timelines_access": {
                            "live_feeds": feeds,
                            "hashtag_feeds": feeds,
                            "trending_link_feeds": feeds,
                        },
                    },
                },
            )
        if path.startswith("/api/v1/timelines/tag/"):
            tag = path.rsplit("/", 1)[-1].lower()
            found = [s for s in self.statuses if tag in {t["name"].lower() for t in s["tags"]}]
            return self._page(req, found)
        if path == "/api/v1/timelines/public":
            local = req.arg("local") in ("1", "true", "True")
            found = [s for s in self.statuses if not local or "@" not in s["account"]["acct"]]
            return self._page(req, found)
        if path == "/api/v1/notifications":
            if not authed:
                return Response(401, {"error": "This method requires an authenticated user"})
            types = req.query.get("types[]") or []
            found = [n for n in self.notifications if not types or n["type"] in types]
            return self._page(req, found)
        if path.startswith("/api/v1/streaming"):
            self.stream_paths.append(
                req.path
                + (
                    "?" + "&".join(f"{k}={v[-1]}" for k, v in req.query.items())
                    if req.query
                    else ""
                )
            )
            return Stream(headers={"Content-Type": "text/event-stream"})
        return Response(404, {"error": "Record not found"})

    def _page(self, req: Request, found: list[dict[str, Any]]) -> Response:
        limit = min(int(req.arg("limit") or 20), 40)
        ordered = sorted(found, key=lambda s: int(s["id"]))
        if req.arg("min_id"):
            newer = [s for s in ordered if int(s["id"]) > int(req.arg("min_id") or 0)]
            page = list(reversed(newer[:limit]))
        else:
            since = int(req.arg("since_id") or 0)
            newer = [s for s in ordered if int(s["id"]) > since]
            page = list(reversed(newer[-limit:]))
        return Response(200, page, self._limits())
