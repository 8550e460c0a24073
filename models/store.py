"""Keyword-only functions that read and write the tables.

Hot paths (ingest and labelling) use SQLAlchemy Core in batches; everything else uses
SQLModel sessions. Each function takes the city it works for: no function reads across
cities unless its name says so.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from classifiers.api import Location
from models import bulk, rollup
from models.tables import (
    URGENCY_RANK,
    AuditEvent,
    City,
    Classification,
    Post,
    QuarantinedPayload,
    Reply,
    SourceCursor,
)
from models.types import utcnow

POST = Post.__table__  # type: ignore[attr-defined]
CLASSIFICATION = Classification.__table__  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- cities


def ensure_city(engine: Engine, *, slug: str, name: str, timezone: str = "America/New_York") -> int:
    """The id of the city ``slug``, creating it on first use."""
    with engine.begin() as conn:  # workers starting together create it once
        conn.execute(
            _insert_ignore(conn, City.__table__)  # type: ignore[attr-defined]
            .values(slug=slug, name=name, timezone=timezone)
            .on_conflict_do_nothing(index_elements=["slug"])
        )
    with Session(engine) as s:
        city = s.exec(select(City).where(City.slug == slug)).first()
        moved = False
        if city is None:
            city = City(slug=slug, name=name, timezone=timezone)
            s.add(city)
        else:
            moved = city.timezone != timezone
            city.name, city.timezone = name, timezone
        s.commit()
        assert city.id is not None
        city_id = city.id
    if moved:  # the dashboard's days are local days: recount them in the new zone
        rollup.rebuild(engine, city_id=city_id)
    return city_id


def city_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(City.id, City.slug)).all()  # type: ignore[call-overload]
    return {slug: cid for cid, slug in rows}


# --------------------------------------------------------------------------- posts


def _insert_ignore(conn: Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def insert_posts(
    conn: Connection,
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    constants: dict[str, Any] | None = None,
) -> int:
    """Insert posts (tuples of the values of ``keys``), skipping any already stored (same
    city, platform and id); ``constants`` are columns every row shares (the city, the source,
    the ingest time).

    Returns how many rows were new. Dedupe is the database's unique key, so two workers
    inserting the same post store it once.
    """
    return bulk.insert_many(
        conn,
        POST,
        keys,
        rows,
        constants=constants,
        skip_conflicts_on=["city_id", "platform", "external_id"],
    )


def existing_ids(
    conn: Connection, *, city_id: int, platform: str, external_ids: Iterable[str]
) -> set[str]:
    ids = list(set(external_ids))
    if not ids:
        return set()
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        found.update(
            conn.execute(
                sa.select(POST.c.external_id).where(
                    POST.c.city_id == city_id,
                    POST.c.platform == platform,
                    POST.c.external_id.in_(chunk),
                )
            ).scalars()
        )
    return found


def bump_reposts(conn: Connection, *, city_id: int, platform: str, counts: dict[str, int]) -> int:
    """Count reposts on the original instead of storing a second item. Returns matched."""
    matched = 0
    for external_id, n in counts.items():
        res = conn.execute(
            POST.update()
            .where(
                POST.c.city_id == city_id,
                POST.c.platform == platform,
                POST.c.external_id == external_id,
            )
            .values(repost_count=POST.c.repost_count + n)
        )
        matched += res.rowcount
    return matched


def sent_reply_ids(
    conn: Connection, *, city_id: int, platform: str, among: Collection[str]
) -> set[str]:
    """Which of ``among`` (platform ids of posts just read) are replies the city sent: they are
    never imported back as posts.  Only those ids are looked up, not every reply ever sent."""
    found: set[str] = set()
    ids = sorted(set(among))
    for i in range(0, len(ids), 500):
        found.update(
            conn.execute(
                sa.select(Reply.platform_reply_id).where(  # type: ignore[call-overload]
                    Reply.city_id == city_id,
                    Reply.platform == platform,
                    Reply.platform_reply_id.in_(ids[i : i + 500]),  # type: ignore[union-attr]
                )
            ).scalars()
        )
    return found


def lock_for_write(conn: Connection) -> None:
    """Take the database's write lock now (SQLite's single writer); a no-op elsewhere.

    SQLite starts a write transaction at the first write statement, so an UPDATE that
    matches nothing claims the lock before the transaction reads what it will change.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(POST.update().where(POST.c.id == -1).values(status=POST.c.status))


_REPLY_DRAFTING_LOCK = 0x5245504C  # "REPL": advisory-lock class of reply drafting (int4)


