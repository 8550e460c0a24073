"""Where sources keep what must survive a restart besides their cursor: read budgets and health.

The state lives in ``SourceCursor.state`` (a JSON column) under one key per writer
(``"budget"``, ``"health"``), so the pipeline's cursor commits and these writes never
overwrite each other. :class:`MemoryState` serves sources built without a database
(tests, ``civic-listener ingest``).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.tables import SourceCursor
from models.types import utcnow

CURSOR = SourceCursor.__table__  # type: ignore[attr-defined]


class StateStore(Protocol):
    def load(self, source_name: str) -> dict[str, Any]: ...

    def save(self, source_name: str, key: str, value: Any) -> None: ...


class MemoryState:
    """State kept in memory: lost on restart (for tests and one-off commands)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load(self, source_name: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._data.get(source_name, {}))

    def save(self, source_name: str, key: str, value: Any) -> None:
        with self._lock:
            self._data.setdefault(source_name, {})[key] = value


class DatabaseState:
    """State in the ``sourcecursor`` row of (city, source); the cursor column is left alone."""

    def __init__(self, engine: Engine, city_id: int) -> None:
        self.engine = engine
        self.city_id = city_id
        self._lock = threading.Lock()

    def _where(self, source_name: str) -> Any:
        return sa.and_(CURSOR.c.city_id == self.city_id, CURSOR.c.source_name == source_name)

    def load(self, source_name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(CURSOR.c.state).where(self._where(source_name))
            ).scalar_one_or_none()
        return dict(value) if isinstance(value, dict) else {}

    def save(self, source_name: str, key: str, value: Any) -> None:
        with self._lock, self.engine.begin() as conn:
            from sqlalchemy.dialects import postgresql, sqlite

            insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(
                insert(CURSOR)
                .values(
                    city_id=self.city_id,
                    source_name=source_name,
                    cursor=None,
                    state={},
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["city_id", "source_name"])
            )
            current = conn.execute(
                sa.select(CURSOR.c.state).where(self._where(source_name))
            ).scalar_one_or_none()
            state = dict(current) if isinstance(current, dict) else {}
            state[key] = value
            conn.execute(CURSOR.update().where(self._where(source_name)).values(state=state))


def all_states(engine: Engine, *, city_id: int) -> list[dict[str, Any]]:
    """Every source row of one city: name, cursor, state and when the cursor last moved."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CURSOR.c.source_name, CURSOR.c.cursor, CURSOR.c.state, CURSOR.c.updated_at)
            .where(CURSOR.c.city_id == city_id)
            .order_by(CURSOR.c.source_name)
        ).all()
    return [
        {
            "source_name": r.source_name,
            "cursor": r.cursor,
            "state": dict(r.state) if isinstance(r.state, dict) else {},
            "updated_at": r.updated_at,
        }
        for r in rows
    ]
