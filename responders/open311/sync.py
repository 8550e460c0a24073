"""Status sync: follow each filed case on the 311 server until it is closed.

A case filed with only a token first gets its request id (``GET tokens/{token}.json``). Open
cases are read in batches (``GET requests.json?service_request_id=a,b,c``), and one by one
(``GET requests/{id}.json``) when a server ignores the batch filter. A change of status or
status notes is recorded in the case history; a case that closes emits ``closed``, which the
reply workflow turns into a follow-up draft to the resident. A server that is down stops the
pass for its city; the next run picks up where this one left off.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from models.auth import SYSTEM
from models.store import audit
from models.tables import ServiceRequest
from responders.open311.cases import add_event, set_status
from responders.open311.client import RemoteRequest
from responders.open311.desk import CaseDesk, CityDesk
from responders.open311.errors import Open311Error

log = logging.getLogger(__name__)
CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
CHUNK = 50
PER_RUN = 1000


@dataclass
class SyncReport:
    checked: int = 0
    changed: int = 0
    closed: int = 0
    ids_resolved: int = 0
    errors: list[str] = field(default_factory=list)


class StatusSync:
    def __init__(self, desk: CaseDesk) -> None:
        self.desk = desk

    def run(self, *, force: bool = False, city_ids: Collection[int] | None = None) -> SyncReport:
        report = SyncReport()
        for city in self.desk.cities.values():
            if city.endpoint is None or (city_ids is not None and city.id not in city_ids):
                continue
            try:
                self._sync_city(city, report, force=force)
            except Open311Error as exc:
                report.errors.append(f"{city.info.slug}: {exc}")
                log.warning("status sync for %s stopped: %s", city.name, exc)
        return report

    def _due(self, city: CityDesk, *, force: bool) -> list[tuple[int, str | None, str | None]]:
        c = CASES.c
        now = self.desk.now()
        every = timedelta(seconds=self.desk.settings.cases_sync_interval_seconds)
        q = sa.select(c.id, c.open311_id, c.token).where(
            c.city_id == city.id,
            c.status.in_(("filed", "open")),
            sa.or_(c.open311_id.is_not(None), c.token.is_not(None)),
        )
        if not force:
            q = q.where(sa.or_(c.last_synced_at.is_(None), c.last_synced_at <= now - every))
        q = q.order_by(c.last_synced_at.is_not(None), c.last_synced_at, c.id).limit(PER_RUN)
        with self.desk.engine.connect() as conn:
            return [(r.id, r.open311_id, r.token) for r in conn.execute(q)]

    def _sync_city(self, city: CityDesk, report: SyncReport, *, force: bool) -> None:
        client = self.desk.client(city)
        due = self._due(city, force=force)
        ids: dict[str, int] = {}
        for case_id, rid, token in due:
            if rid is None and token:
                rid = client.token(token)
                self._touch(case_id, rid)
                if rid is None:
                    continue  # the server has not assigned an id yet
                report.ids_resolved += 1
            if rid:
                ids[rid] = case_id
        pending = list(ids)
        for i in range(0, len(pending), CHUNK):
            chunk = pending[i : i + CHUNK]
            got = {r.service_request_id: r for r in client.requests(service_request_ids=chunk)}
            for rid in chunk:
                remote = got.get(rid) or client.request(rid)
                report.checked += 1
                if remote is None:
                    self._touch(ids[rid], rid)
                    continue
                self._apply(city, ids[rid], remote, report)

    def _touch(self, case_id: int, request_id: str | None) -> None:
        now = self.desk.now()
        with Session(self.desk.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            if request_id and not case.open311_id:
                case.open311_id = request_id
                add_event(
                    s, case, case.status, now=now, note=f"311 assigned request id {request_id}"
                )
            case.last_synced_at = now
            s.add(case)
            s.commit()

    def _apply(
        self, city: CityDesk, case_id: int, remote: RemoteRequest, report: SyncReport
    ) -> None:
        now = self.desk.now()
        closed = remote.status == "closed"
        with Session(self.desk.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            case.last_synced_at = now
            just_closed = closed and case.closed_at is None
            notes = list(case.status_notes or [])
            new_note = remote.status_notes and (
                not notes or notes[-1].get("note") != remote.status_notes
            )
            changed = remote.status != (case.external_status or "") or bool(new_note)
            if new_note:
                notes.append(
                    {
                        "at": (remote.updated_datetime or now).isoformat(),
                        "status": remote.status,
                        "note": remote.status_notes,
                    }
                )
                case.status_notes = notes
            if changed:
                report.changed += 1
                set_status(
                    s,
                    case,
                    "closed" if closed else "open",
                    now=now,
                    note=remote.status_notes or f"311 status: {remote.status}",
                    external_status=remote.status or None,
                )
            else:
                s.add(case)
            if just_closed:
                case.closed_at = remote.updated_datetime or now
                audit(
                    s,
                    city_id=city.id,
                    actor=SYSTEM.username,
                    action="case.closed",
                    object_type="case",
                    object_id=case_id,
                    details={"open311_id": remote.service_request_id, "note": remote.status_notes},
                )
            s.commit()
        if just_closed:
            report.closed += 1
            self.desk.emit("closed", city.id, case_id)