def lock_reply_drafting(conn: Connection, city_id: int) -> None:
    """Serialise reply drafting for one city across workers, for the caller's transaction.

    Drafting reads which posts already have a reply and then inserts the missing ones; two
    workers doing that at once (a batch's drafts and a linked case's) could both draft for the
    same post. SQLite: its single write lock (:func:`lock_for_write`). PostgreSQL: a
    transaction-scoped advisory lock per city, taken first in the transaction, so a waiter
    holds no row lock and cannot deadlock with the holder.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:k, :c)"),
            {"k": _REPLY_DRAFTING_LOCK, "c": city_id},
        )
    else:
        lock_for_write(conn)


def pending_posts(
    conn: Connection, *, city_id: int, limit: int, exclude: Iterable[int] = (), lock: bool = True
) -> list[tuple[int, str]]:
    """Claim stored posts not yet classified, oldest first, for the caller's transaction.

    On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so several workers
    share the backlog without labelling anything twice; on SQLite the caller holds the
    single write lock (:func:`lock_for_write`). ``lock=False`` only reads: the pipeline
    claims what it read (:class:`~civic_listener.leases.LabelClaims`) and then locks the
    posts it claimed with :func:`still_pending`; ``exclude`` leaves out posts the caller
    already has in hand.
    """
    q = (
        sa.select(POST.c.id, POST.c.text)
        .where(POST.c.city_id == city_id, POST.c.classified_at.is_(None))
        .order_by(POST.c.id)
        .limit(limit)
    )
    skip = sorted(set(exclude))
    if skip:
        q = q.where(POST.c.id.not_in(skip))
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=POST)
    return [(r[0], r[1]) for r in conn.execute(q).all()]


def pending_count(conn: Connection, *, city_ids: Iterable[int], cap: int) -> int:
    """How many stored posts of ``city_ids`` wait for labels, claimed or not, counted up to
    ``cap`` (an index range scan of ``ix_post_pending``; it takes no lock)."""
    ids = sorted(set(city_ids))
    waiting = (
        sa.select(POST.c.id)
        .where(POST.c.city_id.in_(ids), POST.c.classified_at.is_(None))
        .limit(cap)
        .subquery()
    )
    return int(conn.execute(sa.select(sa.func.count()).select_from(waiting)).scalar_one())


def still_pending(conn: Connection, *, city_id: int, post_ids: Sequence[int]) -> dict[int, str]:
    """Claim, for the caller's transaction, those of ``post_ids`` still unlabelled: id -> text.

    Posts labelled meanwhile are left out, and on PostgreSQL so are posts another worker has
    claimed (``FOR UPDATE SKIP LOCKED``); on SQLite the caller holds the write lock.
    """
    out: dict[int, str] = {}
    ids = sorted(set(post_ids))
    for i in range(0, len(ids), 5000):
        q = sa.select(POST.c.id, POST.c.text).where(
            POST.c.city_id == city_id,
            POST.c.classified_at.is_(None),
            POST.c.id.in_(ids[i : i + 5000]),
        )
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True, of=POST)
        out.update((r[0], r[1]) for r in conn.execute(q))
    return out


def store_labels(
    conn: Connection,
    *,
    city_id: int,
    post_ids: Sequence[int],
    predictions: Sequence[Any],
    component: str,
    version: str,
    artifact_hash: str,
    now: datetime | None = None,
    unlabelled: bool = False,
) -> None:
    """Store each prediction's labels (one row per task) and copy them onto the post.

    Two bulk statements per batch (:mod:`models.bulk`) and the dashboard's rollup kept
    current in the same transaction. ``unlabelled=True``: the caller claimed the posts as
    not yet labelled in this transaction (the pipeline does), so the rollup has nothing of
    theirs to take away."""
    now = now or utcnow()
    label_rows: list[tuple[Any, ...]] = []
    post_rows: list[tuple[Any, ...]] = []
    add_label = label_rows.append
    for pid, p in zip(post_ids, predictions, strict=True):
        review = p.needs_review
        ev = p.evidence
        add_label(
            (
                pid,
                "relevance",
                "true" if p.relevant else "false",
                float(p.relevance_score),
                ev.get("relevance") or None,
                "relevance" in review,
            )
        )
        add_label(
            (
                pid,
                "topic",
                p.topic,
                float(p.topic_score),
                ev.get("topic") or None,
                "topic" in review,
            )
        )
        add_label(
            (
                pid,
                "urgency",
                p.urgency,
                float(p.urgency_score),
                ev.get("urgency") or None,
                "urgency" in review,
            )
        )
        add_label(
            (
                pid,
                "sentiment",
                p.sentiment,
                float(p.sentiment_score),
                ev.get("sentiment") or None,
                "sentiment" in review,
            )
        )
        add_label(
            (
                pid,
                "language",
                p.language,
                float(p.language_score),
                ev.get("language") or None,
                "language" in review,
            )
        )
        locs = p.locations
        first = hood = None
        if locs:
            first = locs[0]
            add_label(
                (pid, "location", first.text[:255], 1.0, [_location(loc) for loc in locs], False)
            )
            hood = next((loc.neighborhood for loc in locs if loc.neighborhood), None)
        post_rows.append(
            (
                bool(p.relevant),
                p.topic,
                p.urgency,
                URGENCY_RANK.get(p.urgency, 9),
                p.sentiment,
                p.language,
                hood,
                first.text if first else None,
                bool(review),
                pid,
            )
        )
    bulk.insert_many(
        conn,
        CLASSIFICATION,
        _LABEL_KEYS,
        label_rows,
        constants={
            "city_id": city_id,
            "source": "model",
            "created_at": now,
            "component": component,
            "version": version,
            "artifact_hash": artifact_hash,
        },
    )
    if post_rows:
        # the dashboard's counts, same transaction
        with rollup.kept_current(conn, post_ids, uncounted=unlabelled):
            bulk.update_many(
                conn, POST, _POST_LABEL_KEYS, post_rows, constants={"classified_at": now}
            )


_LABEL_KEYS = ("post_id", "task", "label", "score", "evidence", "needs_review")
_POST_LABEL_KEYS = (
    "relevant",
    "topic",
    "urgency",
    "urgency_rank",
    "sentiment",
    "detected_language",
    "neighborhood",
    "location_text",
    "needs_review",
)
_LOCATION_FIELDS = tuple(f.name for f in dataclasses.fields(Location))
_LOCATION_VALUES = operator.attrgetter(*_LOCATION_FIELDS)


def _location(loc: Location) -> dict[str, Any]:
    """``loc.to_dict()`` without ``dataclasses.asdict``'s deep copy (its fields are scalars)."""
    return dict(zip(_LOCATION_FIELDS, _LOCATION_VALUES(loc), strict=True))


