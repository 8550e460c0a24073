"""Cases as rows: drafting a case from a post, creating it, moving it between statuses with a
history entry for each step, linking posts, and finding local duplicates.

Statuses (``ServiceRequest.status``)::

    pending ─► queued ─► filing ─► filed ─► open ─► closed
       │          │         └─► (outcome unknown: checked against 311 before any new call)
       │          ├─► held        a person must act (missing attribute, unknown service code)
       │          └─► failed      refused by 311, or too many failed attempts
       ├─► not_filed              no Open311 endpoint, or dry run: kept locally
       ├─► dismissed              a person decided it is not a case
       └─► duplicate              merged into another case (``duplicate_of_id``)

Every function takes the city it works for and the session (or connection) of the caller's
transaction, so a status change and its history entry commit together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from models.store import CLASSIFICATION, POST
from models.tables import CaseEvent, Post, ServiceRequest
from responders.open311.client import MAX_DESCRIPTION, clean_description

OPEN_STATUSES = ("pending", "queued", "filing", "filed", "open", "held", "not_filed", "failed")
WAITING_FOR_PERSON = ("pending", "held", "failed", "not_filed")
SPECIFIC_KINDS = ("coordinates", "address", "intersection", "landmark")
CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
EVENTS = CaseEvent.__table__  # type: ignore[attr-defined]
PLATFORM_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "reddit": "Reddit"}
EARTH_RADIUS_M = 6_371_000.0


class CaseActionError(Exception):
    """A case action that cannot be done as asked; the message says why in plain words."""


@dataclass(slots=True)
class PostInfo:
    """A post as triage and drafting see it: labels, place, and its current case."""

    id: int
    city_id: int
    platform: str
    author: str
    text: str
    url: str | None
    created_at: datetime
    lat: float | None
    lon: float | None
    topic: str | None
    topic_score: float
    urgency: str | None
    relevant: bool | None
    needs_review: bool
    case_id: int | None
    location_text: str | None
    neighborhood: str | None
    deleted: bool
    locations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Where:
    lat: float | None = None
    lon: float | None = None
    address_string: str | None = None
    specific: bool = False  # coordinates, an address, an intersection or a landmark


# what triage reads of a post (not the raw payload: decoding it would cost more than triage)
_POST_INFO_COLUMNS = (
    "id",
    "platform",
    "author",
    "text",
    "url",
    "created_at",
    "lat",
    "lon",
    "topic",
    "urgency",
    "relevant",
    "needs_review",
    "case_id",
    "location_text",
    "neighborhood",
    "deleted_at",
)


def load_posts(conn: Connection, *, city_id: int, post_ids: Sequence[int]) -> list[PostInfo]:
    """The posts with their newest topic score and location evidence (human labels included)."""
    out: list[PostInfo] = []
    c = POST.c
    for i in range(0, len(post_ids), 500):
        chunk = list(post_ids[i : i + 500])
        rows = conn.execute(
            sa.select(*(c[name] for name in _POST_INFO_COLUMNS))
            .where(c.city_id == city_id, c.id.in_(chunk))
            .order_by(c.id)
        ).all()
        if not rows:
            continue
        labels: dict[tuple[int, str], Any] = {}
        for row in conn.execute(
            sa.select(
                CLASSIFICATION.c.post_id,
                CLASSIFICATION.c.task,
                CLASSIFICATION.c.score,
                # only a location's evidence is used: the topic's is not decoded
                sa.case(
                    (CLASSIFICATION.c.task == "location", CLASSIFICATION.c.evidence),
                    else_=sa.null(),
                ).label("evidence"),
            )
            .where(
                CLASSIFICATION.c.city_id == city_id,
                CLASSIFICATION.c.post_id.in_(chunk),
                CLASSIFICATION.c.task.in_(("topic", "location")),
            )
            .order_by(CLASSIFICATION.c.id)
        ):
            labels[(row.post_id, row.task)] = row  # the newest wins
        for r in rows:
            m = r._mapping
            topic_row = labels.get((m["id"], "topic"))
            loc_row = labels.get((m["id"], "location"))
            evidence = loc_row.evidence if loc_row is not None else None
            out.append(
                PostInfo(
                    id=m["id"],
                    city_id=city_id,
                    platform=m["platform"],
                    author=m["author"] or "",
                    text=m["text"] or "",
                    url=m["url"],
                    created_at=m["created_at"],
                    lat=m["lat"],
                    lon=m["lon"],
                    topic=m["topic"],
                    topic_score=float(topic_row.score) if topic_row is not None else 0.0,
                    urgency=m["urgency"],
                    relevant=m["relevant"],
                    needs_review=bool(m["needs_review"]),
                    case_id=m["case_id"],
                    location_text=m["location_text"],
                    neighborhood=m["neighborhood"],
                    deleted=m["deleted_at"] is not None,
                    locations=[e for e in evidence if isinstance(e, dict)]
                    if isinstance(evidence, list)
                    else [],
                )
            )
    return out


def where_of(post: PostInfo, city_name: str) -> Where:
    """The place to file at: the post's own coordinates, else the best place it names."""
    address = None
    for loc in post.locations:
        if loc.get("kind") in ("address", "intersection", "landmark", "street") and loc.get("text"):
            address = f"{loc['text']}, {city_name}"
            break
    if post.lat is not None and post.lon is not None:
        return Where(post.lat, post.lon, address, True)
    for loc in post.locations:
        if loc.get("kind") in SPECIFIC_KINDS and loc.get("lat") is not None:
            return Where(float(loc["lat"]), float(loc["lon"]), address, True)
    for loc in post.locations:
        if loc.get("kind") in SPECIFIC_KINDS and loc.get("text"):
            return Where(None, None, address or f"{loc['text']}, {city_name}", True)
    if address:  # a street without a number or a cross street: a person should confirm
        return Where(None, None, address, False)
    if post.neighborhood:
        return Where(None, None, f"{post.neighborhood}, {city_name}", False)
    return Where()


