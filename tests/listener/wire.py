"""A small real HTTP/1.1 server on 127.0.0.1 for the platform fakes.

It records every request, can be told to misbehave for the next calls (a status with
headers, such as 429 with reset headers or 503), and streams chunked responses that a
test feeds line by line, ends, or drops mid-stream (the socket closes without the final
chunk, as a broken connection does).
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

END = object()
DROP = object()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A chunked response whose lines come from ``feed`` (END finishes it, DROP breaks it)."""

    feed: queue.Queue = field(default_factory=queue.Queue)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    body: Any
    path: str | None
    times: int


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self.streams: list[Stream] = []
        self.open_streams = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms stall per kept-alive request

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with fake._lock:
                    fake.requests.append(req)
                resp = fake._fault(req) or fake.handle(req)
                if isinstance(resp, Stream):
                    self._stream(resp)
                else:
                    self._send(resp)

            do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

            def _send(self, resp: Response) -> None:
                body = resp.body
                if isinstance(body, bytes | bytearray):
                    data = bytes(body)
                    ctype = "application/octet-stream"
                elif isinstance(body, str):
                    data = body.encode()
                    ctype = "text/plain"
                else:
                    data = json.dumps(body).encode()
                    ctype = "application/json; charset=utf-8"
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.headers.get("Content-Type", ctype))
                for k, v in resp.headers.items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, stream: Stream) -> None:
                with fake._lock:
                    fake.streams.append(stream)
                    fake.open_streams += 1
                try:
                    self._pump(stream)
                finally:
                    with fake._lock:
                        fake.open_streams -= 1
                self.close_connection = True

            def _pump(self, stream: Stream) -> None:
                self.send_response(200)
                for k, v in stream.headers.items():
                    self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                try:
                    while not fake._stopping.is_set():
                        try:
                            chunk = stream.feed.get(timeout=0.05)
                        except queue.Empty:
                            continue
                        if chunk is END:
                            self.wfile.write(b"0\r\n\r\n")
                            self.wfile.flush()
                            break
                        if chunk is DROP:
                            break
                        data = chunk if isinstance(chunk, bytes) else chunk.encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def fail_next(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests (to paths starting with ``path``) with ``status``."""
        self.faults.append(
            Fault(
                status,
                headers or {},
                body or {"error": f"HTTP {status}", "title": f"HTTP {status}", "status": status},
                path,
                times,
            )
        )

    def _fault(self, req: Request) -> Response | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.path is None or req.path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return Response(fault.status, fault.body, fault.headers)
        return None

    def calls(self, path: str, method: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path) and (method is None or r.method == method)
            ]

    def wait_for_stream(self, n: int = 1, timeout: float = 5.0) -> Stream:
        """The ``n``th stream opened (1-based), once a client has connected to it."""
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            with self._lock:
                if len(self.streams) >= n:
                    return self.streams[n - 1]
            deadline.wait(0.02)
        raise AssertionError(f"no stream number {n} was opened")

    # ------------------------------------------------------------------ routes

    def handle(self, req: Request) -> Response | Stream:  # pragma: no cover - overridden
        return Response(404, {"error": "not found"})
