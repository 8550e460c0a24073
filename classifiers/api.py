"""The classifier contract shared by the pipeline, the CLI and the console.

``Classifier.predict(texts)`` changes nothing and returns one :class:`Prediction`
per text, in input order. Storing labels is a separate step (``models.store``)
that stamps each label with the component name, version and artifact hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any, Protocol

TOPICS: tuple[str, ...] = (
    "pothole",
    "streetlight",
    "trash",
    "dumping",
    "graffiti",
    "snow_ice",
    "tree",
    "sidewalk",
    "signal_sign",
    "traffic_safety",
    "parking",
    "street_cleaning",
    "water_sewer",
    "parks",
    "noise",
    "pests",
    "encampment",
    "housing",
    "other_service",
    "none",
)
URGENCIES: tuple[str, ...] = ("emergency", "high", "normal", "low")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
TASKS: tuple[str, ...] = ("relevance", "topic", "urgency", "sentiment", "language")


@dataclass(frozen=True, slots=True)
class Location:
    """A place named in a post."""

    text: str
    kind: str  # "address" | "intersection" | "neighborhood" | "landmark" | "coordinates"
    start: int = -1
    end: int = -1
    neighborhood: str | None = None
    lat: float | None = None
    lon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as a constructor call: the labeller's worker sends thousands a batch, and
        # the slots dataclass default (a state dict set field by field) costs twice as much
        return (Location, _LOCATION_FIELDS(self))


@dataclass(slots=True)
class Prediction:
    """Every label for one post, with calibrated scores and the evidence behind them."""

    relevant: bool
    relevance_score: float
    topic: str
    topic_score: float
    urgency: str
    urgency_score: float
    sentiment: str
    sentiment_score: float
    language: str  # ISO 639-1 code, or "und" when unknown
    language_score: float = 0.0
    locations: list[Location] = field(default_factory=list)
    # task -> the terms or rules that drove the decision, for the console
    evidence: dict[str, list[str]] = field(default_factory=dict)
    # tasks whose score fell below the review threshold: shown for a person, never acted on
    needs_review: list[str] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Prediction, _PREDICTION_FIELDS(self))  # as Location

    def to_output(self, post_id: Any) -> dict[str, Any]:
        """The ``civic-listener classify`` output line."""
        return {
            "id": post_id,
            "relevant": self.relevant,
            "relevance_score": round(self.relevance_score, 4),
            "topic": self.topic,
            "topic_score": round(self.topic_score, 4),
            "urgency": self.urgency,
            "urgency_score": round(self.urgency_score, 4),
            "sentiment": self.sentiment,
            "sentiment_score": round(self.sentiment_score, 4),
            "language": self.language,
            "locations": [loc.to_dict() for loc in self.locations],
        }


# every field in order, read in one C call (the arguments of the constructor call pickled)
_LOCATION_FIELDS = attrgetter(*(f.name for f in fields(Location)))
_PREDICTION_FIELDS = attrgetter(*(f.name for f in fields(Prediction)))


class Classifier(Protocol):
    """A versioned component: ``predict`` is pure, batch in, batch out."""

    name: str
    version: str
    artifact_hash: str

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...
