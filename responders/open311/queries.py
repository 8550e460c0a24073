"""Read-side queries for the console's Cases page, scoped to one city."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.store import POST
from models.tables import CaseEvent, ServiceRequest

CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
EVENTS = CaseEvent.__table__  # type: ignore[attr-defined]

VIEWS: dict[str, tuple[str, ...]] = {
    "waiting": ("pending", "held"),
    "outbox": ("queued", "filing"),
    "filed": ("filed", "open"),
    "failures": ("failed",),
    "not filed": ("not_filed",),
    "closed": ("closed",),
    "dismissed": ("dismissed", "duplicate"),
}
CASE_COLUMNS = (
    "id",
    "status",
    "service_code",
    "service_name",
    "open311_id",
    "external_status",
    "address_string",
    "lat",
    "lon",
    "attempts",
    "last_error",
    "next_attempt_at",
    "post_id",
    "duplicate_of_id",
    "created_at",
    "filed_at",
    "closed_at",
)


def case_counts(engine: Engine, *, city_id: int) -> dict[str, int]:
    q = (
        sa.select(CASES.c.status, sa.func.count())
        .where(CASES.c.city_id == city_id)
        .group_by(CASES.c.status)
    )
    with engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(q)}


def case_list(engine: Engine, *, city_id: int, view: str, limit: int = 200) -> list[dict[str, Any]]:
    """Cases in one view, newest first, with how many posts are linked to each."""
    statuses = VIEWS[view]
    linked = (
        sa.select(sa.func.count())
        .where(POST.c.case_id == CASES.c.id, POST.c.city_id == city_id)
        .scalar_subquery()
        .label("posts")
    )
    q = (
        sa.select(*[CASES.c[c] for c in CASE_COLUMNS], linked)
        .where(CASES.c.city_id == city_id, CASES.c.status.in_(statuses))
        .order_by(CASES.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def linked_duplicates(engine: Engine, *, city_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """Posts linked to a case that another post opened (the duplicates found)."""
    q = (
        sa.select(
            POST.c.id.label("post_id"),
            POST.c.author,
            POST.c.text,
            POST.c.url,
            CASES.c.id.label("case_id"),
            CASES.c.status,
            CASES.c.open311_id,
        )
        .join(CASES, CASES.c.id == POST.c.case_id)
        .where(
            POST.c.city_id == city_id,
            sa.or_(CASES.c.post_id.is_(None), CASES.c.post_id != POST.c.id),
        )
        .order_by(POST.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def case_history(engine: Engine, *, city_id: int, case_id: int) -> list[dict[str, Any]]:
    q = (
        sa.select(
            EVENTS.c.at, EVENTS.c.status, EVENTS.c.external_status, EVENTS.c.note, EVENTS.c.actor
        )
        .where(EVENTS.c.city_id == city_id, EVENTS.c.case_id == case_id)
        .order_by(EVENTS.c.id)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def case_detail(engine: Engine, *, city_id: int, case_id: int) -> dict[str, Any] | None:
    q = sa.select(CASES).where(CASES.c.city_id == city_id, CASES.c.id == case_id)
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def emergencies(engine: Engine, *, city_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """Posts labelled emergency that nobody has handled yet: never filed, shown at once."""
    q = (
        sa.select(
            POST.c.id, POST.c.created_at, POST.c.author, POST.c.text, POST.c.url, POST.c.status
        )
        .where(
            POST.c.city_id == city_id,
            POST.c.urgency == "emergency",
            POST.c.deleted_at.is_(None),
            POST.c.status.in_(("new", "triaged")),
        )
        .order_by(POST.c.created_at.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
