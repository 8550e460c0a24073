"""How a page gets its services, the signed-in person and the city it works for.

Services are injected through session state (tests: ``st.session_state["services"]``) or
built once per process from the settings (``build_services``). The signed-in person is the
``Actor`` of a live console session (``models.auth.resume_session``, re-checked on every
page load so an expired, revoked or deactivated session ends at the next click); tests may
inject ``st.session_state["actor"]`` directly.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from civic_listener.cities import CityInfo
from civic_listener.settings import CitySettings, load_settings
from civic_listener.wiring import Services, build_services
from models.auth import Actor, SessionPolicy, end_session, resume_session
from models.scope import Scope, open_scope, scopes_for
from ui.logic.settings import city_settings

TOKEN_KEY = "session_token"  # noqa: S105  (a session-state key, not a secret)
ACTOR_KEY = "actor"


@dataclass
class Context:
    """What a page works with. The city and the person come from ``scope``
    (:func:`models.scope.open_scope`), so a page can only work in a city where the
    signed-in person has a role."""

    services: Services
    scope: Scope
    city_name: str
    city: CityInfo | None = None
    settings: CitySettings | None = None  # the city's settings with console overrides

    @property
    def city_id(self) -> int:
        return self.scope.city_id

    @property
    def actor(self) -> Actor:
        return self.scope.actor

    @property
    def role(self) -> str | None:
        return self.scope.role

    def can(self, action: str) -> bool:
        return self.scope.can(action)


def _config_from_argv() -> Path | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", type=Path)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.config


@st.cache_resource(show_spinner=False)
def _shared_services(config: str | None) -> Services:
    settings = load_settings(Path(config) if config else None)
    return build_services(settings, with_sources=False)


def get_services() -> Services:
    services = st.session_state.get("services")
    if services is None:
        config = _config_from_argv()
        services = _shared_services(str(config) if config else None)
    return services


def session_policy(services: Services) -> SessionPolicy:
    return SessionPolicy.from_settings(services.settings)


def current_actor(services: Services) -> Actor | None:
    """The signed-in person, after checking their session is still live; else None."""
    token = st.session_state.get(TOKEN_KEY)
    if token:
        actor = resume_session(
            services.engine, token=token, policy=session_policy(services), now=services.clock()
        )
        if actor is None:
            st.session_state.pop(TOKEN_KEY, None)
            st.session_state.pop(ACTOR_KEY, None)
            st.session_state["signed_out_reason"] = "Your session has ended. Please sign in again."
            return None
        st.session_state[ACTOR_KEY] = actor
        return actor
    actor = st.session_state.get(ACTOR_KEY)
    return actor if isinstance(actor, Actor) else None


def oidc_signed_in() -> bool:
    """True when the browser carries an identity from the city's OIDC provider."""
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # authentication is not configured
        return False


def sign_out(services: Services) -> None:
    token = st.session_state.pop(TOKEN_KEY, None)
    st.session_state.pop(ACTOR_KEY, None)
    if token:
        end_session(services.engine, token=token, now=services.clock())


def cities_for(services: Services, actor: Actor) -> list[CityInfo]:
    """The cities this person has a role in, in configuration order (a state admin: all,
    the state-level queue included)."""
    allowed = {s.city_id for s in scopes_for(actor, [c.id for c in services.cities])}
    return [c for c in services.cities if c.id in allowed]


def console_is_local(services: Services) -> bool:
    """True when the console listens only on a loopback address (the default)."""
    host = services.settings.console_host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def get_context() -> Context:
    """The page's context; stops the page (after saying why) when nobody is signed in or the
    person has no role in any city."""
    services = get_services()
    actor = current_actor(services)
    if actor is None:
        st.warning("Sign in to use the console.")
        st.stop()
    allowed = cities_for(services, actor)
    if not allowed:
        st.error(f"{actor.username} has no role in any city here. Ask an admin for access.")
        st.stop()
    slug = st.session_state.get("city") or services.settings.default_city
    city = next((c for c in allowed if c.slug == slug), allowed[0])
    settings = city_settings(services.engine, city_id=city.id, base=city.settings)
    return Context(
        services=services,
        scope=open_scope(actor, city.id),
        city_name=settings.name,
        city=city,
        settings=settings,
    )
