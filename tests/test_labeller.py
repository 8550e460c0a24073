"""Labelling in the background while storing: every post labelled once, changes respected,
failures fall back to labelling in the service's own process; bulk writes store what Core
would store."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from civic_listener.labeller import Labelled, ProcessLabeller, ThreadLabeller
from civic_listener.service import run_once
from civic_listener.settings import load_settings
from civic_listener.wiring import Services, build_services
from listener.base import Deletion
from listener.replay import ReplaySource
from models import bulk
from models.store import CLASSIFICATION, POST
from tests.fakes.classifier import KeywordClassifier
from tests.helpers import post, write_jsonl


def _background(services: Services, labeller: Any = None) -> list[int]:
    """Give the services' pipeline a background labeller; returns the ids the hooks saw."""
    seen: list[int] = []
    services.after_classify.append(lambda _city, ids: seen.extend(ids))
    services._pipeline = None
    services.pipeline.background = labeller or ThreadLabeller(services.classifier)
    return seen


def _labels_per_post(services: Services) -> Counter[int]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            sa.select(CLASSIFICATION.c.post_id).where(CLASSIFICATION.c.task == "topic")
        ).scalars()
        return Counter(rows)


def _pending(services: Services) -> int:
    with services.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(POST.c.classified_at.is_(None))
        ).scalar_one()


def test_replay_labels_every_post_once_in_the_background(
    services: Services, tmp_path: Path
) -> None:
    services.settings.batch_size = 300
    path = write_jsonl(
        tmp_path / "r.jsonl", [post(i, f"pothole {i} on Dorchester Ave") for i in range(1000)]
    )
    services.sources = [ReplaySource("replay", path)]
    seen = _background(services)
    report = run_once(services)
    assert report.stats.stored == report.stats.classified == 1000
    assert _pending(services) == 0
    labels = _labels_per_post(services)
    assert len(labels) == 1000 and set(labels.values()) == {1}
    assert sorted(seen) == sorted(labels)  # the hooks saw each post once


def test_leave_in_flight_stores_on_the_next_call(services: Services, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [post(i, "trash again") for i in range(50)])
    items = list(ReplaySource("replay", path).iter_items(None, threading.Event()))
    _background(services)
    pipeline = services.pipeline
    pipeline.ingest("replay", items)
    assert pipeline.classify_pending(leave_in_flight=True) == 0  # sent, not stored yet
    assert _pending(services) == 50  # a crash now loses nothing: all still pending
    assert pipeline.classify_pending() == 50
    assert _pending(services) == 0


def test_a_post_deleted_while_in_flight_is_labelled_from_its_new_text(
    services: Services, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [post(i, "pothole on Main St") for i in range(10)])
    items = list(ReplaySource("replay", path).iter_items(None, threading.Event()))
    _background(services)
    pipeline = services.pipeline
    pipeline.ingest("replay", items)
    pipeline.classify_pending(leave_in_flight=True)
    pipeline.ingest("replay", [Deletion(platform="x", external_id="1000003")])
    assert pipeline.classify_pending() == 10
    labels = _labels_per_post(services)
    assert set(labels.values()) == {1}
    with services.engine.connect() as conn:
        topic = conn.execute(
            sa.select(POST.c.topic).where(POST.c.external_id == "1000003")
        ).scalar_one()
    assert topic == "none"  # labelled from the tombstone's empty text, not the old one


def test_labels_stored_elsewhere_meanwhile_are_not_stored_twice(
    services: Services, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [post(i, "snow on the sidewalk") for i in range(40)])
    items = list(ReplaySource("replay", path).iter_items(None, threading.Event()))
    seen = _background(services)
    pipeline = services.pipeline
    pipeline.ingest("replay", items)
    pipeline.classify_pending(leave_in_flight=True)
    # its claims are lost (a dropped connection), and another worker (inline) labels the same
    # backlog first
    pipeline.claims.close()
    other = Services(
        settings=services.settings,
        engine=services.engine,
        cities=services.cities,
        classifier_factory=KeywordClassifier,
    )
    assert other.pipeline.classify_pending() == 40
    assert pipeline.classify_pending() == 0
    assert set(_labels_per_post(services).values()) == {1}
    assert seen == []


