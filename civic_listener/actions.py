"""The acting hooks' outbox: every labelled post is acted on, after a failure or a crash too.

The pipeline stores a batch's labels and, in the same transaction, one ``ActionOutbox`` row
naming the batch's posts (:func:`record`). After the commit it runs the after-classify hooks
(case triage, reply drafting) and deletes the row (:func:`done`). A hook that raises leaves the
row, with the error and a later attempt time (:func:`failed`); a process that dies in between
leaves the row as written, due after :data:`GRACE`. The ``actions_retry`` job
(:func:`retry_due`) claims due rows and runs the hooks again. The hooks are idempotent (triage
skips a post that has a case, drafting one that has a reply), so running them again after a
partial failure only finishes what was left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.tables import ActionOutbox

log = logging.getLogger(__name__)

OUTBOX = ActionOutbox.__table__  # type: ignore[attr-defined]
GRACE = timedelta(minutes=5)  # a row is its writer's for this long (hooks run within it)
FIRST_DELAY = timedelta(seconds=30)  # after a failure; doubles with each attempt
MAX_DELAY = timedelta(hours=1)

Hooks = Callable[[int, Sequence[int]], None]


def record(conn: Connection, *, city_id: int, post_ids: Sequence[int], now: datetime) -> int:
    """Note, in the caller's transaction, that ``post_ids`` wait for their hooks; the row id."""
    result = conn.execute(
        OUTBOX.insert().values(
            city_id=city_id,
            post_ids=list(post_ids),
            created_at=now,
            next_attempt_at=now + GRACE,
            attempts=0,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def done(engine: Engine, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(OUTBOX.delete().where(OUTBOX.c.id == row_id))


def delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 30 s, 1 min, 2 min, ... 1 h."""
    return min(MAX_DELAY, FIRST_DELAY * 2 ** max(attempts - 1, 0))


def failed(engine: Engine, row_id: int, *, attempts: int, error: str, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id == row_id)
            .values(
                attempts=attempts, last_error=error[:1000], next_attempt_at=now + delay(attempts)
            )
        )


def run_hooks(
    engine: Engine,
    hooks: Hooks,
    *,
    row_id: int,
    city_id: int,
    post_ids: Sequence[int],
    attempts: int,
    now: Callable[[], datetime],
) -> bool:
    """Run the hooks for one row: delete it when they return, else keep it for a retry."""
    try:
        hooks(city_id, post_ids)
    except Exception as exc:  # a hook's failure must not stop the pipeline: retried later
        log.exception(
            "acting on %d labelled posts of city %s failed (attempt %d); retried later",
            len(post_ids),
            city_id,
            attempts,
        )
        failed(engine, row_id, attempts=attempts, error=f"{type(exc).__name__}: {exc}", now=now())
        return False
    done(engine, row_id)
    return True


def retry_due(
    engine: Engine,
    hooks: Hooks,
    *,
    now: Callable[[], datetime],
    city_ids: Sequence[int] | None = None,
    limit: int = 20,
) -> dict[str, int]:
    """The ``actions_retry`` job: claim the rows due now (another worker skips them: each is
    pushed :data:`GRACE` ahead in the claiming transaction) and run their hooks again."""
    claimed: list[Any] = []
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            from models.store import lock_for_write

            lock_for_write(conn)
        q = (
            sa.select(OUTBOX.c.id, OUTBOX.c.city_id, OUTBOX.c.post_ids, OUTBOX.c.attempts)
            .where(OUTBOX.c.next_attempt_at <= now())
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(limit)
        )
        if city_ids is not None:
            q = q.where(OUTBOX.c.city_id.in_(list(city_ids)))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        claimed = list(conn.execute(q))
        if claimed:
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id.in_([r.id for r in claimed]))
                .values(next_attempt_at=now() + GRACE, attempts=OUTBOX.c.attempts + 1)
            )
    counts = {"retried": len(claimed), "done": 0, "failed": 0}
    for row in claimed:
        ok = run_hooks(
            engine,
            hooks,
            row_id=row.id,
            city_id=row.city_id,
            post_ids=[int(p) for p in row.post_ids],
            attempts=row.attempts + 1,
            now=now,
        )
        counts["done" if ok else "failed"] += 1
    return counts
