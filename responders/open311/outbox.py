"""The outbox: queued cases become Open311 requests, each exactly once.

A case is a row first and a network call second. One pass, per city:

1. **Reconcile** cases whose outcome is unknown (status ``filing``: the process died between
   the call and the commit, or the answer was lost to a timeout or a dropped connection).
   Each carries a reference (its idempotency key) in the description it sent; the outbox
   looks for it with ``GET requests.json``. Found: the case is filed with that id. Not found
   (and the server shows descriptions): the call never landed and the case is queued again.
   The server shows no descriptions: the case is held, so a person checks before anything
   is sent twice.
2. **File** queued cases that are due: claim them a few at a time (``queued`` -> ``filing``,
   attempts + 1, committed *before* the call; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so
   several workers take disjoint batches, a compare-and-set UPDATE everywhere), check the service map and required attributes, look for an
   open request of the same service nearby, then ``POST requests.json``.

When the server is down or slow the case goes back to ``queued`` with the error and a next
attempt time (exponential backoff with jitter, honouring ``Retry-After``, capped at an hour),
and the pass stops for that city. After ``cases_max_attempts`` the case is ``failed`` and
waits for a person. A refusal (400 with an error list) fails the case at once, in the
server's words.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from models.auth import SYSTEM
from models.store import POST, audit, lock_for_write
from models.tables import Post, ServiceRequest
from responders.open311.cases import (
    attach_post,
    description_to_send,
    same_place,
    set_status,
    window_start,
)
from responders.open311.client import NewRequest, Open311Client, RemoteRequest
from responders.open311.desk import CaseDesk, CityDesk
from responders.open311.errors import (
    Open311AuthFailed,
    Open311Error,
    Open311Refused,
    Open311Unavailable,
)
from responders.open311.mapping import PostFacts, fill_attributes

log = logging.getLogger(__name__)
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
LEASE = timedelta(minutes=10)  # a claim older than this belongs to a process that died
BATCH = 100  # cases filed (or checked) per city and pass
CLAIM_BATCH = 10  # cases claimed per transaction: small, so an outage releases few
CASES = ServiceRequest.__table__  # type: ignore[attr-defined]


@dataclass
class OutboxReport:
    filed: int = 0
    linked: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    reconciled: int = 0
    not_filed: int = 0
    errors: list[str] = field(default_factory=list)


class _StopCity(Exception):
    """The server is down or refuses our credentials: no more calls for this city now."""


def backoff_delay(
    attempts: int, retry_after: float | None = None, rand: Callable[[], float] = random.random
) -> float:
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    delay = ceiling * (0.5 + 0.5 * rand())
    return max(delay, retry_after or 0.0)


class Outbox:
    def __init__(self, desk: CaseDesk, *, rand: Callable[[], float] = random.random) -> None:
        self.desk = desk
        self.rand = rand

    @property
    def engine(self) -> sa.Engine:
        return self.desk.engine

    def run(self, *, city_ids: Collection[int] | None = None) -> OutboxReport:
        """One pass over every city (or only ``city_ids``): reconcile, then file what is due."""
        report = OutboxReport()
        for city in self.desk.cities.values():
            if city_ids is not None and city.id not in city_ids:
                continue
            try:
                self._release_not_live(city, report)
                if not city.live:
                    continue
                self._check_services(city)  # before anything else, once per process
                self._reconcile(city, report)
                self._file_due(city, report)
            except _StopCity as exc:
                report.errors.append(f"{city.info.slug}: {exc}")
        return report

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _due_where(city: CityDesk, status: str, now: datetime) -> list[sa.ColumnElement[bool]]:
        c = CASES.c
        conds: list[sa.ColumnElement[bool]] = [c.city_id == city.id, c.status == status]
        if status == "queued":
            conds.append(sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
        else:  # filing: outcome unknown and due, or claimed by a process that died
            conds.append(
                sa.or_(
                    sa.and_(c.next_attempt_at.is_not(None), c.next_attempt_at <= now),
                    sa.and_(c.next_attempt_at.is_(None), c.updated_at <= now - LEASE),
                )
            )
        return conds

    def _claim_batch(self, city: CityDesk, status: str, limit: int) -> list[int]:
        """Claim up to ``limit`` due cases for this process, in one short transaction.

        ``queued`` cases become ``filing`` (attempts + 1) before any call; ``filing`` cases
        (outcome unknown) are stamped as being checked. On PostgreSQL the due rows are read
        with ``FOR UPDATE SKIP LOCKED``, so workers take disjoint batches without waiting;
        on SQLite the transaction holds the single write lock. Either way the UPDATE repeats
        the due condition (compare and set), so a row is never claimed twice even without
        the lock. A claimed row is not due again until the lease runs out: a worker that
        dies leaves it to :meth:`_reconcile`, which asks the 311 server before filing again.
        """
        now = self.desk.now()
        c = CASES.c
        due = self._due_where(city, status, now)
        with self.engine.begin() as conn:
            lock_for_write(conn)
            q = sa.select(c.id).where(*due).order_by(c.id).limit(limit)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = list(conn.execute(q).scalars())
            if not ids:
                return []
            values: dict[str, Any] = {"next_attempt_at": None, "updated_at": now}
            if status == "queued":
                values.update(status="filing", attempts=c.attempts + 1)
            claimed = conn.execute(
                CASES.update().where(c.id.in_(ids), *due).values(**values).returning(c.id)
            ).scalars()
            return sorted(claimed)

    def _release(self, case_ids: list[int]) -> None:
        """Claimed cases this pass did not get to go back to ``queued``, untried."""
        if not case_ids:
            return
        c = CASES.c
        with self.engine.begin() as conn:
            conn.execute(
                CASES.update()
                .where(c.id.in_(case_ids), c.status == "filing")
                .values(status="queued", attempts=c.attempts - 1, updated_at=self.desk.now())
            )

    def _release_not_live(self, city: CityDesk, report: OutboxReport) -> None:
        """Queued cases of a city that no longer files (no URL, dry run) are kept locally."""
        if city.live:
            return
        now = self.desk.now()
        with Session(self.engine) as s:
            cases = s.exec(
                select(ServiceRequest).where(
                    ServiceRequest.city_id == city.id, ServiceRequest.status == "queued"
                )
            ).all()
            for case in cases:
                case.last_error = city.not_filed_reason()
                case.next_attempt_at = None
                set_status(s, case, "not_filed", now=now, note=case.last_error)
                report.not_filed += 1
            s.commit()

    def _retry_later(
        self, city: CityDesk, case_id: int, exc: Open311Error, *, status: str = "queued"
    ) -> bool:
        """Record a failed call; returns True when the case was failed for good."""
        now = self.desk.now()
        max_attempts = self.desk.settings.cases_max_attempts
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            case.last_error = str(exc)
            retry_after = exc.retry_after if isinstance(exc, Open311Unavailable) else None
            if case.attempts >= max_attempts and status == "queued":
                case.next_attempt_at = None
                set_status(
                    s,
                    case,
                    "failed",
                    now=now,
                    note=f"gave up after {case.attempts} attempts: {exc}",
                )
                gave_up = True
            else:
                case.next_attempt_at = now + timedelta(
                    seconds=backoff_delay(case.attempts, retry_after, self.rand)
                )
                set_status(s, case, status, now=now, note=f"attempt {case.attempts}: {exc}")
                gave_up = False
            s.commit()
        return gave_up

    def _fail(self, city: CityDesk, case_id: int, status: str, reason: str) -> None:
        now = self.desk.now()
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            case.last_error = reason
            case.next_attempt_at = None
            set_status(s, case, status, now=now, note=reason)
            s.commit()

    def _handle_error(
        self, city: CityDesk, case_id: int, exc: Open311Error, report: OutboxReport
    ) -> None:
        """Refusals fail the case; outages and credential problems retry and stop the city."""
        if isinstance(exc, Open311Refused):
            self._fail(city, case_id, "failed", str(exc))
            report.failed += 1
            log.warning("case %s refused by 311: %s", case_id, exc)
            return
        maybe_sent = isinstance(exc, Open311Unavailable) and exc.maybe_sent
        gave_up = self._retry_later(city, case_id, exc, status="filing" if maybe_sent else "queued")
        report.failed += int(gave_up)
        report.retried += int(not gave_up)
        if isinstance(exc, Open311AuthFailed):
            log.error("311 for %s refused our credentials: %s", city.name, exc)
        else:
            log.warning(
                "311 for %s unavailable, case %s retries later: %s", city.name, case_id, exc
            )
        raise _StopCity(str(exc)) from exc

    # ------------------------------------------------------------------ reconcile

    def _reconcile(self, city: CityDesk, report: OutboxReport) -> None:
        """Check cases whose outcome is unknown, claimed a few at a time like filing."""
        client = self.desk.client(city)
        done = 0
        while done < BATCH:
            claimed = self._claim_batch(city, "filing", min(CLAIM_BATCH, BATCH - done))
            if not claimed:
                return
            done += len(claimed)
            try:
                while claimed:
                    self._reconcile_one(city, client, claimed.pop(0), report)
            finally:
                if claimed:  # the city stopped before their turn: due again at once
                    with self.engine.begin() as conn:
                        conn.execute(
                            CASES.update()
                            .where(CASES.c.id.in_(claimed), CASES.c.status == "filing")
                            .values(next_attempt_at=self.desk.now())
                        )

    def _reconcile_one(
        self, city: CityDesk, client: Open311Client, case_id: int, report: OutboxReport
    ) -> None:
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            code, key = case.service_code, case.idempotency_key
            since = case.created_at - timedelta(hours=1)
        try:
            found = client.requests(service_code=code, start_date=since)
        except Open311Error as exc:
            self._retry_later(city, case_id, exc, status="filing")
            raise _StopCity(str(exc)) from exc
        match = next((r for r in found if r.description and key in r.description), None)
        if match is not None:
            self._mark_filed(
                city,
                case_id,
                match.service_request_id,
                None,
                report,
                note=("the 311 server had received it before the answer was lost"),
            )
            report.reconciled += 1
            return
        if found and all(r.description is None for r in found):
            self._fail(
                city,
                case_id,
                "held",
                "the answer to filing this case was lost and the 311 server does not show "
                "request descriptions, so it cannot be confirmed: check the 311 system "
                "before filing it again",
            )
            report.held += 1
            return
        now = self.desk.now()
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            case.next_attempt_at = now
            set_status(s, case, "queued", now=now, note="not found on the 311 server: filing again")
            s.commit()
        report.reconciled += 1

    # ------------------------------------------------------------------ file

    def _check_services(self, city: CityDesk) -> None:
        if city.services_map.offered is not None:
            return
        client = self.desk.client(city)
        try:
            city.unknown_codes = city.services_map.check(client.services())
        except Open311Error as exc:
            raise _StopCity(f"could not read the service list: {exc}") from exc
        if city.unknown_codes:
            log.warning(
                "311 for %s does not offer the mapped service codes %s; their cases are held",
                city.name,
                ", ".join(city.unknown_codes),
            )

    def _file_due(self, city: CityDesk, report: OutboxReport) -> None:
        """File due cases, claimed :data:`CLAIM_BATCH` at a time, up to :data:`BATCH` a pass."""
        done = 0
        while done < BATCH:
            claimed = self._claim_batch(city, "queued", min(CLAIM_BATCH, BATCH - done))
            if not claimed:
                return
            done += len(claimed)
            try:
                while claimed:
                    case_id = claimed.pop(0)
                    try:
                        self._file_one(city, case_id, report)
                    except Open311Error as exc:
                        self._handle_error(city, case_id, exc, report)
            finally:
                self._release(claimed)  # the city stopped (outage) before their turn

    def _file_one(self, city: CityDesk, case_id: int, report: OutboxReport) -> None:
        client = self.desk.client(city)
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            post = s.get(Post, case.post_id) if case.post_id else None
            code = case.service_code
            facts = PostFacts(
                text=post.text if post else case.description,
                platform=post.platform if post else "",
                url=post.url if post else None,
                created_at=post.created_at if post else None,
                location_text=post.location_text if post else case.address_string,
                neighborhood=post.neighborhood if post else None,
            )
            given = dict(case.attributes or {})
            if not city.services_map.is_offered(code):
                reason = (
                    f"the 311 server does not offer service code {code}: choose another "
                    "service, or fix the city's service_codes"
                )
                s.rollback()
                self._fail(city, case_id, "held", reason)
                report.held += 1
                return
        service = (city.services_map.offered or {}).get(code)
        attributes = given
        if service is not None and service.metadata:
            if code not in city.definitions:
                city.definitions[code] = client.service_definition(code)
            attributes, missing = fill_attributes(city.definitions[code], facts, given)
            if missing:
                names = "; ".join(f"{a.code} ({a.description or a.datatype})" for a in missing)
                self._fail(
                    city,
                    case_id,
                    "held",
                    f"service {code} requires information the post does not give: {names}. "
                    "Fill it in on the Cases page and file again",
                )
                report.held += 1
                return
        if self._link_remote_duplicate(city, case_id, report):
            return
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            request = NewRequest(
                service_code=code,
                description=description_to_send(case),
                lat=case.lat,
                lon=case.lon,
                address_string=case.address_string,
                media_url=case.media_url,
                attributes=attributes,
            )
        if request.lat is None and not request.address_string:
            self._fail(city, case_id, "held", "no location: add an address or coordinates")
            report.held += 1
            return
        receipt = client.create_request(request)
        self._mark_filed(
            city,
            case_id,
            receipt.service_request_id,
            receipt.token,
            report,
            note=receipt.service_notice,
            attributes=attributes,
        )

    def _mark_filed(
        self,
        city: CityDesk,
        case_id: int,
        request_id: str | None,
        token: str | None,
        report: OutboxReport,
        *,
        note: str | None = None,
        attributes: dict | None = None,
    ) -> None:
        now = self.desk.now()
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            case.open311_id = request_id
            case.token = token
            case.filed_at = now
            case.last_error = None
            case.next_attempt_at = None
            if attributes:
                case.attributes = attributes
            label = f"filed as 311 request {request_id}" if request_id else f"filed (token {token})"
            set_status(s, case, "filed", now=now, note=f"{label}. {note}" if note else label)
            audit(
                s,
                city_id=city.id,
                actor=SYSTEM.username,
                action="case.filed",
                object_type="case",
                object_id=case_id,
                details={"open311_id": request_id, "token": token, "attempts": case.attempts},
            )
            s.commit()
        report.filed += 1
        self.desk.emit("filed", city.id, case_id)

    # ------------------------------------------------------------------ remote duplicates

    def _link_remote_duplicate(self, city: CityDesk, case_id: int, report: OutboxReport) -> bool:
        """An open request of the same service nearby on the 311 server: link to it."""
        settings = self.desk.settings
        now = self.desk.now()
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            code, lat, lon, addr = case.service_code, case.lat, case.lon, case.address_string
        if lat is None and not addr:
            return False
        found = self.desk.client(city).requests(
            service_code=code,
            status="open",
            start_date=window_start(now, settings.cases_duplicate_window_hours),
        )
        match: RemoteRequest | None = next(
            (
                r
                for r in found
                if r.status != "closed"
                and same_place(
                    lat,
                    lon,
                    addr,
                    r.lat,
                    r.lon,
                    r.address,
                    settings.cases_duplicate_radius_meters,
                )
            ),
            None,
        )
        if match is None:
            return False
        target_id = self._link_to_remote(city, case_id, match)
        report.linked += 1
        self.desk.emit("linked", city.id, target_id)
        return True

    def _link_to_remote(self, city: CityDesk, case_id: int, remote: RemoteRequest) -> int:
        now = self.desk.now()
        rid = remote.service_request_id
        with Session(self.engine) as s:
            case = s.get(ServiceRequest, case_id)
            assert case is not None
            known = s.exec(
                select(ServiceRequest).where(
                    ServiceRequest.city_id == city.id,
                    ServiceRequest.open311_id == rid,
                    ServiceRequest.id != case_id,
                )
            ).first()
            if known is not None and known.id is not None:
                # another case already follows that request: this one merges into it
                case.duplicate_of_id = known.id
                case.next_attempt_at = None
                set_status(s, case, "duplicate", now=now, note=f"same as 311 request {rid}")
                s.execute(
                    POST.update()
                    .where(POST.c.city_id == city.id, POST.c.case_id == case_id)
                    .values(case_id=known.id)
                )
                if case.post_id:
                    attach_post(s, city_id=city.id, post_id=case.post_id, case_id=known.id)
                target = known.id
            else:
                case.open311_id = rid
                case.next_attempt_at = None
                case.last_error = None
                set_status(
                    s,
                    case,
                    "open",
                    now=now,
                    note=f"linked to 311 request {rid}, already open nearby; not filed again",
                    external_status=remote.status or "open",
                )
                target = case_id
            audit(
                s,
                city_id=city.id,
                actor=SYSTEM.username,
                action="case.link",
                object_type="case",
                object_id=target,
                details={"open311_id": rid, "case_id": case_id, "reason": "open nearby on 311"},
            )
            s.commit()
        return target
