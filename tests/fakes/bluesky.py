"""Fake Bluesky services on 127.0.0.1.

:class:`FakeJetstream` is a real WebSocket server speaking Jetstream v1: ``/subscribe`` with
``wantedCollections`` and ``cursor`` (replays stored events from ``cursor`` on, then sends
live ones a test pushes), can refuse the handshake (429 with ``ratelimit-reset``) and can
drop the connection abruptly. :class:`FakeXrpc` answers createSession, searchPosts,
resolveHandle and getProfiles over HTTP.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import serve

from tests.listener.wire import FakeServer, Request, Response

BASE_US = int(datetime(2026, 11, 20, 14, 0, tzinfo=UTC).timestamp() * 1_000_000)
DROP = object()


def post_event(
    n: int, did: str, text: str, *, rkey: str | None = None, **record: Any
) -> dict[str, Any]:
    rec = {
        "$type": "app.bsky.feed.post",
        "createdAt": datetime.fromtimestamp((BASE_US + n * 1000) / 1e6, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "langs": ["en"],
        "text": text,
    }
    rec.update(record)
    return {
        "did": did,
        "time_us": BASE_US + n * 1000,
        "kind": "commit",
        "commit": {
            "rev": f"rev{n}",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": rkey or f"3k{n:08d}",
            "record": rec,
            "cid": f"bafy{n}",
        },
    }


def delete_event(n: int, did: str, rkey: str) -> dict[str, Any]:
    return {
        "did": did,
        "time_us": BASE_US + n * 1000,
        "kind": "commit",
        "commit": {
            "rev": f"rev{n}",
            "operation": "delete",
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
        },
    }


def identity_event(n: int, did: str, handle: str) -> dict[str, Any]:
    return {
        "did": did,
        "time_us": BASE_US + n * 1000,
        "kind": "identity",
        "identity": {"did": did, "handle": handle, "seq": n, "time": "2026-11-20T14:00:00Z"},
    }


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeJetstream:
    def __init__(self) -> None:
        self.events: list[Any] = []  # dicts, or raw text frames
        self.paths: list[str] = []
        self.rejects: deque[tuple[int, dict[str, str]]] = deque()
        self.live: queue.Queue = queue.Queue()
        self.drop_after_replay = False
        self.connections = 0
        self._stopping = threading.Event()
        self.server = serve(self._handler, "127.0.0.1", 0, process_request=self._process)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/subscribe"

    def __enter__(self) -> FakeJetstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.thread.join(timeout=5)

    def _process(self, connection: Any, request: Any) -> Any:
        self.paths.append(request.path)
        if self.rejects:
            status, headers = self.rejects.popleft()
            response = connection.respond(status, "slow down\n")
            for k, v in headers.items():
                response.headers[k] = v
            return response
        return None

    def _handler(self, connection: Any) -> None:
        self.connections += 1
        query = parse_qs(urlsplit(connection.request.path).query)
        wanted = set(query.get("wantedCollections", []))
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        for event in self.events:
            if isinstance(event, dict):
                if cursor is not None and event["time_us"] < cursor:
                    continue
                coll = (event.get("commit") or {}).get("collection")
                if event.get("kind") == "commit" and wanted and coll not in wanted:
                    continue
                connection.send(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            else:
                connection.send(event)
        if self.drop_after_replay:
            self.drop_after_replay = False
            connection.socket.shutdown(socket.SHUT_RDWR)
            return
        while not self._stopping.is_set():
            try:
                event = self.live.get(timeout=0.05)
            except queue.Empty:
                continue
            if event is DROP:
                connection.socket.shutdown(socket.SHUT_RDWR)
                return
            self.events.append(event)
            connection.send(
                event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
            )


class FakeXrpc(FakeServer):
    def __init__(self, handle: str = "listener.city.gov", password: str = "app-pass-1234") -> None:
        super().__init__()
        self.account_handle, self.password = handle, password
        self.handles: dict[str, str] = {
            "boston.gov": "did:plc:bostongov",
            "dot-resident.bsky.social": "did:plc:resident",
        }
        self.posts: list[dict[str, Any]] = []

    def view(self, event: dict[str, Any]) -> dict[str, Any]:
        did = event["did"]
        handle = next((h for h, d in self.handles.items() if d == did), "handle.invalid")
        commit = event["commit"]
        v = {
            "uri": f"at://{did}/app.bsky.feed.post/{commit['rkey']}",
            "cid": commit["cid"],
            "author": {"did": did, "handle": handle},
            "record": commit["record"],
            "indexedAt": commit["record"]["createdAt"],
        }
        self.posts.append(v)
        return v

    def handle(self, req: Request) -> Response:
        if req.path == "/xrpc/com.atproto.server.createSession":
            body = req.json()
            if (
                body.get("identifier") != self.account_handle
                or body.get("password") != self.password
            ):
                return Response(
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            return Response(
                200,
                {
                    "accessJwt": "jwt-1",
                    "refreshJwt": "r-1",
                    "did": "did:plc:listener",
                    "handle": self.account_handle,
                },
            )
        if req.path == "/xrpc/com.atproto.identity.resolveHandle":
            did = self.handles.get(req.arg("handle") or "")
            return (
                Response(200, {"did": did})
                if did
                else Response(
                    400, {"error": "InvalidRequest", "message": "Unable to resolve handle"}
                )
            )
        if req.path == "/xrpc/app.bsky.actor.getProfiles":
            dids = set(req.query.get("actors") or [])
            return Response(
                200,
                {
                    "profiles": [
                        {"did": d, "handle": h} for h, d in self.handles.items() if d in dids
                    ]
                },
            )
        if req.path == "/xrpc/app.bsky.feed.searchPosts":
            if req.headers.get("authorization") != "Bearer jwt-1":
                return Response(403, {"error": "Forbidden"})
            q = (req.arg("q") or "").lower()
            mentions = req.arg("mentions")
            since = _when(req.arg("since") or "2000-01-01T00:00:00Z")
            until = _when(req.arg("until") or "2100-01-01T00:00:00Z")
            found = [
                p
                for p in self.posts
                if since <= _when(p["indexedAt"]) < until
                and (q == "*" or q in p["record"]["text"].lower())
                and (mentions is None or f"@{mentions}" in p["record"]["text"])
            ]
            found.sort(key=lambda p: p["indexedAt"], reverse=True)
            start = int(req.arg("cursor") or 0)
            limit = int(req.arg("limit") or 25)
            page = found[start : start + limit]
            body: dict[str, Any] = {"posts": page}
            if start + limit < len(found):
                body["cursor"] = str(start + limit)
            return Response(200, body)
        return Response(404, {"error": "MethodNotImplemented"})
