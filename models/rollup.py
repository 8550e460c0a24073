"""The dashboard's rollup: posts counted per city, local day and label combination.

``PostRollup`` holds, for every city, the number of posts per (day, relevance, sentiment)
cut by one label at a time: one set of rows per dimension (topic, neighborhood, platform,
urgency), each post counted once in every dimension. It counts exactly the posts that are
*classified* (``classified_at`` set) and *not deleted*; the day is the post's calendar day
in the city's time zone (``City.timezone``, daylight saving included). Posts not yet
classified are few (the pipeline's backlog) and the dashboard counts them from the posts
themselves, so the rollup plus that remainder always equals a GROUP BY over the posts.

Who keeps it current, in the same transaction as the change it counts:

* :func:`models.store.store_labels` (the pipeline's classify step) adds the labelled posts;
* :func:`models.store.correct_label` (a person's correction, also the console's relabel)
  moves a post from its old labels' row to the new one;
* the pipeline's tombstone (the author deleted the post) takes it out;
* :func:`models.store.ensure_city` rebuilds a city's rows when its time zone changes.

Retention (:func:`models.privacy.purge`) blanks text, author and coordinates but keeps labels,
created time and deletion state, so the counts stay as they are.

Every change goes through :func:`kept_current`: it counts the posts' rows before and after
the change and applies the difference, so any change to a post's labels is counted right.
Rows are upserted in key order (two PostgreSQL workers never wait on each other in a cycle)
and rows that fall to zero are deleted. :func:`rebuild` recounts a city from its posts
(after a bulk import that bypassed the pipeline, or to repair).

Why days and one label at a time: the dashboard charts days and shows each label against
sentiment (never topic by neighborhood by platform). At a large city's volume, a few hundred
posts an hour over some ten thousand combinations of every label, a rollup keyed by all
labels at once has about as many rows as there are posts (measured on the benchmark: 584,000
daily rows for 1,000,000 posts, and no faster to group than the posts' covering index),
while one label at a time gives about 140 rows a day whatever the volume. Spikes (the last 60 minutes against the same 60
minutes on the previous days) keep reading the covering index ``ix_post_dashboard``: fifteen
one-hour slices, whose cost depends on the busiest hour, not on the window or the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.tables import City, Post, PostRollup

POST = Post.__table__  # type: ignore[attr-defined]
ROLLUP = PostRollup.__table__  # type: ignore[attr-defined]
CITY = City.__table__  # type: ignore[attr-defined]
DIMENSIONS = ("topic", "neighborhood", "platform", "urgency")
# (day, dimension, value, relevant, sentiment)
Key = tuple[date, str, str, bool, str]
_COLUMNS = ("day", "dimension", "value", "relevant", "sentiment")
_CHUNK = 500


def city_zone(conn: Connection, city_id: int) -> ZoneInfo:
    """The city's time zone (UTC when the city or its zone is unknown)."""
    name = conn.execute(sa.select(CITY.c.timezone).where(CITY.c.id == city_id)).scalar()
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant ``day`` begins in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone)


def _columns() -> list[Any]:
    c = POST.c
    return [c.created_at, c.relevant, c.sentiment, *[c[d] for d in DIMENSIONS]]


def _count(counts: Counter[Key], row: Any, zone: ZoneInfo) -> None:
    """Count one post (a row of :func:`_columns`) in every dimension."""
    day = row[0].astimezone(zone).date()
    relevant, sentiment = bool(row[1]), row[2] or ""
    for dimension, value in zip(DIMENSIONS, row[3:], strict=True):
        counts[(day, dimension, value or "", relevant, sentiment)] += 1


def _counted(conn: Connection, post_ids: Sequence[int]) -> dict[int, Counter[Key]]:
    """What the rollup holds for ``post_ids`` right now, per city (counted posts only)."""
    out: dict[int, Counter[Key]] = {}
    zones: dict[int, ZoneInfo] = {}
    ids = sorted(set(post_ids))
    c = POST.c
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            sa.select(c.city_id, *_columns()).where(
                c.id.in_(ids[i : i + _CHUNK]),
                c.classified_at.is_not(None),
                c.deleted_at.is_(None),
            )
        ).all()
        for row in rows:
            city_id = row[0]
            counts = out.get(city_id)
            if counts is None:
                counts = out[city_id] = Counter()
                zones[city_id] = city_zone(conn, city_id)
            _count(counts, row[1:], zones[city_id])
    return out


def _upsert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(ROLLUP)
    return stmt.on_conflict_do_update(
        index_elements=["city_id", *_COLUMNS],
        set_={"posts": ROLLUP.c.posts + stmt.excluded.posts},
    )


def apply(conn: Connection, city_id: int, deltas: dict[Key, int]) -> None:
    """Add ``deltas`` (negative to take away) to the city's rows, in the caller's transaction."""
    changes = sorted((k, n) for k, n in deltas.items() if n)
    if not changes:
        return
    rows = [
        {"city_id": city_id, **dict(zip(_COLUMNS, key, strict=True)), "posts": n}
        for key, n in changes
    ]
    conn.execute(_upsert(conn), rows)
    if any(n < 0 for _, n in changes):
        conn.execute(
            ROLLUP.delete().where(
                ROLLUP.c.city_id == city_id,
                ROLLUP.c.day.in_(sorted({k[0] for k, n in changes if n < 0})),
                ROLLUP.c.posts <= 0,
            )
        )


