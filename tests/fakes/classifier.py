"""A deterministic keyword classifier with the real contract, for fast pipeline tests."""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.api import Location, Prediction

RULES = {
    "pothole": "pothole",
    "trash": "trash",
    "streetlight": "light",
    "snow_ice": "snow",
}


class KeywordClassifier:
    name = "keyword-test"
    version = "0.0.1"
    artifact_hash = "0" * 64

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            low = text.lower()
            topic = next((t for t, kw in RULES.items() if kw in low), "none")
            urgency = (
                "emergency"
                if "gas" in low or "fire" in low
                else ("low" if topic == "none" else "normal")
            )
            locs = (
                [Location(text="Dorchester", kind="neighborhood", neighborhood="Dorchester")]
                if "dorchester" in low
                else []
            )
            out.append(
                Prediction(
                    relevant=topic != "none",
                    relevance_score=0.9,
                    topic=topic,
                    topic_score=0.8,
                    urgency=urgency,
                    urgency_score=0.7,
                    sentiment="negative" if "!" in text else "neutral",
                    sentiment_score=0.6,
                    language="en",
                    language_score=0.99,
                    locations=locs,
                    evidence={"topic": [RULES.get(topic, "")]} if topic != "none" else {},
                    needs_review=[] if topic != "none" else ["topic"],
                )
            )
        return out
