"""HTTP helpers for SDKs built on ``requests``: pointing one that has a fixed host at another
base URL, and closing a streaming response at once.

tweepy always calls ``https://api.twitter.com``. :class:`RebaseAdapter` is a ``requests``
transport adapter mounted on the SDK's session: it rewrites each request to the same path
under ``base`` (an egress proxy, or the local fake server the tests run) and sends it on.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter


class RebaseAdapter(HTTPAdapter):
    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.prefix = parts.path.rstrip("/")

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        request.url = urlunsplit(
            (self.scheme, self.netloc, self.prefix + parts.path, parts.query, parts.fragment)
        )
        return super().send(request, *args, **kwargs)


def shutdown_socket(response: Any) -> None:
    """Shut the stream's socket down now: the server sees the close at once, and a reader
    blocked in another thread wakes up, instead of waiting for the next keep-alive."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(fp, "_sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
