"""Source leases: with several ``civic-listener run`` workers, each source is read by one.

PostgreSQL: a session advisory lock held on a dedicated connection for as long as the
worker reads the source; it is released when the worker stops or its connection dies, so
another worker takes over. SQLite (one machine): an ``fcntl`` lock on a file beside the
database, released by the kernel when the process exits, even on SIGKILL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class SourceLease:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Any = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(self.name)}
            ).scalar()
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)
        db = self.engine.url.database
        base = Path(db) if db and db != ":memory:" else Path(os.getcwd()) / "memory"
        safe = hashlib.sha256(self.name.encode()).hexdigest()[:16]
        path = base.with_name(f"{base.name}.source-{safe}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.name)})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
