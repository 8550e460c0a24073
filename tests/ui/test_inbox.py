"""The inbox: order, keyset paging, filters, the query plan, bulk actions and saved views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from civic_listener.wiring import Services
from models.auth import PermissionDenied
from models.console import list_views, save_view
from models.queries import (
    OPEN_STATES,
    InboxFilter,
    explain,
    inbox_count,
    inbox_page,
    inbox_query,
    page_key,
)
from models.store import POST
from models.tables import AuditEvent, Classification
from tests.ui.conftest import HOSTILE, NOW, AppFactory, actor_for
from ui.logic.inbox import bulk_action, load_page, time_left


def _bulk_posts(services: Services, n: int) -> None:
    city = services.cities.default.id
    ranks = {0: "emergency", 1: "high", 2: "normal", 3: "low"}
    rows = [
        {
            "city_id": city,
            "platform": "x",
            "external_id": f"b{i}",
            "text": f"post {i}",
            "created_at": NOW - timedelta(minutes=i),
            "urgency_rank": i % 4,
            "urgency": ranks[i % 4],
            "status": "new" if i % 3 else "answered",
            "topic": "pothole" if i % 2 else "trash",
        }
        for i in range(n)
    ]
    with services.engine.begin() as conn:
        conn.execute(POST.insert(), rows)


@pytest.mark.parametrize("order", ["triage", "newest", "oldest"])
def test_keyset_paging_visits_every_post_once_in_order(services: Services, order: str) -> None:
    _bulk_posts(services, 230)
    city = services.cities.default.id
    seen: list[dict] = []
    after = None
    while True:
        page = inbox_page(services.engine, city_id=city, order=order, limit=50, after=after)
        if not page:
            break
        seen += page
        after = page_key(page[-1], order)
    assert len(seen) == 230 == len({r["id"] for r in seen})
    keys = [page_key(r, order) for r in seen]
    assert keys == sorted(keys, reverse=order == "newest")


def test_triage_order_puts_emergencies_first_then_the_longest_waiting(
    services: Services,
) -> None:
    _bulk_posts(services, 40)
    rows = inbox_page(services.engine, city_id=services.cities.default.id, order="triage")
    assert [r["urgency"] for r in rows[:10]] == ["emergency"] * 10
    assert rows[0]["created_at"] < rows[1]["created_at"]


def test_open_posts_use_the_partial_index_and_paging_no_offset(services: Services) -> None:
    city = services.cities.default.id
    plan = explain(
        services.engine,
        inbox_query(city_id=city, filters=InboxFilter(statuses=list(OPEN_STATES)), order="triage"),
    )
    assert any("ix_post_open_triage" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
    plan = explain(
        services.engine,
        inbox_query(city_id=city, order="newest", after=(NOW, 10)),
    )
    assert any("ix_post_city_created" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_filters_and_capped_count(services: Services) -> None:
    _bulk_posts(services, 100)
    city = services.cities.default.id
    flt = InboxFilter(statuses=["new"], topics=["pothole"], search="post 1")
    rows = inbox_page(services.engine, city_id=city, filters=flt, limit=500)
    assert rows and all(
        r["status"] == "new" and r["topic"] == "pothole" and "post 1" in r["text"] for r in rows
    )
    assert inbox_count(services.engine, city_id=city, filters=flt) == len(rows)
    assert inbox_count(services.engine, city_id=city, cap=10) == 11
    # a search for "%" is literal, not a wildcard
    assert inbox_page(services.engine, city_id=city, filters=InboxFilter(search="%")) == []


def test_time_left_against_the_target() -> None:
    created = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    now = created + timedelta(minutes=100)
    assert time_left(created, status="new", reply_state=None, now=now, target_minutes=240) == (
        140.0,
        "2h 20m left",
    )
    assert time_left(created, status="new", reply_state="draft", now=now, target_minutes=60)[1] == (
        "40m overdue"
    )
    assert (
        time_left(created, status="answered", reply_state=None, now=now, target_minutes=60)[0]
        is None
    )
    assert (
        time_left(created, status="new", reply_state="sent", now=now, target_minutes=60)[0] is None
    )


def test_load_page_pins_open_emergencies(services: Services, seeded: dict[str, int]) -> None:
    page = load_page(
        services.engine,
        city_id=services.cities.default.id,
        filters=InboxFilter(statuses=list(OPEN_STATES)),
        order="newest",
    )
    assert [p["id"] for p in page.pinned] == [seeded["gas"]]
    assert seeded["gas"] not in [r["id"] for r in page.rows]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("staff", True), ("strategist", True), ("admin", True)],
)
def test_bulk_actions_check_the_role_and_are_audited(
    services: Services, seeded: dict[str, int], role: str, allowed: bool
) -> None:
    city = services.cities.default.id
    actor = actor_for(services, role)
    ids = [seeded["trash"], seeded["chatter"]]
    for action, extra in (
        ("dismiss", {}),
        ("assign", {"assignee": None}),
        ("relabel", {"task": "topic", "label": "noise"}),
    ):
        if allowed:
            bulk_action(services.engine, actor, city_id=city, action=action, post_ids=ids, **extra)
        else:
            with pytest.raises(PermissionDenied):
                bulk_action(
                    services.engine, actor, city_id=city, action=action, post_ids=ids, **extra
                )
    with services.engine.connect() as conn:
        statuses = set(conn.execute(sa.select(POST.c.status).where(POST.c.id.in_(ids))).scalars())
        audited = conn.execute(
            sa.select(sa.func.count()).where(AuditEvent.actor == actor.username)  # type: ignore[arg-type]
        ).scalar_one()
        human = conn.execute(
            sa.select(sa.func.count()).where(Classification.source == "human")  # type: ignore[arg-type]
        ).scalar_one()
    if allowed:
        assert statuses == {"dismissed"} and audited == 6 and human == 2
    else:
        assert "dismissed" not in statuses and audited == 0 and human == 0


def test_saved_views_are_personal_unless_shared(services: Services) -> None:
    city = services.cities.default.id
    staff, other = actor_for(services, "staff", "sam"), actor_for(services, "staff", "kim")
    save_view(services.engine, staff, city_id=city, name="mine", filters={"topics": ["pothole"]})
    with pytest.raises(PermissionDenied):
        save_view(services.engine, staff, city_id=city, name="team", filters={}, shared=True)
    save_view(
        services.engine,
        actor_for(services, "strategist"),
        city_id=city,
        name="team",
        filters={"statuses": ["new"]},
        shared=True,
    )
    assert [v["name"] for v in list_views(services.engine, staff, city_id=city)] == ["mine", "team"]
    assert [v["name"] for v in list_views(services.engine, other, city_id=city)] == ["team"]


def test_inbox_page_applies_a_saved_view_and_bulk_dismisses(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    city = services.cities.default.id
    save_view(
        services.engine,
        actor_for(services, "staff"),
        city_id=city,
        name="trash",
        filters={"topics": ["trash"], "statuses": ["new", "triaged"]},
    )
    at = console(role="staff")
    at.selectbox(key="saved_view").set_value("trash").run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table["topic"]) == ["trash"]
    assert HOSTILE not in list(table["text"])
