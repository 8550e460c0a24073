"""Civic Listener classifiers: relevance, topic, urgency, sentiment, language and location.

``load_classifier()`` loads the committed artifact (plain ``.npz`` + JSON, no code executed) and
returns an object with ``predict(texts) -> list[Prediction]``; ``run_training`` / ``train_main``
rebuild it from ``../shared/data``, the hand-written seeds and staff corrections.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers.api import SENTIMENTS, TOPICS, URGENCIES, Classifier, Location, Prediction
from classifiers.location import Gazetteer, Geocoder, LocationExtractor
from classifiers.model import DEFAULT_ARTIFACT_DIR, ArtifactError, CivicClassifier

if TYPE_CHECKING:
    from classifiers.training import RegressionRefused, run_training, train_main

# training pulls in scikit-learn (about a second of CPU): loaded on first use, so a process that
# only predicts never imports it
_TRAINING = frozenset({"RegressionRefused", "run_training", "train_main"})


def __getattr__(name: str) -> Any:
    if name in _TRAINING:
        return getattr(importlib.import_module("classifiers.training"), name)
    raise AttributeError(f"module 'classifiers' has no attribute {name!r}")


__all__ = [
    "SENTIMENTS",
    "TOPICS",
    "URGENCIES",
    "ArtifactError",
    "CivicClassifier",
    "Classifier",
    "DEFAULT_ARTIFACT_DIR",
    "Gazetteer",
    "Geocoder",
    "Location",
    "LocationExtractor",
    "Prediction",
    "RegressionRefused",
    "load_classifier",
    "run_training",
    "train_main",
]


def load_classifier(
    artifact_dir: Path | None = None,
    *,
    gazetteer: Gazetteer | None = None,
    review_threshold: float = 0.5,
    geocoder: Geocoder | None = None,
    jobs: int | None = None,
    **kwargs: Any,
) -> CivicClassifier:
    """The trained classifier (default: the artifact committed in ``classifiers/artifacts``).

    ``jobs``: processes used for batches of 256+ posts (default: up to 2 cores); 1 keeps
    everything in the calling process.
    """
    return CivicClassifier.load(
        artifact_dir,
        gazetteer=gazetteer,
        review_threshold=review_threshold,
        geocoder=geocoder,
        jobs=jobs,
        **kwargs,
    )
