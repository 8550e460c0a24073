"""A fake Reddit on 127.0.0.1: the OAuth token endpoint, ``/r/{subs}/new``,
``/r/{subs}/comments``, ``/message/mentions`` and ``/api/info`` as listings
(``{"kind": "Listing", "data": {"children": [...], "after": ...}}``, newest first,
paged with ``after``), with Reddit's ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.listener.wire import FakeServer, Request, Response

BASE = datetime(2026, 11, 20, 14, 0, tzinfo=UTC).timestamp()


def b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


class FakeReddit(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.things: dict[str, dict[str, Any]] = {}
        self.mentions: list[str] = []

    def submission(
        self, n: int, title: str, sub: str = "boston", author: str = "resident", **extra: Any
    ) -> dict[str, Any]:
        sid = b36(n)
        data = {
            "id": sid,
            "name": f"t3_{sid}",
            "title": title,
            "selftext": extra.pop("selftext", ""),
            "author": author,
            "author_fullname": f"t2_{author}",
            "subreddit": sub,
            "created_utc": BASE + n,
            "permalink": f"/r/{sub}/comments/{sid}/x/",
        }
        data.update(extra)
        thing = {"kind": "t3", "data": data}
        self.things[data["name"]] = thing
        return thing

    def comment(
        self,
        n: int,
        body: str,
        link: str,
        sub: str = "boston",
        author: str = "resident",
        mention: bool = False,
    ) -> dict[str, Any]:
        cid = b36(n)
        data = {
            "id": cid,
            "name": f"t1_{cid}",
            "body": body,
            "author": author,
            "subreddit": sub,
            "created_utc": BASE + n,
            "link_id": link,
            "parent_id": link,
            "permalink": f"/r/{sub}/comments/{link[3:]}/x/{cid}/",
        }
        thing = {"kind": "t1", "data": data}
        self.things[data["name"]] = thing
        if mention:
            self.mentions.append(data["name"])
        return thing

    def delete(self, fullname: str) -> None:
        data = self.things[fullname]["data"]
        data["author"] = "[deleted]"
        data["selftext" if fullname.startswith("t3_") else "body"] = "[deleted]"

    def handle(self, req: Request) -> Response:
        limits = {
            "x-ratelimit-remaining": "598",
            "x-ratelimit-used": "2",
            "x-ratelimit-reset": "300",
        }
        if req.path == "/api/v1/access_token":
            return Response(
                200,
                {
                    "access_token": "reddit-token",
                    "token_type": "bearer",
                    "expires_in": 86400,
                    "scope": "*",
                },
            )
        if req.headers.get("authorization", "").lower() != "bearer reddit-token":
            return Response(401, {"message": "Unauthorized", "error": 401})
        parts = req.path.strip("/").split("/")
        if parts[0] == "r" and len(parts) == 3:
            subs = {s.lower() for s in parts[1].split("+")}
            kind = "t3" if parts[2] == "new" else "t1"
            found = [
                t
                for t in self.things.values()
                if t["kind"] == kind and t["data"]["subreddit"].lower() in subs
            ]
            return Response(200, self._listing(req, found), limits)
        if req.path == "/message/mentions":
            return Response(
                200, self._listing(req, [self.things[n] for n in self.mentions]), limits
            )
        if req.path == "/api/info":
            ids = (req.arg("id") or "").split(",")
            return Response(
                200,
                {
                    "kind": "Listing",
                    "data": {
                        "children": [self.things[i] for i in ids if i in self.things],
                        "after": None,
                        "before": None,
                    },
                },
                limits,
            )
        return Response(404, {"message": "Not Found", "error": 404})

    def _listing(self, req: Request, found: list[dict[str, Any]]) -> dict[str, Any]:
        found = sorted(found, key=lambda t: -int(t["data"]["id"], 36))
        after = req.arg("after")
        if after:
            names = [t["data"]["name"] for t in found]
            found = found[names.index(after) + 1 :] if after in names else []
        limit = int(req.arg("limit") or 25)
        page = found[:limit]
        more = page[-1]["data"]["name"] if len(found) > limit else None
        return {
            "kind": "Listing",
            "data": {"children": page, "after": more, "before": None, "dist": len(page)},
        }
