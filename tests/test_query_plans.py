"""Lookups within a city read only the rows asked for, on SQLite's plans.

SQLite plans without statistics: given ``city_id = ? AND case_id IN (...)`` it took the
city's own index as the better one and read every post of the city for each case filed.
These tests run the service's lookups and check SQLite's plan of every statement they make:
no table is read whole or through ``city_id`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from civic_listener.wiring import Services
from listener.base import PostIn
from models.store import POST, sent_reply_ids
from responders.open311.cases import load_posts
from responders.replies.batch import _case_posts

# a plan line that reads one of the large tables whole, or all of a city's rows in it through
# an index on city_id alone
_TABLES = "(post|classification|reply|servicerequest)"
_CITY_WIDE = re.compile(
    rf"^SCAN {_TABLES}\b|^SEARCH {_TABLES} USING (COVERING )?INDEX \w+ \(city_id=\?\)$"
)


def plans_while(engine: sa.Engine, run: Callable[[], Any]) -> list[str]:
    """SQLite's plan of each SELECT that ``run`` executes on ``engine``, a line per step."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert seen, "the lookup ran no query"
    lines = []
    with engine.connect() as conn:
        for statement, params in seen:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            lines += [row[3] for row in plan]
    return lines


def city_wide(lines: list[str]) -> list[str]:
    """The plan lines that read a large table whole or a whole city of it."""
    return [line for line in lines if _CITY_WIDE.search(line)]


def _plans(services: Services, run: Callable[[Connection], Any]) -> list[str]:
    def on_a_connection() -> None:
        with services.engine.connect() as conn:
            run(conn)

    return plans_while(services.engine, on_a_connection)


def _stored_post(services: Services) -> int:
    services.pipeline.ingest(
        "replay",
        [PostIn("x", "1", "pothole on Main St", datetime(2026, 11, 20, tzinfo=UTC), "resident")],
    )
    services.pipeline.classify_pending()
    with services.engine.connect() as conn:
        return int(conn.execute(sa.select(POST.c.id)).scalar_one())


def test_a_cases_posts_are_found_by_case_not_by_city(services: Services) -> None:
    post_id = _stored_post(services)
    city = services.cities.default.id
    cases = [SimpleNamespace(id=7, post_id=post_id), SimpleNamespace(id=8, post_id=None)]
    for settled in (False, True):
        lines = _plans(services, lambda c: _case_posts(c, city, cases, settled_skipped=settled))  # noqa: B023
        assert city_wide(lines) == [], lines


def test_a_batchs_labels_are_found_by_post_not_by_city(services: Services) -> None:
    post_id = _stored_post(services)
    city = services.cities.default.id
    lines = _plans(services, lambda c: load_posts(c, city_id=city, post_ids=[post_id]))
    assert any("classification" in line for line in lines), lines
    assert city_wide(lines) == [], lines


def test_own_replies_are_looked_up_by_id_not_read_all(services: Services) -> None:
    city = services.cities.default.id
    lines = _plans(
        services, lambda c: sent_reply_ids(c, city_id=city, platform="x", among=["1", "2"])
    )
    assert city_wide(lines) == [], lines
    assert any("ix_reply_city_platform_reply" in line for line in lines), lines
