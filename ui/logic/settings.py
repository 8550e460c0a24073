"""City settings edited in the console: which keys, how they are checked, what is in force.

A value set in the console overrides the TOML file for that city (``CitySettingOverride``);
removing it falls back to the file. Each change is an audit event (:mod:`models.console`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from civic_listener.overrides import EDITABLE, city_settings, effective
from civic_listener.settings import CitySettings
from models.auth import Actor
from models.console import set_override

__all__ = ["EDITABLE", "change", "city_settings", "effective", "parse_list"]


def parse_list(text: str) -> list[str]:
    """One entry per line or comma, trimmed, without duplicates, in order."""
    seen: list[str] = []
    for part in text.replace(",", "\n").splitlines():
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return seen


def change(
    engine: Engine, actor: Actor, *, city_id: int, base: CitySettings, key: str, value: Any
) -> bool:
    """Validate and store one setting; returns False when it did not change.

    A value equal to the file's removes the override. Raises ValueError with a readable
    message for an invalid value, PermissionDenied for a role that may not change settings.
    """
    if key not in EDITABLE:
        raise ValueError(f"{key} cannot be changed in the console")
    try:
        checked = CitySettings.model_validate({**base.model_dump(), key: value})
    except ValidationError as exc:
        raise ValueError(f"{key}: {exc.errors()[0]['msg']}") from exc
    value = getattr(checked, key)
    stored = None if value == getattr(base, key) else value
    return set_override(engine, actor, city_id=city_id, key=key, value=stored)
