"""``build_services(settings, ...)``: the one place that builds the engine, the cities, the
sources, the classifier and the pipeline. Used alike by the CLI, the console and the tests;
nothing is created at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from civic_listener.cities import CityDirectory, CityInfo
from civic_listener.labeller import Labeller, ProcessLabeller
from civic_listener.pipeline import Pipeline
from civic_listener.routing import STATE_QUEUE, Router
from civic_listener.settings import CitySettings, Settings, SettingsError
from classifiers.api import Classifier, Prediction
from listener.base import Source
from listener.registry import create_source
from models.db import make_engine, upgrade
from models.types import utcnow
from responders.open311 import attach_cases
from responders.replies import attach_replies

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    cities: CityDirectory
    classifier_factory: Callable[[], Classifier]
    sources: list[Source] = field(default_factory=list)
    clock: Callable[[], datetime] = utcnow
    transports: dict[str, httpx.BaseTransport] = field(default_factory=dict)
    # Scheduled jobs beyond labelling: (name, function, every_seconds). Responders add theirs.
    extra_jobs: list[tuple[str, Callable[[], Any], float]] = field(default_factory=list)
    # Called with (city_id, post ids) after labels are stored: triage, drafting.
    after_classify: list[Callable[[int, Sequence[int]], None]] = field(default_factory=list)
    # Called with (event, city_id, case_id) when a case is "filed", "linked" or "closed".
    case_events: list[Callable[[str, int, int], None]] = field(default_factory=list)
    # Called once with (event, city_id, case ids) for a batch of cases (set-based subscribers).
    case_event_batches: list[Callable[[str, int, Sequence[int]], None]] = field(
        default_factory=list
    )
    # Loads the classifier in another process (picklable); with ``classifier_jobs`` >= 2 the
    # pipeline labels there while this process stores (civic_listener.labeller).
    background_loader: Callable[[], Classifier] | None = None
    _classifier: Classifier | None = None
    _pipeline: Pipeline | None = None
    _city_classifiers: dict[int, Classifier] = field(default_factory=dict)

    def emit_case_events(self, event: str, city_id: int, case_ids: Sequence[int]) -> None:
        """Tell subscribers about several cases at once: batch hooks get one call."""
        if not case_ids:
            return
        for batch_hook in self.case_event_batches:
            batch_hook(event, city_id, case_ids)
        for hook in self.case_events:
            for case_id in case_ids:
                hook(event, city_id, case_id)

    def emit_case_event(self, event: str, city_id: int, case_id: int) -> None:
        self.emit_case_events(event, city_id, [case_id])

    def _after_classify(self, city_id: int, post_ids: Sequence[int]) -> None:
        for hook in self.after_classify:
            hook(city_id, post_ids)

    @property
    def classifier(self) -> Classifier:
        """Loaded on first use, so the console starts fast and the CLI pays only when it labels."""
        if self._classifier is None:
            self._classifier = self.classifier_factory()
        return self._classifier

    def classifier_for(self, city: CityInfo) -> Classifier:
        """The classifier as ``city`` sees it: the shared model with the city's gazetteer.

        The default city (and the state queue) use the shared classifier itself; any other
        city gets a :class:`CityClassifier` made once and kept."""
        if city.id == self.cities.default.id or city.slug == STATE_QUEUE:
            return self.classifier
        view = self._city_classifiers.get(city.id)
        if view is None:
            view = CityClassifier.for_city(self.classifier, city.settings)
            self._city_classifiers[city.id] = view
        return view

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = Pipeline(
                self.engine,
                self.classifier,
                self.cities,
                classifier_for=self.classifier_for,
                repost_policy=self.settings.repost_policy,
                batch_size=self.settings.batch_size,
                clock=self.clock,
                after_classify=self._after_classify,
                router=Router(self.cities).route if len(self.cities) > 1 else None,
                background=self._background(),
            )
        return self._pipeline

    def _background(self) -> Labeller | None:
        if self.background_loader is None or self.settings.classifier_jobs < 2:
            return None
        return ProcessLabeller(self.background_loader)

    def warm_up(self) -> None:
        """Load the classifier now (and start the background labeller's worker, if any)."""
        self.classifier  # noqa: B018
        start = getattr(self.pipeline.background, "start", None)
        if callable(start):
            start()

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        self.engine.dispose()


class CityClassifier:
    """One city's view of a shared classifier: the same trained model (nothing is copied or
    loaded again), with place names found by the city's own gazetteer.

    Labels other than locations do not depend on the gazetteer. A classifier that offers
    ``with_gazetteer`` (the trained one) predicts through a view that shares its heads and
    worker processes and finds places once, with the city's gazetteer, in this process; any
    other classifier predicts as usual and this view replaces each prediction's ``locations``.
    """

    def __init__(self, base: Classifier, locations: Any) -> None:
        self.base = base
        self.locations = locations
        self.name = base.name
        self.version = base.version
        self.artifact_hash = base.artifact_hash
        with_gazetteer = getattr(base, "with_gazetteer", None)
        self._view: Classifier | None = (
            with_gazetteer(locations.gazetteer, locations.geocoder) if with_gazetteer else None
        )

    @classmethod
    def for_city(cls, base: Classifier, city: CitySettings) -> CityClassifier:
        from classifiers import Gazetteer
        from classifiers.location import LocationExtractor

        path = city.gazetteer
        gazetteer = Gazetteer.load(path) if path else Gazetteer.load_default()
        geocoder = getattr(getattr(base, "locations", None), "geocoder", None)
        return cls(base, LocationExtractor(gazetteer, geocoder))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if self._view is not None:
            return self._view.predict(texts)
        predictions = self.base.predict(texts)
        places = self.locations.extract([t if isinstance(t, str) else "" for t in texts])
        return [
            dataclasses.replace(p, locations=locs)
            for p, locs in zip(predictions, places, strict=True)
        ]


def default_classifier_factory(settings: Settings) -> Callable[[], Classifier]:
    return functools.partial(_load_classifier, settings, settings.classifier_jobs)


def classifier_loader(settings: Settings) -> Callable[[], Classifier]:
    """The default classifier as a picklable loader for the background labeller's worker
    (which labels whole batches itself: ``jobs=1``)."""
    return functools.partial(_load_classifier, settings, 1)


def _load_classifier(settings: Settings, jobs: int) -> Classifier:
    from classifiers import Gazetteer, load_classifier

    city = settings.cities[settings.default_city]
    gazetteer = (
        Gazetteer.from_dict(json.loads(city.gazetteer.read_text(encoding="utf-8")))
        if city.gazetteer
        else None
    )
    return load_classifier(
        settings.classifier_dir,
        gazetteer=gazetteer,
        review_threshold=settings.review_threshold,
        jobs=jobs,
    )


def build_sources(settings: Settings, **deps: Any) -> list[Source]:
    """The replay source (the demo stream by default) plus every ``[[sources]]`` entry."""
    sources: list[Source] = []
    for i, conf in enumerate(settings.sources):
        conf = dict(conf)
        kind = conf.pop("kind", None)
        if not kind:
            raise SettingsError(f"sources[{i}] has no kind")
        name = conf.pop("name", None) or f"{kind}-{i}"
        sources.append(create_source(kind, name, conf, settings=settings, **deps))
    if settings.replay_file is not None:
        if settings.replay_file.exists():
            sources.append(
                create_source(
                    "replay",
                    "replay",
                    {"path": settings.replay_file, "speed": settings.replay_speed},
                    **deps,
                )
            )
        else:
            log.warning(
                "replay file %s does not exist; replay source not started", settings.replay_file
            )
    return sources


def build_services(
    settings: Settings,
    *,
    transports: dict[str, httpx.BaseTransport] | None = None,
    clock: Callable[[], datetime] | None = None,
    classifier: Classifier | None = None,
    migrate: bool = True,
    with_sources: bool = True,
    with_responders: bool = True,
) -> Services:
    """Build everything the service needs from ``settings``; upgrade the schema first.

    ``with_responders=False`` leaves out cases and replies (store and classify only: benches).
    """
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    cities = CityDirectory.from_settings(engine, settings)
    if migrate:
        from civic_listener.overrides import apply_to_directory

        apply_to_directory(engine, cities)  # settings changed in the console
    background = classifier is None and settings.classifier_jobs >= 2
    factory = (
        (lambda: classifier)
        if classifier is not None
        # with a background labeller (its own process) this process labels only its share
        else classifier_loader(settings)
        if background
        else default_classifier_factory(settings)
    )
    services = Services(
        settings=settings,
        engine=engine,
        cities=cities,
        classifier_factory=factory,
        clock=clock or utcnow,
        transports=dict(transports or {}),
        background_loader=classifier_loader(settings) if background else None,
    )
    if with_responders:
        attach_cases(services)
        attach_replies(services)
    if with_sources:
        from listener.health import quiet_sources
        from listener.state import DatabaseState

        services.sources = build_sources(
            settings,
            clock=services.clock,
            transports=services.transports,
            state=DatabaseState(engine, cities.default.id),
            cities=cities,
        )
        services.extra_jobs.append(
            (
                "source_health",
                lambda: quiet_sources(engine, city_id=cities.default.id, now=services.clock()),
                60.0,
            )
        )
    return services
