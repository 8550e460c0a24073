"""The case desk: one object per built ``Services`` that knows, for each city, where it files,
its service map and its client, and that runs triage after labelling.

Clients are made on first use, so building the services never touches the network; the
service map is checked against the server's ``services.json`` before a city's first filing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from models import bulk
from models.auth import SYSTEM
from models.store import POST
from models.tables import AuditEvent
from responders.open311.auth import BearerTokenAuth
from responders.open311.cases import (
    CASES,
    EVENTS,
    DuplicateIndex,
    PostInfo,
    Where,
    describe,
    load_posts,
    new_key,
    where_of,
    window_start,
)
from responders.open311.client import Attribute, Open311Client
from responders.open311.config import (
    Endpoint,
    endpoint_for,
    filing_is_live,
    make_bearer,
    make_client,
)
from responders.open311.mapping import ServiceMap
from responders.open311.triage import PostLabels, TriageRules, decide, rules_for

if TYPE_CHECKING:
    from civic_listener.cities import CityInfo
    from civic_listener.wiring import Services

log = logging.getLogger(__name__)
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]


@dataclass
class CityDesk:
    info: CityInfo
    endpoint: Endpoint | None
    live: bool
    services_map: ServiceMap
    client: Open311Client | None = None
    bearer: BearerTokenAuth | None = None
    fmt: str | None = None  # "json" or "xml", once the server has shown which it speaks
    definitions: dict[str, list[Attribute]] = field(default_factory=dict)
    unknown_codes: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.settings.name

    def not_filed_reason(self) -> str:
        if self.endpoint is None:
            return "no Open311 URL is configured for this city: kept locally, not filed"
        return "dry run: would have been filed (set dry_run = false or cases_auto_file = true)"


class CaseDesk:
    """Triage, drafting and filing for every city of one ``Services``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.engine = services.engine
        self.rules = TriageRules.from_settings(services.settings)
        self.cities: dict[int, CityDesk] = {}
        for info in services.cities:
            endpoint = endpoint_for(services.settings, info)
            self.cities[info.id] = CityDesk(
                info=info,
                endpoint=endpoint,
                live=filing_is_live(services.settings, endpoint),
                services_map=ServiceMap.for_city(info.settings.service_codes),
            )

    def now(self) -> datetime:
        return self.services.clock()

    def city(self, city_id: int) -> CityDesk:
        try:
            return self.cities[city_id]
        except KeyError:
            raise LookupError(f"unknown city id {city_id}") from None

    def client(self, city: CityDesk) -> Open311Client:
        if city.client is None:
            assert city.endpoint is not None
            transports = self.services.transports
            transport = transports.get(f"open311:{city.info.slug}") or transports.get("open311")
            if city.bearer is None:
                city.bearer = make_bearer(city.endpoint, clock=self.services.clock)
            city.client = make_client(city.endpoint, transport=transport, bearer=city.bearer)
            city.client.fmt = city.fmt
        return city.client

    def close_clients(self) -> None:
        """Close the HTTP clients (after each job run); tokens and the service map stay."""
        for city in self.cities.values():
            if city.client is not None:
                city.fmt = city.client.fmt
                city.client.close()
                city.client = None

    # ------------------------------------------------------------------ triage

    def labels_of(self, post: PostInfo, where: Where) -> PostLabels:
        return PostLabels(
            topic=post.topic,
            topic_score=post.topic_score,
            urgency=post.urgency,
            relevant=post.relevant,
            needs_review=post.needs_review,
            has_location=where.specific,
        )

    def triage(self, city_id: int, post_ids: Sequence[int]) -> dict[str, int]:
        """The after-classify hook: decide for each newly labelled post; returns counts.

        Runs in one transaction per batch with Core statements: a batch of a thousand posts
        costs a few statements per new case, not an ORM round trip per row.
        """
        city = self.city(city_id)
        # read each batch: a rule an admin changed in the console applies without a restart
        rules = rules_for(self.engine, self.settings, city_id=city_id)
        counts = {"surface": 0, "skip": 0, "auto": 0, "review": 0, "linked": 0}
        now = self.now()
        since = window_start(now, self.settings.cases_duplicate_window_hours)
        system = SYSTEM.username
        links: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        linked: list[int] = []
        new_cases: list[dict[str, Any]] = []

        def audit_row(action: str, object_type: str, object_id: int, details: dict) -> None:
            audits.append(
                {
                    "city_id": city_id,
                    "at": now,
                    "actor": system,
                    "action": action,
                    "object_type": object_type,
                    "object_id": str(object_id),
                    "details": details,
                }
            )

        with self.engine.begin() as conn:
            posts = [
                p
                for p in load_posts(conn, city_id=city_id, post_ids=post_ids)
                if not p.deleted and p.case_id is None
            ]
            codes = {p.id: city.services_map.code_for(p.topic, p.text) for p in posts}
            nearby = DuplicateIndex.load(
                conn,
                city_id=city_id,
                codes=[c for c in codes.values() if c],
                since=since,
                radius_m=self.settings.cases_duplicate_radius_meters,
            )
            for post in posts:
                where = where_of(post, city.name)
                code = codes[post.id]
                decision = decide(rules, self.labels_of(post, where), code)
                counts[decision.action] += 1
                if decision.action == "surface":
                    log.warning(
                        "emergency post %s in %s: surfaced for a person", post.id, city.name
                    )
                    audit_row(
                        "case.emergency_surfaced",
                        "post",
                        post.id,
                        {"topic": post.topic, "reason": decision.reason},
                    )
                    continue
                if decision.action == "skip" or code is None:
                    continue
                dup = nearby.find(code, where)
                if dup is not None:
                    links.append({"b_post": post.id, "b_case": dup})
                    audit_row(
                        "case.link",
                        "case",
                        dup,
                        {"post_id": post.id, "reason": "same service and place"},
                    )
                    counts["linked"] += 1
                    linked.append(dup)
                    continue
                if decision.action == "auto":
                    status = "queued" if city.live else "not_filed"
                    reason = None if city.live else city.not_filed_reason()
                else:
                    status, reason = "pending", f"waits for a person: {decision.reason}"
                # new cases get a temporary (negative) id until the batch insert below
                temp_id = -(len(new_cases) + 1)
                new_cases.append(
                    {
                        "city_id": city_id,
                        "post_id": post.id,
                        "service_code": code,
                        "service_name": city.services_map.name_of(code),
                        "description": describe(post),
                        "lat": where.lat,
                        "lon": where.lon,
                        "address_string": where.address_string,
                        "status": status,
                        "idempotency_key": new_key(),
                        "last_error": reason,
                        "next_attempt_at": now if status == "queued" else None,
                        "created_by": system,
                        "created_at": now,
                        "updated_at": now,
                        "attempts": 0,
                    }
                )
                nearby.add(temp_id, code, where.lat, where.lon, where.address_string)
                links.append({"b_post": post.id, "b_case": temp_id})
                events.append(
                    {
                        "city_id": city_id,
                        "case_id": temp_id,
                        "at": now,
                        "status": status,
                        "note": reason or "case opened",
                        "actor": system,
                    }
                )
                audit_row(
                    "case.queue" if decision.action == "auto" else "case.draft",
                    "case",
                    temp_id,
                    {"post_id": post.id, "service_code": code, "status": status},
                )
            real = self._insert_cases(conn, new_cases)
            for row in links:
                row["b_case"] = real.get(row["b_case"], row["b_case"])
            for row in events:
                row["case_id"] = real[row["case_id"]]
            for row in audits:
                oid = int(row["object_id"])
                if row["object_type"] == "case" and oid < 0:
                    row["object_id"] = str(real[oid])
            linked = [real.get(i, i) for i in linked]
            if links:
                conn.execute(
                    POST.update()
                    .where(POST.c.id == sa.bindparam("b_post"), POST.c.city_id == city_id)
                    .values(case_id=sa.bindparam("b_case")),
                    links,
                )
            bulk.insert_dicts(conn, EVENTS, events)
            bulk.insert_dicts(conn, AUDIT, audits)
        self.emit_many("linked", city_id, linked)
        return counts

    @staticmethod
    def _insert_cases(conn: sa.Connection, rows: list[dict[str, Any]]) -> dict[int, int]:
        """Insert new cases in one statement; maps each temporary id (-1, -2, ...) to its id."""
        if not rows:
            return {}
        # mapped back by idempotency key: no per-row ordering needed, so the rows go in
        # multi-row statements (a RETURNING in parameter order is one statement a row on SQLite)
        stmt = CASES.insert().returning(CASES.c.id, CASES.c.idempotency_key)
        ids = {key: cid for cid, key in conn.execute(stmt, rows)}
        return {-(i + 1): ids[row["idempotency_key"]] for i, row in enumerate(rows)}

    def emit_many(self, event: str, city_id: int, case_ids: Sequence[int]) -> None:
        """Tell subscribers about several cases at once (one call per batch subscriber).

        When the batch fails, each case is delivered on its own, so one bad case does not
        keep the others from their replies; failures are only logged.
        """
        if not case_ids:
            return
        try:
            self.services.emit_case_events(event, city_id, case_ids)
        except Exception:
            log.exception(
                "a %s hook for cases %s failed; delivering one at a time", event, case_ids
            )
            for case_id in dict.fromkeys(case_ids):
                self.emit(event, city_id, case_id)

    def emit(self, event: str, city_id: int, case_id: int) -> None:
        """Tell subscribers (the reply workflow) about a case; their failure is only logged."""
        try:
            self.services.emit_case_event(event, city_id, case_id)
        except Exception:
            log.exception("a %s hook for case %s failed", event, case_id)