def describe(post: PostInfo) -> str:
    """The request description: the resident's words, where they were posted, and the link."""
    platform = PLATFORM_NAMES.get(post.platform, post.platform)
    who = f"@{post.author.lstrip('@')}" if post.author else "a resident"
    tail = [f"Reported by {who} on {platform}: {post.url or f'post {post.id}'}"]
    if post.location_text:
        place = post.location_text
        if post.neighborhood and post.neighborhood not in place:
            place += f" ({post.neighborhood})"
        tail.append(f"Location mentioned: {place}")
    footer = "\n".join(tail)
    text = " ".join(clean_description(post.text).split())
    room = MAX_DESCRIPTION - len(footer) - 200  # leave room for the reference line
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return f"{text}\n\n{footer}"


def reference_line(case: ServiceRequest) -> str:
    return f"Civic Listener reference: {case.idempotency_key}"


def description_to_send(case: ServiceRequest) -> str:
    """The stored description plus the reference that lets the outbox find a lost answer."""
    ref = reference_line(case)
    body = clean_description(case.description)
    room = MAX_DESCRIPTION - len(ref) - 3
    if len(body) > room:
        body = body[: room - 1] + "…"
    return f"{body}\n\n{ref}"


def new_key() -> str:
    return f"cl-{uuid4().hex[:20]}"


def add_event(
    s: Session,
    case: ServiceRequest,
    status: str,
    *,
    now: datetime,
    actor: str = "system",
    note: str | None = None,
    external_status: str | None = None,
) -> None:
    assert case.id is not None
    s.add(
        CaseEvent(
            city_id=case.city_id,
            case_id=case.id,
            at=now,
            status=status,
            external_status=external_status,
            note=note,
            actor=actor,
        )
    )


def set_status(
    s: Session,
    case: ServiceRequest,
    status: str,
    *,
    now: datetime,
    actor: str = "system",
    note: str | None = None,
    external_status: str | None = None,
) -> None:
    """Change a case's status and record the step in its history."""
    case.status = status
    case.updated_at = now
    if external_status is not None:
        case.external_status = external_status
    s.add(case)
    s.flush()
    add_event(s, case, status, now=now, actor=actor, note=note, external_status=external_status)


