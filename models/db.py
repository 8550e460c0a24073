"""Engines, schema upgrades and sessions.

SQLite (the default, one city on one machine) runs in WAL mode with foreign keys on;
PostgreSQL is used when ``CIVIC_DATABASE_URL`` names one. The schema is managed by Alembic
from the first table: :func:`upgrade` brings any database to the newest revision and the
service calls it when it starts.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlmodel import Session

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from models.types import json_dumps

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# SQLite's page cache per connection, in KiB: the posts table's indexes stay in memory while a
# batch is written (the default, 2 MB, re-reads index pages from the OS for every batch)
SQLITE_CACHE_KIB = 65_536
# pages the write-ahead log holds before a commit copies it into the database (SQLite's
# default, 1,000, checkpoints every batch or two: a page a busy index rewrites each batch is
# copied each time; measured on the replay benchmark, a quarter less time spent committing)
SQLITE_WAL_CHECKPOINT_PAGES = 10_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder and sets its pragmas."""
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("json_serializer", json_dumps)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("json_serializer", json_dumps)
    return sa.create_engine(url, **kwargs)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default).

    Workers started together upgrade one at a time (an advisory lock on PostgreSQL, a file
    lock beside the SQLite file); the later ones find the schema current and change nothing.
    """
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


_MIGRATION_LOCK = 0x6369766963  # "civic": the advisory-lock key of schema upgrades


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
        return
    db_path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db_path or db_path == ":memory:":
        yield
        return
    fd = os.open(f"{db_path}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
