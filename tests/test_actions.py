"""The acting hooks' outbox: labelled posts are acted on after a hook fails or the process dies,
and running the real hooks again changes nothing they already did."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener import actions
from civic_listener.service import build_scheduler, run_once
from civic_listener.wiring import Services
from listener.replay import ReplaySource
from models.queries import CASE, REPLY
from tests.helpers import post, write_jsonl

OUTBOX = actions.OUTBOX


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class _Died(BaseException):
    """The process stopping between storing labels and running the hooks."""


def _outbox(services: Services) -> list[sa.Row]:
    with services.engine.connect() as conn:
        return list(conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


def _replay(services: Services, tmp_path: Path, n: int) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl",
        [post(i, f"@BOS311 pothole {i} on Dorchester Ave, please fix") for i in range(n)],
    )
    services.sources = [ReplaySource("replay", path)]
    services.settings.batch_size = 40


def _only_hook(services: Services, hook) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []

    def recording(city_id: int, post_ids: Sequence[int]) -> None:
        hook(city_id, post_ids)
        seen.extend(post_ids)

    services.after_classify[:] = [recording]
    return seen


def test_hooks_that_return_leave_nothing_waiting(services: Services, tmp_path: Path) -> None:
    _replay(services, tmp_path, 100)
    seen = _only_hook(services, lambda _c, _ids: None)
    report = run_once(services)
    assert report.stats.classified == 100
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 100
    assert _outbox(services) == []


def test_a_failing_hook_is_retried_until_it_succeeds(services: Services, tmp_path: Path) -> None:
    clock = _Clock()
    services.clock = clock
    services._pipeline = None  # built again with the clock
    _replay(services, tmp_path, 100)
    failures = {"left": 2}

    def flaky(_city: int, _ids: Sequence[int]) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectionError("Open311 endpoint unreachable")

    seen = _only_hook(services, flaky)
    report = run_once(services)  # the failures do not stop the run
    assert report.stats.classified == 100
    rows = _outbox(services)
    assert len(rows) == 2  # the two batches whose hooks raised, nothing else
    assert all(r.attempts == 1 and "unreachable" in r.last_error for r in rows)
    assert all(r.next_attempt_at == clock.now + actions.delay(1) for r in rows)
    waiting = sorted(p for r in rows for p in r.post_ids)
    assert len(seen) == 100 - len(waiting)

    # not due yet: nothing runs
    assert actions.retry_due(services.engine, services._after_classify, now=clock)["retried"] == 0
    clock.now += actions.delay(1)
    assert build_scheduler(services).run_job("actions_retry")
    assert _outbox(services) == []
    assert sorted(seen) == list(range(min(seen), min(seen) + 100))  # every post acted on once


def test_a_row_keeps_failing_with_a_growing_delay(services: Services, tmp_path: Path) -> None:
    clock = _Clock()
    _replay(services, tmp_path, 10)

    def broken(_city: int, _ids: Sequence[int]) -> None:
        raise RuntimeError("bug in a hook")

    _only_hook(services, broken)
    services.clock = clock
    services._pipeline = None
    run_once(services)
    delays = []
    for attempt in range(2, 6):
        (row,) = _outbox(services)
        clock.now = row.next_attempt_at
        assert actions.retry_due(services.engine, services._after_classify, now=clock) == {
            "retried": 1,
            "done": 0,
            "failed": 1,
        }
        (row,) = _outbox(services)
        assert row.attempts == attempt
        delays.append(row.next_attempt_at - clock.now)
    assert delays == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
                      timedelta(minutes=8)]  # fmt: skip
    assert actions.delay(20) == actions.MAX_DELAY


def test_a_process_that_dies_before_its_hooks_leaves_them_due_later(
    services: Services, tmp_path: Path
) -> None:
    clock = _Clock()
    services.clock = clock
    services._pipeline = None
    _replay(services, tmp_path, 30)

    def dies(_city: int, _ids: Sequence[int]) -> None:
        raise _Died()

    _only_hook(services, dies)
    with pytest.raises(_Died):
        run_once(services)
    (row,) = _outbox(services)
    assert row.attempts == 0 and row.last_error is None  # as written with the labels
    assert len(row.post_ids) == 30

    # the writer owns the row for a while, then anyone retries it
    seen = _only_hook(services, lambda _c, _ids: None)
    clock.now += actions.GRACE - timedelta(seconds=1)
    assert actions.retry_due(services.engine, services._after_classify, now=clock)["retried"] == 0
    clock.now += timedelta(seconds=1)
    assert actions.retry_due(services.engine, services._after_classify, now=clock)["done"] == 1
    assert sorted(seen) == sorted(row.post_ids) and _outbox(services) == []


def test_running_the_real_hooks_again_changes_nothing(services: Services) -> None:
    """Triage and drafting are idempotent: a retry after a partial failure only finishes."""
    report = run_once(services)  # the demo corpus, with case triage and reply drafting
    assert report.stats.classified > 400 and _outbox(services) == []
    with services.engine.connect() as conn:
        cases = conn.execute(sa.select(sa.func.count()).select_from(CASE)).scalar_one()
        replies = conn.execute(sa.select(sa.func.count()).select_from(REPLY)).scalar_one()
        ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM post ORDER BY id"))]
    assert cases > 0 and replies > 0
    with services.engine.begin() as conn:
        actions.record(
            conn,
            city_id=services.cities.default.id,
            post_ids=ids,
            now=services.clock() - actions.GRACE,
        )
    assert actions.retry_due(services.engine, services._after_classify, now=services.clock) == {
        "retried": 1,
        "done": 1,
        "failed": 0,
    }
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(CASE)).scalar_one() == cases
        assert conn.execute(sa.select(sa.func.count()).select_from(REPLY)).scalar_one() == replies


@pytest.mark.postgres
def test_two_workers_never_claim_the_same_row(pg_url: str) -> None:
    from civic_listener.settings import load_settings
    from civic_listener.wiring import build_services
    from tests.fakes.classifier import KeywordClassifier

    settings = load_settings(database_url=pg_url, replay_file=None, health_port=0)
    a = build_services(settings, classifier=KeywordClassifier(), with_responders=False)
    b = build_services(settings, classifier=KeywordClassifier(), with_responders=False)
    try:
        now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        with a.engine.begin() as conn:
            for i in range(6):
                actions.record(conn, city_id=a.cities.default.id, post_ids=[i], now=now)
        later = now + actions.GRACE
        seen: list[int] = []

        def hook(_city: int, ids: Sequence[int]) -> None:
            seen.extend(ids)

        first = actions.retry_due(a.engine, hook, now=lambda: later, limit=4)
        second = actions.retry_due(b.engine, hook, now=lambda: later, limit=4)
        assert first["retried"] == 4 and second["retried"] == 2
        assert sorted(seen) == list(range(6))
    finally:
        a.close()
        b.close()


def test_health_counts_batches_waiting_for_their_hooks(services: Services, tmp_path: Path) -> None:
    from civic_listener.health import health_report

    _replay(services, tmp_path, 80)  # two batches

    def first_fails(_city: int, ids: Sequence[int]) -> None:
        if min(ids) == min_id[0]:
            raise RuntimeError("triage failed")

    with services.engine.connect() as conn:
        min_id = [conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM post")).scalar_one()]
    _only_hook(services, first_fails)
    run_once(services)
    report = health_report(services.engine)
    assert (report["acting_batches_waiting"], report["acting_batches_failed"]) == (1, 1)
