"""What a person does with cases from the console: file, edit, link, dismiss, retry.

Each action checks the actor's permission in the city first (``models.auth.require``) and
writes an audit event with the change, in the same transaction. Automatic filing never comes
through here: it acts as ``models.auth.SYSTEM`` under the triage rules (``desk.triage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from models.auth import Actor, require
from models.store import audit
from models.tables import ServiceRequest
from responders.open311.cases import (
    WAITING_FOR_PERSON,
    CaseActionError,
    Where,
    attach_post,
    create_case,
    describe,
    get_case,
    get_post,
    load_posts,
    set_status,
    where_of,
)
from responders.open311.desk import CaseDesk


@dataclass(slots=True)
class CaseDraft:
    """The prefilled, editable fields of "file a case" on a post."""

    post_id: int
    service_code: str
    description: str
    lat: float | None
    lon: float | None
    address_string: str | None
    emergency: bool
    existing_case_id: int | None
    service_codes: dict[str, str]  # code -> name, for the picker


def draft_for_post(desk: CaseDesk, *, city_id: int, post_id: int) -> CaseDraft:
    """Service, description and location as triage would file them, for a person to edit."""
    city = desk.city(city_id)
    with desk.engine.connect() as conn:
        posts = load_posts(conn, city_id=city_id, post_ids=[post_id])
    if not posts:
        raise CaseActionError(f"there is no post {post_id} in this city")
    post = posts[0]
    where = where_of(post, city.name)
    existing = None
    if post.case_id is not None:
        with Session(desk.engine) as s:
            case = s.get(ServiceRequest, post.case_id)
            if case is not None and case.post_id == post_id and case.city_id == city_id:
                existing = case
    smap = city.services_map
    codes = {code: smap.name_of(code) or "" for code in sorted(smap.all_codes())}
    for code, svc in (smap.offered or {}).items():
        codes.setdefault(code, svc.name)
    if existing is not None and existing.status in WAITING_FOR_PERSON:
        return CaseDraft(
            post_id=post_id,
            service_code=existing.service_code,
            description=existing.description,
            lat=existing.lat,
            lon=existing.lon,
            address_string=existing.address_string,
            emergency=post.urgency == "emergency",
            existing_case_id=existing.id,
            service_codes=codes,
        )
    return CaseDraft(
        post_id=post_id,
        service_code=smap.code_for(post.topic, post.text) or smap.codes.get("other_service", ""),
        description=describe(post),
        lat=where.lat,
        lon=where.lon,
        address_string=where.address_string,
        emergency=post.urgency == "emergency",
        existing_case_id=None,
        service_codes=codes,
    )


def file_case(
    desk: CaseDesk,
    actor: Actor,
    *,
    city_id: int,
    post_id: int | None,
    service_code: str,
    description: str,
    lat: float | None = None,
    lon: float | None = None,
    address_string: str | None = None,
    attributes: dict[str, Any] | None = None,
    case_id: int | None = None,
) -> int:
    """A person files a case (new, or one waiting for a person). Returns the case id.

    The case goes to the outbox when the city files for real, else it is kept as not filed.
    """
    require(actor, city_id, "case.file")
    city = desk.city(city_id)
    service_code = service_code.strip()
    if not service_code:
        raise CaseActionError("choose a service")
    if not description.strip():
        raise CaseActionError("a case needs a description")
    if lat is None and lon is None and not (address_string or "").strip():
        raise CaseActionError("a case needs a location: coordinates or an address")
    if (lat is None) != (lon is None):
        raise CaseActionError("give both latitude and longitude, or neither")
    now = desk.now()
    status = "queued" if city.live else "not_filed"
    reason = None if city.live else city.not_filed_reason()
    where = Where(lat, lon, (address_string or "").strip() or None, True)
    with Session(desk.engine) as s:
        if post_id is not None:
            post = get_post(s, city_id=city_id, post_id=post_id)
            if post.urgency == "emergency":
                raise CaseActionError(
                    "an emergency is never filed as a 311 request: it needs 911 or a person "
                    "now. Correct the urgency label first if it is not an emergency"
                )
            if case_id is None and post.case_id is not None:
                own = s.get(ServiceRequest, post.case_id)
                if own is not None and own.post_id == post_id and own.city_id == city_id:
                    if own.status in WAITING_FOR_PERSON:
                        case_id = own.id
                    elif own.status not in ("dismissed", "duplicate", "closed"):
                        raise CaseActionError(f"this post already has case {own.id} ({own.status})")
        if case_id is not None:
            case = get_case(s, city_id=city_id, case_id=case_id)
            if case.status not in WAITING_FOR_PERSON:
                raise CaseActionError(f"case {case_id} is {case.status}: it cannot be filed again")
            case.service_code = service_code
            case.service_name = city.services_map.name_of(service_code)
            case.description = description
            case.lat, case.lon, case.address_string = where.lat, where.lon, where.address_string
            if attributes is not None:
                case.attributes = attributes or None
            case.attempts = 0
            case.last_error = reason
            case.next_attempt_at = now if status == "queued" else None
            set_status(s, case, status, now=now, actor=actor.username, note="filed by a person")
        else:
            case = create_case(
                s,
                city_id=city_id,
                post_id=post_id,
                service_code=service_code,
                description=description,
                where=where,
                status=status,
                now=now,
                actor=actor.username,
                reason=reason,
                service_name=city.services_map.name_of(service_code),
                attributes=attributes,
            )
        assert case.id is not None
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="case.file",
            object_type="case",
            object_id=case.id,
            details={"post_id": post_id, "service_code": service_code, "status": status},
        )
        s.commit()
        return case.id


def link_post(desk: CaseDesk, actor: Actor, *, city_id: int, post_id: int, case_id: int) -> None:
    """Link a post to an existing case (the same problem); its own waiting case is merged."""
    require(actor, city_id, "case.link")
    now = desk.now()
    with Session(desk.engine) as s:
        post = get_post(s, city_id=city_id, post_id=post_id)
        target = get_case(s, city_id=city_id, case_id=case_id)
        if target.status in ("dismissed", "duplicate"):
            raise CaseActionError(f"case {case_id} is {target.status}: link to another case")
        if post.case_id == case_id:
            return
        if post.case_id is not None:
            own = s.get(ServiceRequest, post.case_id)
            if (
                own is not None
                and own.post_id == post_id
                and own.city_id == city_id
                and own.status in WAITING_FOR_PERSON
            ):
                own.duplicate_of_id = case_id
                own.next_attempt_at = None
                set_status(
                    s,
                    own,
                    "duplicate",
                    now=now,
                    actor=actor.username,
                    note=f"same as case {case_id}",
                )
        attach_post(s, city_id=city_id, post_id=post_id, case_id=case_id)
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="case.link",
            object_type="case",
            object_id=case_id,
            details={"post_id": post_id},
        )
        s.commit()
    desk.emit("linked", city_id, case_id)


def dismiss_case(
    desk: CaseDesk, actor: Actor, *, city_id: int, case_id: int, reason: str = ""
) -> None:
    """Not a case after all (or not for 311). Only cases not yet with 311 can be dismissed."""
    require(actor, city_id, "case.dismiss")
    with Session(desk.engine) as s:
        case = get_case(s, city_id=city_id, case_id=case_id)
        if case.status not in (*WAITING_FOR_PERSON, "queued"):
            raise CaseActionError(f"case {case_id} is {case.status}: it is with 311 already")
        case.next_attempt_at = None
        set_status(
            s, case, "dismissed", now=desk.now(), actor=actor.username, note=reason or "dismissed"
        )
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="case.dismiss",
            object_type="case",
            object_id=case_id,
            details={"reason": reason},
        )
        s.commit()


def retry_case(desk: CaseDesk, actor: Actor, *, city_id: int, case_id: int) -> int:
    """File a held, failed or not-filed case again as it is."""
    with Session(desk.engine) as s:
        case = get_case(s, city_id=city_id, case_id=case_id)
    return file_case(
        desk,
        actor,
        city_id=city_id,
        case_id=case_id,
        post_id=case.post_id,
        service_code=case.service_code,
        description=case.description,
        lat=case.lat,
        lon=case.lon,
        address_string=case.address_string,
        attributes=case.attributes,
    )


def cases_near(desk: CaseDesk, *, city_id: int, post_id: int, limit: int = 20) -> list[dict]:
    """Open cases a post could be linked to: same service first, then the newest."""
    draft = draft_for_post(desk, city_id=city_id, post_id=post_id)
    with Session(desk.engine) as s:
        rows = s.exec(
            select(ServiceRequest)
            .where(
                ServiceRequest.city_id == city_id,
                ServiceRequest.status.in_(  # type: ignore[attr-defined]
                    ("pending", "queued", "filing", "filed", "open", "held", "not_filed")
                ),
            )
            .order_by(ServiceRequest.id.desc())  # type: ignore[union-attr]
            .limit(500)
        ).all()
    own = draft.existing_case_id
    out = [
        {
            "id": r.id,
            "service_code": r.service_code,
            "status": r.status,
            "open311_id": r.open311_id,
            "address": r.address_string,
            "description": r.description[:120],
        }
        for r in rows
        if r.id != own
    ]
    out.sort(key=lambda r: r["service_code"] != draft.service_code)
    return out[:limit]


__all__ = [
    "CaseActionError",
    "CaseDraft",
    "cases_near",
    "dismiss_case",
    "draft_for_post",
    "file_case",
    "link_post",
    "retry_case",
]
