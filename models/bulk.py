"""Bulk writes for the hot paths (storing posts, labels and cases), with few Python steps a row.

SQLAlchemy's ``conn.execute(stmt, list_of_dicts)`` builds a parameter dictionary per row
(``construct_params``), which costs more than SQLite's own insert at these volumes. On SQLite
these helpers write the statement once and hand the driver tuples, each value converted by
the column type's own bind processor (so what is stored is exactly what the Core statement
would store: timestamps as UTC text, JSON encoded, booleans as integers); values common to
every row (``constants``) are converted once. On any other database they build the same
statement with SQLAlchemy Core and let it batch (``insertmanyvalues`` on PostgreSQL).

Every function runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.types import UTCDateTime


def _processors(conn: Connection, table: sa.Table, keys: Sequence[str]) -> list[Any]:
    dialect = conn.dialect
    return [
        _fast_processor(table.c[k].type, dialect.name)
        or _none_first(table.c[k].type._cached_bind_processor(dialect))
        for k in keys
    ]


def _fast_processor(type_: Any, dialect: str) -> Any:
    """The same conversion in one C call where the type's own takes several Python steps: a
    UTC timestamp on SQLite becomes the text SQLAlchemy's ``DATETIME`` writes
    ("2026-11-14 00:00:00.000000"; tested against it)."""
    if dialect == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_text
    return None


def sqlite_utc_text(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` and SQLite's ``DATETIME`` make of ``value`` together."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: timestamps are timezone-aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _none_first(proc: Any) -> Any:
    """A processor that skips the work for None when it turns None into a constant text
    (JSON's ``"null"``): the same value, without encoding it again for every row."""
    if proc is None:
        return None
    try:
        none = proc(None)
    except Exception:
        return proc
    if not isinstance(none, str):
        return proc
    return lambda value: none if value is None else proc(value)


def _convert(
    conn: Connection, table: sa.Table, keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    procs = _processors(conn, table, keys)
    if not any(procs):
        return [tuple(r) for r in rows]
    pairs = list(enumerate(procs))
    plain = [i for i, p in pairs if p is None]
    if not plain:
        return [tuple([p(r[i]) for i, p in pairs]) for r in rows]
    return [tuple([p(r[i]) if p is not None else r[i] for i, p in pairs]) for r in rows]


def _constants(
    conn: Connection, table: sa.Table, constants: Mapping[str, Any] | None
) -> tuple[list[str], tuple[Any, ...]]:
    keys = list(constants or {})
    if not keys:
        return [], ()
    assert constants is not None
    row = _convert(conn, table, keys, [[constants[k] for k in keys]])[0]
    return keys, row


def _defaults(table: sa.Table, given: Sequence[str]) -> dict[str, Any]:
    """The Python-side scalar defaults of the columns not ``given`` (what Core would add)."""
    out: dict[str, Any] = {}
    for col in table.c:
        default = col.default
        if col.key in given or default is None:
            continue
        if not default.is_scalar:
            raise ValueError(f"bulk insert into {table.name}: give {col.key} a value")
        out[col.key] = default.arg  # type: ignore[attr-defined]
    return out


def insert_many(
    conn: Connection,
    table: sa.Table,
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    skip_conflicts_on: Sequence[str] | None = None,
) -> int:
    """Insert ``rows`` (tuples in the order of ``keys``), each with ``constants`` added.

    ``skip_conflicts_on``: the columns of a unique key; a row that conflicts is skipped
    (``ON CONFLICT DO NOTHING``). Returns the number of rows inserted.
    """
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        return _insert_core(conn, table, keys, rows, constants, skip_conflicts_on)
    constants = {**_defaults(table, [*keys, *(constants or {})]), **(constants or {})}
    const_keys, const_row = _constants(conn, table, constants)
    params = _convert(conn, table, keys, rows)
    if const_row:
        params = [p + const_row for p in params]
    quote = conn.dialect.identifier_preparer.quote
    columns = [*keys, *const_keys]
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    if skip_conflicts_on:
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in skip_conflicts_on)}) DO NOTHING"
    # sqlite3 sums the changes of an executemany; skipped rows count zero
    return max(conn.exec_driver_sql(sql, params).rowcount, 0)


def insert_dicts(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """:func:`insert_many` for rows given as dictionaries, all with the same keys."""
    if not rows:
        return 0
    keys = list(rows[0])
    return insert_many(conn, table, keys, [[row[k] for k in keys] for row in rows])


def _insert_core(
    conn: Connection,
    table: sa.Table,
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: Mapping[str, Any] | None,
    skip_conflicts_on: Sequence[str] | None,
) -> int:
    extra = dict(constants or {})
    data = [{**dict(zip(keys, r, strict=True)), **extra} for r in rows]
    if not skip_conflicts_on:
        conn.execute(table.insert(), data)
        return len(data)
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        # No RETURNING: with it SQLAlchemy sends all the rows' values as one statement, which
        # psycopg parses in Python (measured: ~0.4 s per thousand posts); without it psycopg
        # pipelines one prepared statement and sums the rows each execution inserted.
        stmt = (
            postgresql.insert(table)
            .on_conflict_do_nothing(index_elements=skip_conflicts_on)
            .execution_options(preserve_rowcount=True)
        )
        return max(conn.execute(stmt, data).rowcount, 0)
    raise NotImplementedError(f"skip_conflicts_on is not supported on {conn.dialect.name}")


def update_many(
    conn: Connection,
    table: sa.Table,
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    where: str = "id",
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Update one row per tuple: ``rows`` hold the values of ``keys`` followed by the value of
    the ``where`` column that picks the row; ``constants`` are set on every row."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        bind: dict[str, Any] = {k: sa.bindparam(f"v_{k}") for k in keys}
        stmt = (
            table.update()
            .where(table.c[where] == sa.bindparam("w_key"))
            .values({**bind, **dict(constants or {})})
        )
        conn.execute(
            stmt,
            [
                {**{f"v_{k}": v for k, v in zip(keys, r[:-1], strict=True)}, "w_key": r[-1]}
                for r in rows
            ],
        )
        return
    stale = [c.key for c in table.c if c.onupdate is not None and c.key not in keys]
    if stale and not set(stale) <= set(constants or {}):
        raise ValueError(f"bulk update of {table.name}: give {stale} a value (onupdate)")
    const_keys, const_row = _constants(conn, table, constants)
    params = _convert(conn, table, [*keys, where], rows)
    if const_row:
        params = [p[:-1] + const_row + p[-1:] for p in params]
    quote = conn.dialect.identifier_preparer.quote
    sets = ", ".join(f"{quote(c)} = ?" for c in [*keys, *const_keys])
    conn.exec_driver_sql(f"UPDATE {quote(table.name)} SET {sets} WHERE {quote(where)} = ?", params)
