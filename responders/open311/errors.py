"""What can go wrong talking to a GeoReport v2 (Open311) server, in plain words.

::

    Open311Error
    ├── Open311Unavailable      the server is down, slow or overloaded: retry later (retry_after)
    ├── Open311AuthFailed       the key or token was refused (401/403): a person fixes the setup
    ├── Open311Refused          the server refused this request (4xx), with its error list
    └── Open311ProtocolError    the answer could not be understood

httpx errors are translated here at the edge (``raise ... from exc``); nothing above the
client sees an httpx exception.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerError:
    """One ``{code, description}`` entry of a GeoReport v2 error array."""

    code: str
    description: str

    def __str__(self) -> str:
        return f"{self.description} (code {self.code})" if self.code else self.description


class Open311Error(Exception):
    """Base of every error the Open311 client raises."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Open311Unavailable(Open311Error):
    """The server did not answer in time, dropped the connection or answered 5xx/429."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        # True when the request may have reached the server before the failure (a read
        # timeout, a dropped answer): a POST must be checked for before it is sent again.
        self.maybe_sent = maybe_sent


class Open311AuthFailed(Open311Error):
    """The server refused the API key or the bearer token."""


class Open311Refused(Open311Error):
    """The server refused the request itself; ``errors`` holds what it said."""

    def __init__(
        self, message: str, *, status: int | None = None, errors: list[ServerError] | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.errors = list(errors or [])


class Open311ProtocolError(Open311Error):
    """The server answered something that is not GeoReport v2 JSON or XML."""
