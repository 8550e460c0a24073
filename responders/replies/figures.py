"""Response-time figures: how long residents wait for the city's first reply.

For the actionable posts of a period (relevant or emergency, not deleted or dismissed):
time from the post to the first sent reply, its median and 90th percentile, the share
answered within the city's target, and how many are still unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.store import POST
from models.tables import Reply

REPLY = Reply.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    answered: int
    unanswered: int
    median_minutes: float | None
    p90_minutes: float | None
    within_target: float | None  # share of answered posts, 0..1
    target_minutes: int
    dry_run: int  # answered by replies recorded in dry run


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def response_times(
    engine: Engine,
    *,
    city_id: int,
    target_minutes: int,
    since: datetime | None = None,
    until: datetime | None = None,
    include_dry_run: bool = True,
) -> ResponseTimes:
    p, r = POST.c, REPLY.c
    sent = sa.and_(r.state == "sent", r.sent_at.is_not(None))
    if not include_dry_run:
        sent = sa.and_(sent, r.dry_run.is_(False))
    first = (
        sa.select(
            r.post_id,
            sa.func.min(r.sent_at).label("first_at"),
            sa.func.min(sa.case((r.dry_run.is_(True), 1), else_=0)).label("dry"),
        )
        .where(r.city_id == city_id, sent)
        .group_by(r.post_id)
        .subquery()
    )
    cond = [
        p.city_id == city_id,
        p.deleted_at.is_(None),
        p.status != "dismissed",
        sa.or_(p.relevant.is_(True), p.urgency == "emergency"),
    ]
    if since is not None:
        cond.append(p.created_at >= since)
    if until is not None:
        cond.append(p.created_at < until)
    q = (
        sa.select(p.created_at, first.c.first_at, first.c.dry)
        .select_from(POST.outerjoin(first, first.c.post_id == p.id))
        .where(*cond)
    )
    waits: list[float] = []
    unanswered = dry = 0
    with engine.connect() as conn:
        for created, first_at, is_dry in conn.execute(q):
            if first_at is None:
                unanswered += 1
                continue
            if isinstance(first_at, str):  # SQLite returns an aggregate as text
                first_at = datetime.fromisoformat(first_at)
            if first_at.tzinfo is None:
                first_at = first_at.replace(tzinfo=created.tzinfo)
            waits.append(max(0.0, (first_at - created).total_seconds() / 60.0))
            dry += int(is_dry or 0)
    within = sum(1 for w in waits if w <= target_minutes) / len(waits) if waits else None
    return ResponseTimes(
        answered=len(waits),
        unanswered=unanswered,
        median_minutes=percentile(waits, 0.5),
        p90_minutes=percentile(waits, 0.9),
        within_target=within,
        target_minutes=target_minutes,
        dry_run=dry,
    )
