"""Read-side queries for the console's replies, approval queue and audit pages."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.store import POST
from models.tables import AuditEvent, Reply

REPLY = Reply.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
REPLY_COLUMNS = (
    "id",
    "post_id",
    "case_id",
    "kind",
    "platform",
    "language",
    "template_key",
    "text",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "platform_reply_id",
    "dry_run",
    "drafted_by",
    "edited_by",
    "approved_by",
    "approved_at",
    "sent_at",
    "created_at",
)


def replies_for_post(engine: Engine, *, city_id: int, post_id: int) -> list[dict[str, Any]]:
    q = (
        sa.select(*[REPLY.c[n] for n in REPLY_COLUMNS])
        .where(REPLY.c.city_id == city_id, REPLY.c.post_id == post_id)
        .order_by(REPLY.c.id)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def reply_queue(
    engine: Engine,
    *,
    city_id: int,
    states: Sequence[str] = ("draft",),
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Replies in ``states`` with their post, emergencies first, then oldest post first."""
    p, r = POST.c, REPLY.c
    q = (
        sa.select(
            *[r[n] for n in REPLY_COLUMNS],
            p.author,
            p.text.label("post_text"),
            p.topic,
            p.urgency,
            p.urgency_rank,
            p.neighborhood,
            p.needs_review,
            p.created_at.label("post_created_at"),
        )
        .select_from(REPLY.join(POST, POST.c.id == r.post_id))
        .where(r.city_id == city_id, r.state.in_(list(states)))
        .order_by(p.urgency_rank, p.created_at, r.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(q)]


def state_counts(engine: Engine, *, city_id: int) -> dict[str, int]:
    q = (
        sa.select(REPLY.c.state, sa.func.count())
        .where(REPLY.c.city_id == city_id)
        .group_by(REPLY.c.state)
    )
    with engine.connect() as conn:
        return {state: int(n) for state, n in conn.execute(q)}


def group_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """Similar drafts: same template, topic, language and platform."""
    return (
        row.get("template_key") or "(own words)",
        row.get("topic") or "",
        row.get("language") or "",
        row.get("platform") or "",
    )


# --------------------------------------------------------------------------- audit


def audit_events(
    engine: Engine,
    *,
    city_id: int,
    actor: str | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 1000,
) -> list[dict[str, Any]]:
    """Audit events of one city, newest first."""
    c = AUDIT.c
    q = sa.select(c.id, c.at, c.actor, c.action, c.object_type, c.object_id, c.details).where(
        c.city_id == city_id
    )
    if actor:
        q = q.where(c.actor == actor)
    if action:
        q = q.where(c.action == action)
    if action_prefix:
        q = q.where(c.action.startswith(action_prefix, autoescape=True))
    if object_type:
        q = q.where(c.object_type == object_type)
    if object_id:
        q = q.where(c.object_id == object_id)
    if since is not None:
        q = q.where(c.at >= since)
    if until is not None:
        q = q.where(c.at < until)
    q = q.order_by(c.at.desc(), c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def audit_distinct(engine: Engine, *, city_id: int, column: str) -> list[str]:
    col = AUDIT.c[column]
    q = sa.select(col).where(AUDIT.c.city_id == city_id, col.is_not(None)).distinct().order_by(col)
    with engine.connect() as conn:
        return [str(v) for v in conn.execute(q).scalars()]


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """CSV cell text; a leading formula character is quoted so spreadsheets do not run it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return "'" + text if text.startswith(_FORMULA) else text


def audit_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The audit events as CSV: id, at, actor, action, object_type, object_id, details."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    cols = ("id", "at", "actor", "action", "object_type", "object_id", "details")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in cols])
    return buf.getvalue()
