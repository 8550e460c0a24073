"""City settings edited in the console: which keys, how they are checked, what is in force.

A value set in the console overrides the TOML file for that city (``CitySettingOverride``);
removing it falls back to the file. Each change is an audit event (:mod:`models.console`).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from civic_listener.overrides import EDITABLE, city_settings, effective
from civic_listener.settings import CitySettings, Settings
from models.auth import Actor, require
from models.console import get_overrides, set_override
from responders.open311.triage import RULES, check_rule, global_rules, rule_values

__all__ = [
    "EDITABLE",
    "RULES",
    "change",
    "change_rule",
    "city_settings",
    "effective",
    "parse_list",
    "rules_in_force",
]


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


def rules_in_force(engine: Engine, settings: Settings, *, city_id: int) -> list[dict[str, Any]]:
    """The city's Open311 triage rules: each value in force and where it comes from."""
    overrides = get_overrides(engine, city_id=city_id)
    values = rule_values(settings, overrides)
    return [
        {
            "rule": key,
            "value": values[key],
            "set by": "this city (console)" if key in overrides else "settings file",
            "meaning": meaning,
        }
        for key, meaning in RULES.items()
    ]


def change_rule(
    engine: Engine, actor: Actor, *, city_id: int, settings: Settings, key: str, value: Any
) -> bool:
    """Set one triage rule for the city (admins: ``rule.manage``); returns False when it did
    not change. A value equal to the settings file's removes the city's own value. The
    triage reads it at its next batch. Raises PermissionDenied before checking anything,
    ValueError with a readable message for an invalid value."""
    require(actor, city_id, "rule.manage")
    value = check_rule(key, value)
    default = global_rules(settings)[key]
    with suppress(ValueError):  # compared in the same normal form
        default = check_rule(key, default)
    stored = None if value == default else value
    return set_override(engine, actor, city_id=city_id, key=key, value=stored, action="rule.manage")
