"""Scheduled jobs on ``schedule``, each wrapped so that one failure is recorded and retried
at its next run instead of stopping the others. Job state lives in the database
(``JobState``) so the health command can report it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import schedule
from sqlalchemy.engine import Engine

from models.tables import JobState
from models.types import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Job:
    name: str
    fn: Callable[[], Any]
    every_seconds: float


class Scheduler:
    def __init__(
        self, engine: Engine, city_id: int, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.city_id = city_id
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self._schedule = schedule.Scheduler()

    def add(self, name: str, fn: Callable[[], Any], *, every_seconds: float) -> None:
        job = Job(name, fn, every_seconds)
        self.jobs[name] = job
        self._schedule.every(max(1, round(every_seconds))).seconds.do(self.run_job, name).tag(name)

    def run_job(self, name: str) -> bool:
        """Run one job now, recording its outcome; never raises."""
        job = self.jobs[name]
        self._record(name, started=True)
        try:
            job.fn()
        except Exception as exc:  # one job's failure must not stop the others
            log.exception("job %s failed", name)
            self._record(name, error=f"{type(exc).__name__}: {exc}")
            return False
        self._record(name)
        return True

    def run_pending(self) -> None:
        self._schedule.run_pending()

    def run_all(self) -> dict[str, bool]:
        return {name: self.run_job(name) for name in self.jobs}

    def idle_seconds(self) -> float:
        idle = self._schedule.idle_seconds
        return 1.0 if idle is None else max(0.0, idle)

    def _record(self, name: str, *, started: bool = False, error: str | None = None) -> None:
        """Upsert the job's row: workers running the same job at once never collide."""
        now = self.clock()
        table = JobState.__table__  # type: ignore[attr-defined]
        key = (table.c.city_id == self.city_id, table.c.name == name)
        values: dict[str, Any]
        if started:
            values = {"last_started_at": now, "last_status": "running"}
        else:
            values = {
                "last_finished_at": now,
                "runs": table.c.runs + 1,
                "last_status": "failed" if error else "ok",
                "last_error": error,
                "failures": table.c.failures + (1 if error else 0),
            }
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            conn.execute(
                insert(table)
                .values(city_id=self.city_id, name=name, runs=0, failures=0)
                .on_conflict_do_nothing(index_elements=["city_id", "name"])
            )
            conn.execute(table.update().where(*key).values(**values))
