"""How the client proves who it is: an ``api_key`` form field, or an OAuth 2 bearer token.

:class:`ApiKeyAuth` adds the GeoReport ``api_key`` to every POST (and, where a server wants
it, to reads). :class:`BearerTokenAuth` is an ``httpx.Auth`` that fetches a token from the
token endpoint with the client-credentials grant, caches it until shortly before it expires,
and fetches a new one once when the server answers 401. Both may be combined (some servers
want a key and a token). Secrets stay in ``SecretStr`` until the moment a request is built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from pydantic import SecretStr

from models.types import utcnow
from responders.open311.errors import Open311AuthFailed, Open311Unavailable
from responders.open311.wire import server_errors


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """The GeoReport ``api_key``; sent on writes, and on reads when ``on_reads``."""

    key: SecretStr
    on_reads: bool = False

    def params(self, *, write: bool) -> dict[str, str]:
        if write or self.on_reads:
            return {"api_key": self.key.get_secret_value()}
        return {}


@dataclass
class BearerTokenAuth(httpx.Auth):
    """OAuth 2 client credentials; the token is refreshed before expiry and once on 401."""

    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    clock: Callable[[], datetime] = utcnow
    _token: str | None = field(default=None, repr=False)
    _expires_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    requires_response_body = True
    fetched: int = 0  # how many tokens were fetched (health and tests)

    def _token_request(self) -> httpx.Request:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.scope:
            data["scope"] = self.scope
        return httpx.Request("POST", self.token_url, data=data)

    def _store(self, response: httpx.Response) -> None:
        if response.status_code >= 500 or response.status_code == 429:
            raise Open311Unavailable(
                f"the 311 token endpoint answered {response.status_code}",
                status=response.status_code,
            )
        if response.status_code != 200:
            why = "; ".join(str(e) for e in server_errors(response)) or "no reason given"
            raise Open311AuthFailed(
                f"the 311 token endpoint refused the client credentials "
                f"({response.status_code}): {why}",
                status=response.status_code,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Open311AuthFailed("the 311 token endpoint sent no access_token") from exc
        expires_in = body.get("expires_in")
        self._token = token
        self._expires_at = (
            self.clock() + timedelta(seconds=max(0.0, float(expires_in) - 30))
            if isinstance(expires_in, int | float | str) and str(expires_in).strip()
            else None
        )
        self.fetched += 1

    def _valid(self) -> bool:
        if self._token is None:
            return False
        return self._expires_at is None or self.clock() < self._expires_at

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if not self._valid():
                self._store((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            with self._lock:
                self._token = None
                self._store((yield self._token_request()))
                request.headers["Authorization"] = f"Bearer {self._token}"
            yield request
