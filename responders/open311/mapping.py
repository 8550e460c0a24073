"""Topics to Open311 service codes, per city, and the attributes a service asks for.

The default map holds the example Boston codes of TAXONOMY.md. A city's ``service_codes``
override entries of it (an empty value keeps the default). Where TAXONOMY.md names two codes
for a topic, words in the post pick the second one ("abandoned" car, "dead" animal, a
"sign" rather than a signal, a park "light"). The map is checked against the server's
service list before the first filing; a code the server does not offer holds its cases for
a person instead of failing them one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from responders.open311.client import Attribute, Service

DEFAULT_SERVICE_CODES: dict[str, str] = {
    "pothole": "REQPOTHL",
    "streetlight": "STRLGTOUT",
    "trash": "EMPLITBSKT",
    "dumping": "IMPSTRTRSH",
    "graffiti": "GENERALGRAFFITI",
    "tree": "TREEMAINT",
    "sidewalk": "SDWRPR",
    "signal_sign": "TFCSGNINSP",
    "parking": "PRKGENFORC",
    "water_sewer": "CATCHBASE",
    "parks": "EQUIPREPR",
    "pests": "RODENTACT",
    "encampment": "NEEDRMVL",
    "other_service": "BOS311GEN",
}
# (topic, default code) -> [(words that pick another code, that code)]
DEFAULT_REFINEMENTS: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = {
    ("parking", "PRKGENFORC"): [(("abandoned", "abandon", "junk car"), "ABNDVHCL")],
    ("pests", "RODENTACT"): [(("dead", "carcass", "roadkill"), "PUDEADANML")],
    ("signal_sign", "TFCSGNINSP"): [(("sign", "stop sign", "signs"), "MISDMGSGN")],
    ("parks", "EQUIPREPR"): [(("light", "lights", "lamp", "electric"), "LGHTELEC")],
}
_WORD = re.compile(r"[a-z0-9']+")


@dataclass
class ServiceMap:
    """One city's topic -> service code map, and what the server offers."""

    codes: dict[str, str]
    refinements: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = field(
        default_factory=dict
    )
    offered: dict[str, Service] | None = None  # None until checked against the server

    @classmethod
    def for_city(cls, overrides: Mapping[str, str]) -> ServiceMap:
        codes = dict(DEFAULT_SERVICE_CODES)
        codes.update({t: c for t, c in overrides.items() if c})
        return cls(codes=codes, refinements=dict(DEFAULT_REFINEMENTS))

    def code_for(self, topic: str | None, text: str = "") -> str | None:
        if not topic or topic not in self.codes:
            return None
        code = self.codes[topic]
        words = set(_WORD.findall(text.lower()))
        low = text.lower()
        for keys, other in self.refinements.get((topic, code), []):
            if any((k in words) if " " not in k else (k in low) for k in keys):
                return other
        return code

    def all_codes(self) -> set[str]:
        out = set(self.codes.values())
        for (topic, code), alts in self.refinements.items():
            if self.codes.get(topic) == code:
                out.update(c for _, c in alts)
        return out

    def check(self, services: Iterable[Service]) -> list[str]:
        """Record the server's services; returns the mapped codes it does not offer."""
        self.offered = {s.code: s for s in services}
        return sorted(c for c in self.all_codes() if c not in self.offered)

    def is_offered(self, code: str) -> bool:
        return self.offered is None or code in self.offered

    def name_of(self, code: str) -> str | None:
        return self.offered[code].name if self.offered and code in self.offered else None


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What a post offers for filling attributes."""

    text: str
    platform: str
    url: str | None
    created_at: datetime | None
    location_text: str | None
    neighborhood: str | None


_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("description", "detail", "comment", "explain", "describe", "note"), "text"),
    (("address", "location", "street", "intersection", "where", "cross"), "location"),
    (("neighborhood", "neighbourhood", "district", "area"), "neighborhood"),
    (("source", "channel", "origin", "reported via", "how reported", "how was"), "source"),
    (("url", "link"), "url"),
    (("date", "time", "when", "observed", "since"), "when"),
]


def _hint(attr: Attribute) -> str | None:
    words = f"{attr.code} {attr.description}".lower().replace("_", " ")
    for keys, kind in _HINTS:
        if any(k in words for k in keys):
            return kind
    return None


def fill_attributes(
    attributes: Iterable[Attribute], facts: PostFacts, given: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[Attribute]]:
    """Values for the required attributes, and the required ones the post cannot answer.

    ``given`` holds values a person entered; they always win.
    """
    given = dict(given or {})
    values: dict[str, Any] = {}
    missing: list[Attribute] = []
    low = facts.text.lower()
    words = set(_WORD.findall(low))
    for attr in attributes:
        if not attr.variable:
            continue
        if attr.code in given and given[attr.code] not in (None, "", []):
            values[attr.code] = given[attr.code]
            continue
        if not attr.required:
            continue
        value: Any = None
        if attr.datatype in ("singlevaluelist", "multivaluelist"):
            hits = [
                key
                for key, name in attr.values
                if name and (name.lower() in low or set(_WORD.findall(name.lower())) <= words)
            ]
            if hits:
                value = hits if attr.datatype == "multivaluelist" else hits[0]
        else:
            kind = _hint(attr)
            if kind == "text":
                value = facts.text
            elif kind == "location":
                value = facts.location_text
            elif kind == "neighborhood":
                value = facts.neighborhood
            elif kind == "source":
                value = f"Social media ({facts.platform})"
            elif kind == "url":
                value = facts.url
            elif kind == "when" and attr.datatype == "datetime" and facts.created_at:
                value = facts.created_at.isoformat()
            if attr.datatype == "number" and value is not None:
                value = None
        if value in (None, "", []):
            missing.append(attr)
        else:
            values[attr.code] = value
    return values, missing
