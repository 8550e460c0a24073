"""Per-city Open311 configuration: which server a city files to, with which credentials, and
whether filing is live.

Top-level settings (``CIVIC_OPEN311_URL``, ``CIVIC_OPEN311_API_KEY``, the OAuth client) are the
default city's; every city may name its own endpoint in ``[cities.<slug>]`` and the environment
variables that hold its secrets, so each city files to its own server.

Filing is **live** (a network call to the 311 server) only when the city has an endpoint and a
person chose to file for real: ``dry_run = false``, or ``cases_auto_file = true`` (which only
makes sense against a real server). Otherwise cases are kept locally as ``not_filed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import SecretStr

from civic_listener.cities import CityInfo
from civic_listener.settings import Settings, SettingsError, env_secret
from models.types import utcnow
from responders.open311.auth import ApiKeyAuth, BearerTokenAuth
from responders.open311.client import Open311Client


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how one city files service requests."""

    city_id: int
    slug: str
    url: str
    jurisdiction_id: str | None
    api_key: SecretStr | None
    oauth_token_url: str | None
    oauth_client_id: str | None
    oauth_client_secret: SecretStr | None
    oauth_scope: str | None
    timeout: float


def endpoint_for(settings: Settings, city: CityInfo) -> Endpoint | None:
    """The city's endpoint, or None when it files nowhere (cases are kept locally)."""
    cs = city.settings
    is_default = city.slug == settings.default_city
    url = cs.open311_url or (settings.open311_url if is_default else None)
    if not url:
        return None
    api_key = env_secret(cs.open311_api_key_env, f"cities.{city.slug}.open311_api_key_env")
    secret = env_secret(
        cs.open311_oauth_client_secret_env, f"cities.{city.slug}.open311_oauth_client_secret_env"
    )
    token_url = cs.open311_oauth_token_url
    client_id = cs.open311_oauth_client_id
    if is_default:
        api_key = api_key or settings.open311_api_key
        secret = secret or settings.open311_oauth_client_secret
        token_url = token_url or settings.open311_oauth_token_url
        client_id = client_id or settings.open311_oauth_client_id
    if token_url and (not client_id or secret is None):
        raise SettingsError(
            f"city {city.slug}: an OAuth token URL needs a client id and a client secret"
        )
    return Endpoint(
        city_id=city.id,
        slug=city.slug,
        url=url,
        jurisdiction_id=cs.open311_jurisdiction_id
        or (settings.open311_jurisdiction_id if is_default else None),
        api_key=api_key,
        oauth_token_url=token_url,
        oauth_client_id=client_id,
        oauth_client_secret=secret,
        oauth_scope=settings.open311_oauth_scope,
        timeout=settings.open311_timeout_seconds,
    )


def filing_is_live(settings: Settings, endpoint: Endpoint | None) -> bool:
    """True when cases go to the 311 server; False keeps them locally as ``not_filed``."""
    return endpoint is not None and (not settings.dry_run or settings.cases_auto_file)


def make_bearer(
    endpoint: Endpoint, *, clock: Callable[[], datetime] | None = None
) -> BearerTokenAuth | None:
    """The endpoint's OAuth token holder, kept across clients so its token is reused."""
    if not endpoint.oauth_token_url:
        return None
    assert endpoint.oauth_client_id and endpoint.oauth_client_secret is not None
    return BearerTokenAuth(
        token_url=endpoint.oauth_token_url,
        client_id=endpoint.oauth_client_id,
        client_secret=endpoint.oauth_client_secret,
        scope=endpoint.oauth_scope,
        clock=clock or utcnow,
    )


def make_client(
    endpoint: Endpoint,
    *,
    transport: httpx.BaseTransport | None = None,
    bearer: BearerTokenAuth | None = None,
) -> Open311Client:
    return Open311Client(
        endpoint.url,
        jurisdiction_id=endpoint.jurisdiction_id,
        api_key=ApiKeyAuth(endpoint.api_key) if endpoint.api_key is not None else None,
        bearer=bearer,
        transport=transport,
        timeout=endpoint.timeout,
    )
