"""Triage rules: which labelled posts may become service requests without a person.

A rule set is built from the settings (``cases_auto_*``, ``cases_min_confidence``,
``cases_require_location``), with a city's own values set in the console's Settings page
(``CitySettingOverride`` rows under the same keys, each change audited) taking precedence:
:func:`rules_for` reads them at every triage run, so a change applies to the next batch
without a restart. :func:`decide` is pure: given a post's labels and where it is, it says
what happens to it:

* ``surface``: an emergency; it never becomes a 311 request and is shown to a person at once;
* ``skip``: not a service request, or a topic without a service code;
* ``auto``: every rule passed and automatic filing is on: the case goes to the outbox;
* ``review``: a case is drafted and waits in the console for a person (``reason`` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.engine import Engine

from civic_listener.settings import Settings
from models.console import get_overrides

Action = Literal["surface", "skip", "auto", "review"]


@dataclass(frozen=True, slots=True)
class TriageRules:
    auto_file: bool = False
    topics: frozenset[str] = frozenset()  # empty: every topic with a service code
    urgencies: frozenset[str] = frozenset({"high", "normal"})
    min_confidence: float = 0.7
    require_location: bool = True

    @classmethod
    def from_settings(
        cls, settings: Settings, overrides: Mapping[str, Any] | None = None
    ) -> TriageRules:
        """The rules from the settings, with a city's valid ``overrides`` (see :data:`RULES`)
        in place of the settings' values; an invalid override is ignored."""
        values = rule_values(settings, overrides)
        return cls(
            auto_file=values["cases_auto_file"],
            topics=frozenset(values["cases_auto_topics"]),
            urgencies=frozenset(values["cases_auto_urgencies"]) - {"emergency"},
            min_confidence=values["cases_min_confidence"],
            require_location=values["cases_require_location"],
        )


# key -> what it means (the console's Settings page); a city may set each one
RULES = {
    "cases_auto_file": "file service requests without a person when every rule passes",
    "cases_auto_topics": "topics filed automatically (none listed: every topic with a code)",
    "cases_auto_urgencies": "urgencies filed automatically (emergencies never are)",
    "cases_min_confidence": "the lowest topic score filed automatically (0 to 1)",
    "cases_require_location": "file automatically only posts with a usable location",
}


class _RuleValues(BaseModel):
    """How a city's rule values are checked."""

    model_config = {"extra": "forbid"}

    cases_auto_file: bool | None = None
    cases_auto_topics: list[str] | None = None
    cases_auto_urgencies: list[Literal["high", "normal", "low"]] | None = None
    cases_min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    cases_require_location: bool | None = None


def global_rules(settings: Settings) -> dict[str, Any]:
    """The rule values of the settings file and environment (every city's default)."""
    return {key: getattr(settings, key) for key in RULES}


def check_rule(key: str, value: Any) -> Any:
    """``value`` checked and normalised for rule ``key``; ValueError says what is wrong."""
    if key not in RULES:
        raise ValueError(f"{key} is not a triage rule")
    if key == "cases_auto_urgencies" and "emergency" in (value or []):
        raise ValueError(f"{key}: emergencies are never filed automatically")
    if key == "cases_auto_topics" and isinstance(value, list | tuple):
        value = sorted({str(v).strip() for v in value if str(v).strip()})
    if value is None:
        raise ValueError(f"{key}: a value is needed")
    try:
        checked = _RuleValues.model_validate({key: value})
    except ValidationError as exc:
        raise ValueError(f"{key}: {exc.errors()[0]['msg']}") from exc
    return getattr(checked, key)


def rule_values(settings: Settings, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rule values in force: the settings', with each valid override applied."""
    values = global_rules(settings)
    for key, value in (overrides or {}).items():
        if key in RULES and value is not None:
            try:
                values[key] = check_rule(key, value)
            except ValueError:
                continue
    values["cases_auto_urgencies"] = [u for u in values["cases_auto_urgencies"] if u != "emergency"]
    return values


def rules_for(engine: Engine, settings: Settings, *, city_id: int) -> TriageRules:
    """The city's rules as they stand now (its console overrides read from the database)."""
    return TriageRules.from_settings(settings, get_overrides(engine, city_id=city_id))


@dataclass(frozen=True, slots=True)
class PostLabels:
    topic: str | None
    topic_score: float
    urgency: str | None
    relevant: bool | None
    needs_review: bool
    has_location: bool  # coordinates, an address, an intersection or a landmark


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""


def decide(rules: TriageRules, post: PostLabels, service_code: str | None) -> Decision:
    if post.urgency == "emergency":
        return Decision("surface", "emergency: never filed as a 311 request; a person acts now")
    if not post.relevant or not post.topic or post.topic == "none":
        return Decision("skip", "not a service request")
    if service_code is None:
        return Decision("skip", f"no service code for topic {post.topic}")
    why: list[str] = []
    if not rules.auto_file:
        why.append("automatic filing is off")
    if rules.topics and post.topic not in rules.topics:
        why.append(f"topic {post.topic} is not filed automatically")
    if post.urgency not in rules.urgencies:
        why.append(f"urgency {post.urgency} is not filed automatically")
    if post.topic_score < rules.min_confidence:
        why.append(f"topic score {post.topic_score:.2f} is below {rules.min_confidence:.2f}")
    if post.needs_review:
        why.append("a label needs review")
    if rules.require_location and not post.has_location:
        why.append("no usable location")
    if why:
        return Decision("review", "; ".join(why))
    return Decision("auto")
