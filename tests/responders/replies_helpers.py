"""Builders shared by the replies tests: a clock, services with senders on the fakes, posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from civic_listener.settings import load_settings
from civic_listener.wiring import Services, build_services
from models.auth import Actor
from models.tables import URGENCY_RANK, Post, ServiceRequest
from responders.replies import ReplyDesk, desk_for
from tests.fakes.classifier import KeywordClassifier

T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def make_services(db_url: str, clock: Clock, **overrides: Any) -> Services:
    overrides.setdefault("replay_file", None)
    settings = load_settings(database_url=db_url, **overrides)
    return build_services(settings, classifier=KeywordClassifier(), clock=clock, with_sources=False)


def desk(services: Services) -> ReplyDesk:
    return desk_for(services)


def actors(city_id: int) -> dict[str, Actor]:
    return {
        role: Actor(f"{role}1", roles={city_id: role})
        for role in ("viewer", "staff", "strategist", "admin")
    }


def add_post(
    services: Services,
    *,
    platform: str = "x",
    external_id: str = "1861234567890123456",
    author: str = "dot_resident",
    text: str = "Huge pothole on Dorchester Ave",
    topic: str | None = "pothole",
    urgency: str | None = "normal",
    language: str | None = "en",
    needs_review: bool = False,
    created_at: datetime | None = None,
    raw: dict[str, Any] | None = None,
    city_id: int | None = None,
) -> Post:
    with Session(services.engine, expire_on_commit=False) as s:
        post = Post(
            city_id=city_id or services.cities.default.id,
            platform=platform,
            external_id=external_id,
            author=author,
            text=text,
            created_at=created_at or T0 - timedelta(minutes=30),
            classified_at=T0,
            relevant=topic not in (None, "none"),
            topic=topic,
            urgency=urgency,
            urgency_rank=URGENCY_RANK.get(urgency or "", 9),
            detected_language=language,
            neighborhood="Dorchester",
            needs_review=needs_review,
            raw=raw,
        )
        s.add(post)
        s.commit()
        return post


def add_case(
    services: Services, post: Post, *, number: str | None = "101005551234", status: str = "filed"
) -> ServiceRequest:
    with Session(services.engine, expire_on_commit=False) as s:
        case = ServiceRequest(
            city_id=post.city_id,
            post_id=post.id,
            service_code="REQPOTHL",
            description=post.text,
            status=status,
            open311_id=number,
            idempotency_key=f"case-{post.id}-{number}",
        )
        s.add(case)
        s.flush()
        db_post = s.get(Post, post.id)
        assert db_post is not None
        db_post.case_id = case.id
        s.add(db_post)
        s.commit()
        return case