class _Broken:
    """A labeller whose worker died: every batch fails."""

    def __init__(self) -> None:
        self.restarts = 0

    def submit(self, texts: Sequence[str]) -> Future[Labelled]:
        f: Future[Labelled] = Future()
        f.set_exception(RuntimeError("worker died"))
        return f

    def restart(self) -> None:
        self.restarts += 1

    def close(self) -> None:
        pass


def test_a_failed_background_batch_is_labelled_here(services: Services, tmp_path: Path) -> None:
    services.settings.batch_size = 25
    path = write_jsonl(tmp_path / "r.jsonl", [post(i, "streetlight out") for i in range(60)])
    services.sources = [ReplaySource("replay", path)]
    broken = _Broken()
    _background(services, broken)
    assert run_once(services).stats.classified == 60
    assert _pending(services) == 0
    assert broken.restarts >= 3  # one fresh worker asked for after each failed batch


def test_the_process_labeller_predicts_in_another_process() -> None:
    labeller = ProcessLabeller(KeywordClassifier)
    try:
        labeller.start()
        predictions, seconds = labeller.submit(["pothole here", "nice day"]).result(timeout=60)
    finally:
        labeller.close()
    assert [p.topic for p in predictions] == ["pothole", "none"]
    assert seconds >= 0


def _both(engine_url: str, tmp_path: Path) -> tuple[Services, Services]:
    settings = load_settings(database_url=engine_url, replay_file=None, health_port=0)
    settings.batch_size = 50
    a = build_services(settings, classifier=KeywordClassifier(), with_responders=False)
    b = build_services(settings, classifier=KeywordClassifier(), with_responders=False)
    return a, b


def _race(a: Services, b: Services, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [post(i, f"pothole {i}") for i in range(600)])
    items = list(ReplaySource("replay", path).iter_items(None, threading.Event()))
    a.pipeline.ingest("replay", items)
    _background(a)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda s=s: counts.append(s.pipeline.classify_pending()))
        for s in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(counts) == 600
    assert _pending(a) == 0
    labels = _labels_per_post(a)
    assert len(labels) == 600 and set(labels.values()) == {1}


def test_background_and_inline_workers_share_a_backlog_sqlite(db_url: str, tmp_path: Path) -> None:
    a, b = _both(db_url, tmp_path)
    try:
        _race(a, b, tmp_path)
    finally:
        a.close()
        b.close()


@pytest.mark.postgres
def test_background_and_inline_workers_share_a_backlog_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    a, b = _both(pg_url, tmp_path)
    try:
        _race(a, b, tmp_path)
    finally:
        a.close()
        b.close()


def _replay_into(services: Services, path: Path, rows: list[dict[str, Any]]) -> None:
    """Store ``rows`` through the services' pipeline, as the replay source reads them."""
    write_jsonl(path, rows)
    items = list(ReplaySource("replay", path).iter_items(None, threading.Event()))
    services.pipeline.ingest("replay", items)


def _label_with(services: Services, classifier: Any) -> None:
    """Label the services' posts with ``classifier`` (in the service's own process)."""
    services.pipeline.classifier = classifier
    services.pipeline.classifier_for = lambda _city: classifier