def create_case(
    s: Session,
    *,
    city_id: int,
    post_id: int | None,
    service_code: str,
    description: str,
    where: Where,
    status: str,
    now: datetime,
    actor: str,
    reason: str | None = None,
    service_name: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> ServiceRequest:
    """A new case row; links the post to it when the post has no case yet."""
    case = ServiceRequest(
        city_id=city_id,
        post_id=post_id,
        service_code=service_code,
        service_name=service_name,
        description=description,
        lat=where.lat,
        lon=where.lon,
        address_string=where.address_string,
        attributes=attributes or None,
        status=status,
        idempotency_key=new_key(),
        last_error=reason,
        next_attempt_at=now if status == "queued" else None,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    s.add(case)
    s.flush()
    add_event(s, case, status, now=now, actor=actor, note=reason or "case opened")
    if post_id is not None:
        attach_post(s, city_id=city_id, post_id=post_id, case_id=case.id)  # type: ignore[arg-type]
    return case


def attach_post(s: Session, *, city_id: int, post_id: int, case_id: int) -> None:
    s.execute(
        POST.update().where(POST.c.id == post_id, POST.c.city_id == city_id).values(case_id=case_id)
    )


def get_case(s: Session, *, city_id: int, case_id: int) -> ServiceRequest:
    case = s.get(ServiceRequest, case_id)
    if case is None or case.city_id != city_id:
        raise CaseActionError(f"there is no case {case_id} in this city")
    return case


def get_post(s: Session, *, city_id: int, post_id: int) -> Post:
    post = s.get(Post, post_id)
    if post is None or post.city_id != city_id:
        raise CaseActionError(f"there is no post {post_id} in this city")
    return post


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


_NORM = re.compile(r"[^a-z0-9]+")


def same_address(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return _NORM.sub(" ", a.lower()).strip() == _NORM.sub(" ", b.lower()).strip()


def same_place(
    lat: float | None,
    lon: float | None,
    address: str | None,
    other_lat: float | None,
    other_lon: float | None,
    other_address: str | None,
    radius_m: float,
) -> bool:
    if None not in (lat, lon, other_lat, other_lon):
        return distance_m(lat, lon, other_lat, other_lon) <= radius_m  # type: ignore[arg-type]
    return same_address(address, other_address)


class DuplicateIndex:
    """Open cases of a city in a grid of cells about ``radius_m`` wide, and by address, so
    that a batch of posts finds its duplicates without one query per post."""

    def __init__(self, radius_m: float) -> None:
        self.radius_m = radius_m
        self.cell = max(radius_m, 1.0) / 111_000.0
        self.grid: dict[tuple[str, int, int], list[tuple[int, float, float]]] = {}
        self.addresses: dict[tuple[str, str], int] = {}

    def _key(self, lat: float, lon: float) -> tuple[int, int]:
        return (
            math.floor(lat / self.cell),
            math.floor(lon * math.cos(math.radians(lat)) / self.cell),
        )

    def add(
        self, case_id: int, code: str, lat: float | None, lon: float | None, address: str | None
    ) -> None:
        if lat is not None and lon is not None:
            y, x = self._key(lat, lon)
            self.grid.setdefault((code, y, x), []).append((case_id, lat, lon))
        if address:
            self.addresses.setdefault((code, _NORM.sub(" ", address.lower()).strip()), case_id)

    def find(self, code: str, where: Where) -> int | None:
        if not where.specific:
            return None
        if where.lat is not None and where.lon is not None:
            y, x = self._key(where.lat, where.lon)
            best: tuple[int, float] | None = None
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    for case_id, lat, lon in self.grid.get((code, y + dy, x + dx), ()):
                        d = distance_m(where.lat, where.lon, lat, lon)
                        if d <= self.radius_m and (best is None or case_id < best[0]):
                            best = (case_id, d)
            return best[0] if best else None
        if where.address_string:
            return self.addresses.get((code, _NORM.sub(" ", where.address_string.lower()).strip()))
        return None

    @classmethod
    def load(
        cls,
        conn: Connection,
        *,
        city_id: int,
        codes: Sequence[str],
        since: datetime,
        radius_m: float,
    ) -> DuplicateIndex:
        """The city's open cases of these services opened since ``since``."""
        index = cls(radius_m)
        if not codes:
            return index
        c = CASES.c
        q = sa.select(c.id, c.service_code, c.lat, c.lon, c.address_string).where(
            c.city_id == city_id,
            c.service_code.in_(sorted(set(codes))),
            c.status.in_(OPEN_STATUSES),
            c.created_at >= since,
        )
        for row in conn.execute(q.order_by(c.id)):
            index.add(row.id, row.service_code, row.lat, row.lon, row.address_string)
        return index


def window_start(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)
