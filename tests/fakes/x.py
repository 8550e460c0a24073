"""A fake X API v2 on 127.0.0.1: recent search, mentions, user lookup, stream rules and the
filtered stream (chunked JSON lines with ``data``, ``includes``, ``matching_rules``).

Search and mentions honour ``since_id``, ``max_results`` and pagination tokens and answer
newest first, like the real API; 429s carry ``x-rate-limit-reset``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.listener.wire import DROP, END, FakeServer, Request, Response, Stream

BASE_TIME = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


class FakeX(FakeServer):
    def __init__(self, token: str = "x-test-bearer") -> None:
        super().__init__()
        self.token = token
        self.users: dict[str, str] = {"100": "BOS311", "200": "dot_resident", "300": "jp_neighbor"}
        self.tweets: list[dict[str, Any]] = []
        self.rules: list[dict[str, str]] = []
        self._rule_id = 0

    # ------------------------------------------------------------------ data

    def tweet(self, tid: int, text: str, author_id: str = "200", **extra: Any) -> dict[str, Any]:
        t = {
            "id": str(tid),
            "text": text,
            "author_id": author_id,
            "created_at": (BASE_TIME + timedelta(seconds=tid % 100_000))
            .isoformat()
            .replace("+00:00", ".000Z"),
            "lang": "en",
            "conversation_id": str(tid),
            "edit_history_tweet_ids": [str(tid)],
        }
        t.update(extra)
        self.tweets.append(t)
        return t

    def _includes(self, tweets: list[dict[str, Any]]) -> dict[str, Any]:
        ids = sorted({t["author_id"] for t in tweets if t.get("author_id") in self.users})
        return {"users": [{"id": i, "username": self.users[i], "name": self.users[i]} for i in ids]}

    def stream_line(self, tweet: dict[str, Any], tag: str = "city") -> str:
        rule = next((r for r in self.rules if r["tag"] == tag), {"id": "1", "tag": tag})
        return (
            json.dumps(
                {
                    "data": tweet,
                    "includes": self._includes([tweet]),
                    "matching_rules": [{"id": rule["id"], "tag": rule["tag"]}],
                }
            )
            + "\r\n"
        )

    def push(self, *lines: Any, stream: int = 1) -> None:
        feed = self.wait_for_stream(stream).feed
        for line in lines:
            feed.put(line)

    def drop(self, stream: int = 1) -> None:
        self.wait_for_stream(stream).feed.put(DROP)

    def end(self, stream: int = 1) -> None:
        self.wait_for_stream(stream).feed.put(END)

    # ------------------------------------------------------------------ routes

    def handle(self, req: Request) -> Response | Stream:
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, {"title": "Unauthorized", "status": 401})
        path = req.path
        if path == "/2/tweets/search/recent":
            q = (req.arg("query") or "").lower()
            words = [w for w in q.split() if not w.startswith(("-", "lang:", "is:"))]
            found = [t for t in self.tweets if all(w in t["text"].lower() for w in words)]
            return self._page(req, found, "next_token")
        if path.startswith("/2/users/") and path.endswith("/mentions"):
            uid = path.split("/")[3]
            handle = "@" + self.users.get(uid, "?").lower()
            found = [t for t in self.tweets if handle in t["text"].lower()]
            return self._page(req, found, "pagination_token")
        if path == "/2/users/by":
            names = (req.arg("usernames") or "").split(",")
            data = [
                {"id": i, "username": u, "name": u}
                for i, u in self.users.items()
                if u.lower() in {n.lower() for n in names}
            ]
            return Response(200, {"data": data})
        if path == "/2/tweets/search/stream/rules":
            if req.method == "GET":
                return Response(
                    200,
                    {"data": self.rules, "meta": {"result_count": len(self.rules)}}
                    if self.rules
                    else {"meta": {"result_count": 0}},
                )
            body = req.json()
            for rule in body.get("add") or []:
                self._rule_id += 1
                self.rules.append(
                    {"id": str(self._rule_id), "value": rule["value"], "tag": rule.get("tag", "")}
                )
            ids = set((body.get("delete") or {}).get("ids") or [])
            self.rules = [r for r in self.rules if r["id"] not in ids]
            return Response(
                200,
                {"data": self.rules, "meta": {"summary": {"created": len(body.get("add") or [])}}},
            )
        if path == "/2/tweets/search/stream":
            return Stream(headers={"Content-Type": "application/json"})
        return Response(404, {"title": "Not Found"})

    def _page(self, req: Request, found: list[dict[str, Any]], token_name: str) -> Response:
        since = int(req.arg("since_id") or 0)
        size = int(req.arg("max_results") or 10)
        if not 5 <= size <= 100:
            return Response(400, {"errors": [{"message": "max_results out of range"}]})
        found = sorted((t for t in found if int(t["id"]) > since), key=lambda t: -int(t["id"]))
        start = int(req.arg(token_name) or 0)
        page = found[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if start + size < len(found):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body.update(data=page, includes=self._includes(page))
        return Response(
            200,
            body,
            {
                "x-rate-limit-limit": "450",
                "x-rate-limit-remaining": "449",
                "x-rate-limit-reset": "1900000000",
            },
        )
