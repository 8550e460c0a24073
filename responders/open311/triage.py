"""Triage rules: which labelled posts may become service requests without a person.

A rule set is built from the settings (``cases_auto_*``, ``cases_min_confidence``,
``cases_require_location``). :func:`decide` is pure: given a post's labels and where it
is, it says what happens to it:

* ``surface``: an emergency; it never becomes a 311 request and is shown to a person at once;
* ``skip``: not a service request, or a topic without a service code;
* ``auto``: every rule passed and automatic filing is on: the case goes to the outbox;
* ``review``: a case is drafted and waits in the console for a person (``reason`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from civic_listener.settings import Settings

Action = Literal["surface", "skip", "auto", "review"]


@dataclass(frozen=True, slots=True)
class TriageRules:
    auto_file: bool = False
    topics: frozenset[str] = frozenset()  # empty: every topic with a service code
    urgencies: frozenset[str] = frozenset({"high", "normal"})
    min_confidence: float = 0.7
    require_location: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> TriageRules:
        return cls(
            auto_file=settings.cases_auto_file,
            topics=frozenset(settings.cases_auto_topics),
            urgencies=frozenset(settings.cases_auto_urgencies) - {"emergency"},
            min_confidence=settings.cases_min_confidence,
            require_location=settings.cases_require_location,
        )


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
