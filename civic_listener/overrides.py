"""City settings changed in the console, applied over the TOML file's.

The console stores them per city (``models.console.set_override``, each change audited);
:func:`effective` merges them over a city's configured settings, and
:func:`apply_to_directory` does so for every city when the services are built, so the
service started next listens with the console's keywords and accounts.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from civic_listener.cities import CityDirectory, _handle
from civic_listener.settings import CitySettings
from models.console import get_overrides

# key -> what it means (shown on the console's Settings page)
EDITABLE = {
    "keywords": "words and hashtags that make a post worth collecting",
    "accounts": "the city's own accounts per platform (never imported; a mention routes a post)",
    "response_target_minutes": "the response-time target in the inbox and the dashboard",
    "spike_factor": "dashboard alert: last hour at least this many times the usual level",
    "spike_min_posts": "dashboard alert: and at least this many posts in the last hour",
}


def effective(base: CitySettings, overrides: dict[str, Any]) -> CitySettings:
    """The city's settings with the console's overrides applied (invalid ones ignored)."""
    data = base.model_dump()
    for key, value in overrides.items():
        if key not in EDITABLE:
            continue
        try:
            CitySettings.model_validate({**data, key: value})
        except ValidationError:
            continue
        data[key] = value
    return CitySettings.model_validate(data)


def city_settings(engine: Engine, *, city_id: int, base: CitySettings) -> CitySettings:
    return effective(base, get_overrides(engine, city_id=city_id))


def apply_to_directory(engine: Engine, cities: CityDirectory) -> None:
    """Replace each city's settings (and own-account handles) by the effective ones."""
    for city in cities:
        overrides = get_overrides(engine, city_id=city.id)
        if not overrides:
            continue
        city.settings = effective(city.settings, overrides)
        city.accounts = {
            p: frozenset(_handle(a) for a in acc) for p, acc in city.settings.accounts.items()
        }
