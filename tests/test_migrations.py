from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from models.db import (
    SQLITE_CACHE_KIB,
    SQLITE_WAL_CHECKPOINT_PAGES,
    current_revision,
    make_engine,
    upgrade,
)


def test_upgrade_creates_schema_matching_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) is not None
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    upgrade(engine)  # idempotent
    engine.dispose()


def test_sqlite_runs_in_wal_mode(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        # every connection of the engine: a page cache the batch's indexes fit in, and
        # checkpoints every 10,000 pages
        assert conn.execute(sa.text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
        assert (
            conn.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar()
            == SQLITE_WAL_CHECKPOINT_PAGES
        )
    engine.dispose()
