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
from sqlmodel import Session, select

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
        now = self.clock()
        with Session(self.engine) as s:
            state = s.exec(
                select(JobState).where(JobState.city_id == self.city_id, JobState.name == name)
            ).first() or JobState(city_id=self.city_id, name=name)
            if started:
                state.last_started_at = now
                state.last_status = "running"
            else:
                state.last_finished_at = now
                state.runs += 1
                state.last_status = "failed" if error else "ok"
                state.last_error = error
                if error:
                    state.failures += 1
            s.add(state)
            s.commit()