class _Counting(KeywordClassifier):
    """A keyword classifier that notes every text it labels."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def predict(self, texts: Sequence[str]) -> list[Any]:
        self.seen.extend(texts)
        return super().predict(texts)


def _two_background_workers(url: str, tmp_path: Path) -> None:
    a, b = _both(url, tmp_path)
    try:
        _replay_into(a, tmp_path / "r.jsonl", [post(i, f"pothole {i}") for i in range(120)])
        sent_a, sent_b = _Counting(), _Counting()  # what each worker's labeller is sent
        _background(a, ThreadLabeller(sent_a))
        _background(b, ThreadLabeller(sent_b))
        assert a.pipeline.classify_pending(limit=50, leave_in_flight=True) == 0
        in_flight = set(sent_a.seen)
        assert len(in_flight) == 50
        # the other worker's labeller is sent the next posts, not the ones in flight
        assert b.pipeline.classify_pending() == 70
        assert not in_flight & set(sent_b.seen)
        assert len(sent_b.seen) == 70
        assert a.pipeline.classify_pending() == 50  # stored, and the claims let go
        assert _pending(a) == 0
        assert set(_labels_per_post(a).values()) == {1}

        # a worker that dies with a batch in flight blocks nobody
        _replay_into(a, tmp_path / "s.jsonl", [post(i, f"trash {i}") for i in range(200, 230)])
        assert a.pipeline.classify_pending(leave_in_flight=True) == 0
        assert b.pipeline.classify_pending() == 0  # all 30 are in a's labeller
        a.pipeline.claims.close()  # what the process's death does to its locks
        a.pipeline._inflight.clear()
        assert b.pipeline.classify_pending() == 30
        assert _pending(a) == 0
    finally:
        a.close()
        b.close()


def _inline_reads_past_the_claims(url: str, tmp_path: Path) -> None:
    """A worker that labels in its own process leaves what another's labeller has in flight."""
    a, b = _both(url, tmp_path)
    try:
        _replay_into(a, tmp_path / "r.jsonl", [post(i, f"pothole {i}") for i in range(90)])
        sent_a = _Counting()
        _background(a, ThreadLabeller(sent_a))
        assert a.pipeline.classify_pending(limit=50, leave_in_flight=True) == 0
        counting = _Counting()
        _label_with(b, counting)
        assert b.pipeline.background is None
        assert b.pipeline.classify_pending() == 40
        assert len(counting.seen) == 40
        assert not set(counting.seen) & set(sent_a.seen)
        assert a.pipeline.classify_pending() == 50
        assert _pending(a) == 0
        assert set(_labels_per_post(a).values()) == {1}
    finally:
        a.close()
        b.close()


def test_an_inline_worker_leaves_posts_in_flight_elsewhere_sqlite(
    db_url: str, tmp_path: Path
) -> None:
    _inline_reads_past_the_claims(db_url, tmp_path)


@pytest.mark.postgres
def test_an_inline_worker_leaves_posts_in_flight_elsewhere_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    _inline_reads_past_the_claims(pg_url, tmp_path)


