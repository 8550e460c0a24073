"""How a page gets its services: injected through session state (tests) or built once
per process from the settings (``build_services``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from civic_listener.settings import load_settings
from civic_listener.wiring import Services, build_services
from models.auth import Actor


@dataclass
class Context:
    services: Services
    city_id: int
    city_name: str
    actor: Actor


def _config_from_argv() -> Path | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", type=Path)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.config


@st.cache_resource(show_spinner=False)
def _shared_services(config: str | None) -> Services:
    settings = load_settings(Path(config) if config else None)
    return build_services(settings, with_sources=False)


def get_context() -> Context:
    services = st.session_state.get("services")
    if services is None:
        config = _config_from_argv()
        services = _shared_services(str(config) if config else None)
    slug = st.session_state.get("city") or services.settings.default_city
    city = services.cities.get(slug)
    # Until sign-in is configured the console acts as the local operator of the default city.
    actor = st.session_state.get("actor") or Actor("console", roles={city.id: "admin"})
    return Context(services=services, city_id=city.id, city_name=city.settings.name, actor=actor)