def _difference(
    before: dict[int, Counter[Key]], after: dict[int, Counter[Key]]
) -> Iterator[tuple[int, dict[Key, int]]]:
    for city_id in sorted(set(before) | set(after)):
        old, new = before.get(city_id, Counter()), after.get(city_id, Counter())
        delta = {k: new[k] - old[k] for k in set(old) | set(new) if new[k] != old[k]}
        if delta:
            yield city_id, delta


@contextmanager
def kept_current(
    conn: Connection, post_ids: Iterable[int], *, uncounted: bool = False
) -> Iterator[None]:
    """Wrap a change to ``post_ids`` (labels, deletion) so the rollup follows it.

    Counts the posts before and after the block, inside the caller's transaction, and
    applies the difference. ORM callers flush their session before the block ends.
    ``uncounted=True``: the caller knows none of the posts is counted yet (it claimed them
    unlabelled in this transaction), so there is nothing to count before.
    """
    ids = sorted(set(post_ids))
    before = _counted(conn, ids) if ids and not uncounted else {}
    yield
    if not ids:
        return
    for city_id, delta in _difference(before, _counted(conn, ids)):
        apply(conn, city_id, delta)


def expected_rows(conn: Connection, *, city_id: int) -> dict[Key, int]:
    """What the city's rollup should hold, counted from its posts."""
    c = POST.c
    zone = city_zone(conn, city_id)
    counts: Counter[Key] = Counter()
    result = conn.execute(
        sa.select(*_columns())
        .where(c.city_id == city_id, c.classified_at.is_not(None), c.deleted_at.is_(None))
        .execution_options(yield_per=20_000)
    )
    for row in result:
        _count(counts, row, zone)
    return dict(counts)


def rollup_rows(conn: Connection, *, city_id: int) -> dict[Key, int]:
    """Every row the city's rollup holds."""
    r = ROLLUP.c
    q = sa.select(*[r[k] for k in _COLUMNS], r.posts).where(r.city_id == city_id)
    out: dict[Key, int] = {}
    for row in conn.execute(q):
        out[(row[0], row[1], row[2], bool(row[3]), row[4])] = int(row[5])
    return out


def rebuild(engine: Engine, *, city_id: int) -> int:
    """Recount the city's rollup from its posts (one transaction); returns the rows written."""
    with engine.begin() as conn:
        counts = expected_rows(conn, city_id=city_id)
        conn.execute(ROLLUP.delete().where(ROLLUP.c.city_id == city_id))
        rows = [
            {"city_id": city_id, **dict(zip(_COLUMNS, key, strict=True)), "posts": n}
            for key, n in sorted(counts.items())
        ]
        for i in range(0, len(rows), 5000):
            conn.execute(ROLLUP.insert(), rows[i : i + 5000])
    return len(rows)


# --------------------------------------------------------------------------- reading

Cells = dict[str, Counter[tuple[date, str, str]]]  # dimension -> (day, value, sentiment) -> n


def day_cells(
    conn: Connection,
    *,
    city_id: int,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    relevant_only: bool = True,
) -> Cells:
    """Posts created in ``[since, until)`` per dimension and (local day, value, sentiment):
    whole days from the rollup; the window's partial first and last days, and posts not
    yet classified, from the posts table. Absent labels are ""."""
    out: Cells = {d: Counter() for d in DIMENSIONS}
    first = since.astimezone(zone).date()
    if local_midnight(first, zone) < since:
        first += timedelta(days=1)
    last = until.astimezone(zone).date() - timedelta(days=1)
    if first > last:
        _raw(conn, out, city_id, since, until, zone, relevant_only, pending_only=False)
        return out
    start, end = local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
    r = ROLLUP.c
    where = [r.city_id == city_id, r.day >= first, r.day <= last]
    if relevant_only:
        where.append(r.relevant.is_(True))
    q = (
        sa.select(r.dimension, r.day, r.value, r.sentiment, sa.func.sum(r.posts))
        .where(*where)
        .group_by(r.dimension, r.day, r.value, r.sentiment)
    )
    for dimension, day, value, sentiment, n in conn.execute(q):
        if dimension in out:
            out[dimension][(day, value, sentiment)] += int(n)
    _raw(conn, out, city_id, since, start, zone, relevant_only, pending_only=False)
    _raw(conn, out, city_id, end, until, zone, relevant_only, pending_only=False)
    _raw(conn, out, city_id, start, end, zone, relevant_only, pending_only=True)
    return out


def _raw(
    conn: Connection,
    out: Cells,
    city_id: int,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    relevant_only: bool,
    *,
    pending_only: bool,
) -> None:
    """Count posts of ``[since, until)`` straight from the posts table (all of them, or only
    those the rollup does not count yet)."""
    if since >= until:
        return
    c = POST.c
    where = [c.city_id == city_id, c.deleted_at.is_(None), c.created_at >= since]
    where.append(c.created_at < until)
    if relevant_only:
        where.append(c.relevant.is_(True))
    q = sa.select(*_columns())
    if pending_only:
        # the backlog is small: read it through the pending index, not the whole window
        where.append(c.classified_at.is_(None))
        q = q.with_hint(POST, "INDEXED BY ix_post_pending", "sqlite")
    counts: Counter[Key] = Counter()
    for row in conn.execute(q.where(*where)):
        _count(counts, row, zone)
    for key, n in counts.items():
        day, dimension, value, _relevant, sentiment = key
        out[dimension][(day, value, sentiment)] += n