class _Held(KeywordClassifier):
    """A keyword classifier that waits, inside the worker's transaction, until let go."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = threading.Event()
        self.go = threading.Event()

    def predict(self, texts: Sequence[str]) -> list[Any]:
        self.inside.set()
        assert self.go.wait(60)
        return super().predict(texts)


@pytest.mark.postgres
def test_posts_in_flight_are_stored_while_an_inline_worker_labels_others(
    pg_url: str, tmp_path: Path
) -> None:
    """An inline worker whose batch met posts in flight elsewhere holds no lock on them, so
    the worker that has them in flight stores them (before, both left them pending)."""
    a, b = _both(pg_url, tmp_path)
    try:
        _replay_into(a, tmp_path / "r.jsonl", [post(i, f"pothole {i}") for i in range(100)])
        _background(a)
        assert a.pipeline.classify_pending(limit=50, leave_in_flight=True) == 0
        held = _Held()
        _label_with(b, held)
        b.pipeline.batch_size = 100  # reads the 50 in flight in a and the 50 after them
        counts: list[int] = []
        inline = threading.Thread(target=lambda: counts.append(b.pipeline.classify_pending()))
        inline.start()
        try:
            assert held.inside.wait(60)
            assert a.pipeline.classify_pending() == 50
        finally:
            held.go.set()
            inline.join(60)
        assert counts == [50]
        assert _pending(a) == 0
        assert set(_labels_per_post(a).values()) == {1}
    finally:
        a.close()
        b.close()


class _Failing(KeywordClassifier):
    def predict(self, texts: Sequence[str]) -> list[Any]:
        raise RuntimeError("the classifier failed")


def _claims_let_go_after_a_failed_batch(url: str, tmp_path: Path) -> None:
    a, b = _both(url, tmp_path)
    try:
        _replay_into(a, tmp_path / "r.jsonl", [post(i, f"pothole {i}") for i in range(20)])
        _background(a, _Broken())  # the worker fails the batch, and so does labelling it here
        _label_with(a, _Failing())
        with pytest.raises(RuntimeError):
            a.pipeline.classify_pending()
        # the failed batch's posts are still pending, and no longer claimed by the first worker
        _background(b)
        assert b.pipeline.classify_pending() == 20
    finally:
        a.close()
        b.close()


def test_a_failed_batch_lets_go_of_its_claims_sqlite(db_url: str, tmp_path: Path) -> None:
    _claims_let_go_after_a_failed_batch(db_url, tmp_path)


@pytest.mark.postgres
def test_a_failed_batch_lets_go_of_its_claims_postgres(pg_url: str, tmp_path: Path) -> None:
    _claims_let_go_after_a_failed_batch(pg_url, tmp_path)


def test_two_background_workers_do_not_label_the_same_posts_sqlite(
    db_url: str, tmp_path: Path
) -> None:
    _two_background_workers(db_url, tmp_path)


@pytest.mark.postgres
def test_two_background_workers_do_not_label_the_same_posts_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    _two_background_workers(pg_url, tmp_path)


def test_bulk_writes_store_what_core_stores(services: Services) -> None:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {"evidence": None, "needs_review": False, "score": 1},
        {"evidence": ["pothole", "ñ"], "needs_review": True, "score": 0.25},
        {"evidence": {"a": [1, 2]}, "needs_review": False, "score": 0.5},
    ]
    with services.engine.begin() as conn:
        pid = conn.execute(
            POST.insert().values(
                city_id=services.cities.default.id,
                platform="x",
                external_id="p",
                text="t",
                created_at=now,
            )
        ).inserted_primary_key[0]
        common = {"city_id": services.cities.default.id, "post_id": pid, "created_at": now}
        conn.execute(
            CLASSIFICATION.insert(),
            [{**common, "task": f"core{i}", "label": "x", **r} for i, r in enumerate(rows)],
        )
        keys = ["task", "label", "evidence", "needs_review", "score"]
        bulk.insert_many(
            conn,
            CLASSIFICATION,
            keys,
            [
                [f"bulk{i}", "x", r["evidence"], r["needs_review"], r["score"]]
                for i, r in enumerate(rows)
            ],
            constants=common,
        )
        bulk.update_many(
            conn,
            POST,
            ["topic", "relevant"],
            [["pothole", True, pid]],
            constants={"classified_at": now},
        )
    cols = [c for c in CLASSIFICATION.c if c.key not in ("id", "task")]
    with services.engine.connect() as conn:
        got = {r[0]: tuple(r[1:]) for r in conn.execute(sa.select(CLASSIFICATION.c.task, *cols))}
        raw = {
            r[0]: tuple(r[1:])
            for r in conn.exec_driver_sql(
                "SELECT task, evidence, created_at, needs_review, source FROM classification"
            )
        }
        assert conn.execute(
            sa.select(POST.c.topic, POST.c.relevant, POST.c.classified_at)
        ).one() == ("pothole", True, now)
    for i in range(len(rows)):
        assert got[f"core{i}"] == got[f"bulk{i}"]
        assert raw[f"core{i}"] == raw[f"bulk{i}"]  # the very same stored text


def test_services_with_two_jobs_label_in_a_worker_process(db_url: str, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl", [post(i, f"pothole on Dorchester Ave #{i}") for i in range(300)]
    )
    settings = load_settings(
        database_url=db_url, replay_file=path, health_port=0, classifier_jobs=2, batch_size=100
    )
    services = build_services(settings, with_responders=False)
    try:
        services.warm_up()
        background = services.pipeline.background
        assert isinstance(background, ProcessLabeller)
        report = run_once(services)
        assert report.stats.stored == report.stats.classified == 300
        assert _pending(services) == 0
        assert set(_labels_per_post(services).values()) == {1}
    finally:
        services.close()
    assert background._pool is None  # the worker was stopped


def test_predictions_cross_the_process_boundary_whole() -> None:
    """The worker's predictions are pickled as constructor calls: every field survives, and
    a field added later cannot be dropped on the way."""
    import dataclasses
    import pickle

    from classifiers.api import Location, Prediction

    loc = Location("Tremont St & Boylston St", "intersection", 3, 28, "Back Bay", 42.35, -71.06)
    pred = Prediction(
        relevant=True,
        relevance_score=0.91,
        topic="pothole",
        topic_score=0.8,
        urgency="high",
        urgency_score=0.7,
        sentiment="negative",
        sentiment_score=0.6,
        language="es",
        language_score=0.99,
        locations=[loc, Location("Roxbury", "neighborhood")],
        evidence={"topic": ["keyword:pothole"]},
        needs_review=["sentiment"],
    )
    back = pickle.loads(pickle.dumps([pred, pred], protocol=pickle.HIGHEST_PROTOCOL))
    assert back == [pred, pred]
    assert [getattr(back[0], f.name) for f in dataclasses.fields(Prediction)] == [
        getattr(pred, f.name) for f in dataclasses.fields(Prediction)
    ]
    assert back[0].locations[0] == loc and back[0].locations[0] is not loc


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()
    )
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_bulk_timestamps_are_the_text_sqlalchemy_writes(value: datetime) -> None:
    """The bulk path's one-call timestamp conversion equals ``UTCDateTime`` + SQLite's
    ``DATETIME`` processor, in any zone and at any instant."""
    from sqlalchemy.dialects import sqlite

    from models.types import UTCDateTime

    core = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    assert core is not None
    try:
        expected = core(value)
    except (OverflowError, ValueError):  # out of range once moved to UTC: both refuse
        with pytest.raises((OverflowError, ValueError)):
            bulk.sqlite_utc_text(value)
        return
    assert bulk.sqlite_utc_text(value) == expected


def test_bulk_timestamps_refuse_naive_values() -> None:
    with pytest.raises(ValueError, match="naive"):
        bulk.sqlite_utc_text(datetime(2026, 11, 28, 12, 0))
    assert bulk.sqlite_utc_text(None) is None


def test_the_service_collects_garbage_in_larger_steps() -> None:
    """The service's processes raise the collector's thresholds (never lower them)."""
    import gc

    from civic_listener.runtime import GC_THRESHOLDS, tune_garbage_collection

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_garbage_collection()
        assert gc.get_threshold() == GC_THRESHOLDS
        gc.set_threshold(50_000, 30, 30)  # set higher by someone else: left alone
        tune_garbage_collection()
        assert gc.get_threshold() == (50_000, 30, 30)
    finally:
        gc.set_threshold(*saved)


@pytest.mark.parametrize(
    "value",
    [
        {"text": "bache en la calle ñ 🚧", "n": [1, 2.5, None, True]},
        {"id": 2**70},  # beyond 64 bits: orjson refuses, json writes it exactly
        {1: "a key that is not a string"},
        ["keyword:pothole", "street"],
    ],
)
def test_json_columns_read_back_what_was_written(value: Any) -> None:
    import json

    from models.types import json_dumps

    assert json.loads(json_dumps(value)) == json.loads(json.dumps(value))
