"""Read-side queries for the console: indexed, paged, scoped to one city."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.store import CLASSIFICATION, POST
from models.tables import QuarantinedPayload

INBOX_COLUMNS = (
    "id",
    "platform",
    "author",
    "text",
    "created_at",
    "topic",
    "urgency",
    "sentiment",
    "neighborhood",
    "location_text",
    "status",
    "needs_review",
    "case_id",
    "url",
)


@dataclass(slots=True)
class InboxFilter:
    platforms: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    urgencies: list[str] = field(default_factory=list)
    sentiments: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    neighborhoods: list[str] = field(default_factory=list)
    relevant_only: bool = False
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None

    def where(self, city_id: int) -> list[Any]:
        c = POST.c
        cond: list[Any] = [c.city_id == city_id, c.deleted_at.is_(None)]
        for col, values in (
            (c.platform, self.platforms),
            (c.topic, self.topics),
            (c.urgency, self.urgencies),
            (c.sentiment, self.sentiments),
            (c.status, self.statuses),
            (c.neighborhood, self.neighborhoods),
        ):
            if values:
                cond.append(col.in_(values))
        if self.relevant_only:
            cond.append(c.relevant.is_(True))
        if self.since is not None:
            cond.append(c.created_at >= self.since)
        if self.until is not None:
            cond.append(c.created_at < self.until)
        if self.search:
            cond.append(c.text.ilike(f"%{self.search}%"))
        return cond


def inbox_page(
    engine: Engine,
    *,
    city_id: int,
    filters: InboxFilter | None = None,
    order: str = "newest",
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One page of the inbox. ``order`` is "newest" or "triage" (urgency, then age)."""
    filters = filters or InboxFilter()
    c = POST.c
    q = sa.select(*[c[name] for name in INBOX_COLUMNS]).where(*filters.where(city_id))
    if order == "triage":
        q = q.order_by(c.urgency_rank, c.created_at.desc(), c.id.desc())
    else:
        q = q.order_by(c.created_at.desc(), c.id.desc())
    q = q.limit(max(1, min(limit, 500))).offset(max(0, offset))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def inbox_count(engine: Engine, *, city_id: int, filters: InboxFilter | None = None) -> int:
    filters = filters or InboxFilter()
    q = sa.select(sa.func.count()).select_from(POST).where(*filters.where(city_id))
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def post_detail(engine: Engine, *, city_id: int, post_id: int) -> dict[str, Any] | None:
    """A post with its current labels, every stored label and the quarantine-free raw."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(POST).where(POST.c.id == post_id, POST.c.city_id == city_id)
        ).first()
        if row is None:
            return None
        labels = conn.execute(
            sa.select(
                CLASSIFICATION.c.task,
                CLASSIFICATION.c.label,
                CLASSIFICATION.c.score,
                CLASSIFICATION.c.evidence,
                CLASSIFICATION.c.needs_review,
                CLASSIFICATION.c.source,
                CLASSIFICATION.c.component,
                CLASSIFICATION.c.version,
                CLASSIFICATION.c.created_by,
                CLASSIFICATION.c.created_at,
            )
            .where(CLASSIFICATION.c.post_id == post_id, CLASSIFICATION.c.city_id == city_id)
            .order_by(CLASSIFICATION.c.id)
        ).all()
    post = dict(row._mapping)
    post["labels"] = [dict(r._mapping) for r in labels]
    return post


def distinct_values(engine: Engine, *, city_id: int, column: str) -> list[str]:
    col = POST.c[column]
    q = sa.select(col).where(POST.c.city_id == city_id, col.is_not(None)).distinct().order_by(col)
    with engine.connect() as conn:
        return [v for v in conn.execute(q).scalars()]


def quarantine_page(engine: Engine, *, city_id: int, limit: int = 100) -> list[dict[str, Any]]:
    t = QuarantinedPayload.__table__  # type: ignore[attr-defined]
    q = (
        sa.select(t.c.id, t.c.source_name, t.c.platform, t.c.reason, t.c.received_at, t.c.raw)
        .where(t.c.city_id == city_id)
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        r["raw"] = bytes(r["raw"])[:500].decode("utf-8", "replace")
    return rows
