"""Leases between several ``civic-listener run`` workers on one database.

* :class:`SourceLease`: each source is read by one worker.
* :class:`LabelClaims`: a post sent to a worker's background labeller is not sent to
  another's while it is in flight.

PostgreSQL: session advisory locks held on a dedicated connection; they are released when
the worker lets go, stops or its connection dies, so another worker takes over. SQLite (one
machine): ``fcntl`` locks on a file beside the database, released by the kernel when the
process exits, even on SIGKILL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _lock_path(engine: Engine, what: str) -> Path:
    """A lock file beside the SQLite database (in the working folder for one in memory)."""
    db = engine.url.database
    base = Path(db) if db and db != ":memory:" else Path(os.getcwd()) / "memory"
    return base.with_name(f"{base.name}.{what}.lock")


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
        safe = hashlib.sha256(self.name.encode()).hexdigest()[:16]
        fd = os.open(_lock_path(self.engine, f"source-{safe}"), os.O_RDWR | os.O_CREAT, 0o600)
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


# advisory-lock keys of label claims: this base plus the post's id (source leases use
# SHA-256 keys, which a base this far from zero does not meet in practice)
_CLAIM_BASE = 0x4C41_4245_0000_0000  # "LABE"
_CLAIM = "SELECT k FROM unnest(CAST(:ids AS bigint[])) AS k WHERE pg_try_advisory_lock(:base + k)"
_RELEASE = "SELECT pg_advisory_unlock(:base + k) FROM unnest(CAST(:ids AS bigint[])) AS k"


class LabelClaims:
    """The posts this worker has sent to its background labeller and not stored yet.

    The background labeller reads pending posts without locking them (nothing is written
    while a batch is in flight); with several workers, each would label the same oldest
    posts and only the first to store would keep its work. A worker claims the posts it
    sends and skips those another worker has claimed; it lets go once it has stored them. A
    worker that labels in its own process claims each batch too, so that it leaves the posts in
    flight elsewhere (between such workers ``FOR UPDATE SKIP LOCKED`` already shares the work).

    PostgreSQL: one session advisory lock per post, on a dedicated connection. SQLite: one
    open-file-description lock per post (a byte of a file beside the database, at the post's
    id), which conflicts between processes and between two claims of one process alike.
    Both vanish with the process, so a worker killed mid-batch blocks nobody: its posts are
    still pending and the next worker claims them.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._fd: int | None = None

    def claim(self, ids: Sequence[int]) -> set[int]:
        """Claim what it can of ``ids``: those no other worker holds. Returns them."""
        if not ids:
            return set()
        if self.engine.dialect.name == "postgresql":
            try:
                return {int(k) for k in self._pg(_CLAIM, ids)}
            except sa.exc.DBAPIError:
                self.close()  # a lost connection took its claims with it: claim on a new one
                return {int(k) for k in self._pg(_CLAIM, ids)}
        fd = self._file()
        got = set()
        for pid in ids:
            if _byte_lock(fd, pid, fcntl.F_WRLCK):
                got.add(pid)
        return got

    def release(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        if self.engine.dialect.name == "postgresql":
            if self._conn is not None:
                try:
                    self._pg(_RELEASE, ids)
                except sa.exc.DBAPIError:
                    self.close()  # the connection is gone, and its claims with it
            return
        if self._fd is not None:
            for pid in ids:
                _byte_lock(self._fd, pid, fcntl.F_UNLCK)

    def close(self) -> None:
        """Let go of every claim."""
        if self._conn is not None:
            try:  # closed for good: back in the pool, its session would keep the locks
                self._conn.invalidate()
                self._conn.close()
            finally:
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _pg(self, sql: str, ids: Sequence[int]) -> list[Any]:
        if self._conn is None:
            self._conn = self.engine.connect()
        rows = self._conn.execute(
            sa.text(sql), {"ids": [int(i) for i in ids], "base": _CLAIM_BASE}
        ).scalars()
        out = list(rows)
        self._conn.commit()
        return out

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(_lock_path(self.engine, "labelling"), os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd


def _byte_lock(fd: int, offset: int, kind: int) -> bool:
    """Take (``F_WRLCK``) or drop (``F_UNLCK``) an open-file-description lock on one byte;
    False when another holds it."""
    # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for these locks)
    arg = struct.pack("@hhqqi4x", kind, os.SEEK_SET, offset, 1, 0)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, arg)
    except OSError:  # EAGAIN / EACCES: held elsewhere
        return False
    return True