def correct_label(
    engine: Engine, *, city_id: int, post_id: int, task: str, label: str, actor: str
) -> None:
    """A person's correction: stored as a human label (training feedback) and audited."""
    with Session(engine) as s:
        post = s.get(Post, post_id)
        if post is None or post.city_id != city_id:
            raise LookupError(f"post {post_id} not found")
        s.add(
            Classification(
                city_id=city_id,
                post_id=post_id,
                task=task,
                label=label,
                score=1.0,
                component="human",
                source="human",
                created_by=actor,
            )
        )
        with rollup.kept_current(s.connection(), [post_id]):  # moves the dashboard's count
            if task == "topic":
                post.topic = label
                post.relevant = label != "none"
            elif task == "urgency":
                post.urgency, post.urgency_rank = label, URGENCY_RANK.get(label, 9)
            elif task == "sentiment":
                post.sentiment = label
            elif task == "relevance":
                post.relevant = label == "true"
            s.add(post)
            s.flush()
        s.add(
            AuditEvent(
                city_id=city_id,
                actor=actor,
                action="label.correct",
                object_type="post",
                object_id=str(post_id),
                details={"task": task, "label": label},
            )
        )
        s.commit()


def feedback_examples(engine: Engine, *, city_id: int | None = None) -> list[dict[str, Any]]:
    """Human-corrected labels as training examples ``{text, task, label}``."""
    q = (
        sa.select(POST.c.text, CLASSIFICATION.c.task, CLASSIFICATION.c.label)
        .join(POST, POST.c.id == CLASSIFICATION.c.post_id)
        .where(CLASSIFICATION.c.source == "human")
        .order_by(CLASSIFICATION.c.id)
    )
    if city_id is not None:
        q = q.where(CLASSIFICATION.c.city_id == city_id)
    with engine.connect() as conn:
        return [{"text": t, "task": k, "label": lab} for t, k, lab in conn.execute(q)]


# --------------------------------------------------------------------------- quarantine, cursors, audit


def quarantine(
    conn: Connection,
    *,
    city_id: int,
    source_name: str,
    raw: bytes,
    reason: str,
    platform: str | None = None,
) -> None:
    conn.execute(
        QuarantinedPayload.__table__.insert(),  # type: ignore[attr-defined]
        {
            "city_id": city_id,
            "source_name": source_name,
            "platform": platform,
            "raw": raw,
            "reason": reason[:2000],
            "received_at": utcnow(),
        },
    )


def get_cursor(engine: Engine, *, city_id: int, source_name: str) -> SourceCursor | None:
    with Session(engine) as s:
        return s.exec(
            select(SourceCursor).where(
                SourceCursor.city_id == city_id, SourceCursor.source_name == source_name
            )
        ).first()


def save_cursor(
    conn: Connection,
    *,
    city_id: int,
    source_name: str,
    cursor: str | None,
    state: dict[str, Any] | None = None,
) -> None:
    """Upsert a source's cursor inside the caller's transaction (with the posts it covers)."""
    table = SourceCursor.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"cursor": cursor, "updated_at": utcnow()}
    if state is not None:
        values["state"] = state
    stmt = (
        _insert_ignore(conn, table)
        .values(city_id=city_id, source_name=source_name, **values)
        .on_conflict_do_update(index_elements=["city_id", "source_name"], set_=values)
    )
    conn.execute(stmt)


def audit(
    session: Session,
    *,
    city_id: int,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: Any = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        AuditEvent(
            city_id=city_id,
            at=at or utcnow(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            details=details,
        )
    )
