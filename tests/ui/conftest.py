"""Console fixtures: a city with labelled posts (one carrying HTML and a script tag), a draft
reply, and an ``AppTest`` of ``ui/app.py`` with services and a signed-in actor injected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from civic_listener.wiring import Services
from listener.base import PostIn
from models.auth import Actor
from models.tables import Reply

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> and <b>bold</b> pothole on Main St"


def seed_posts(services: Services, *, now: datetime = NOW) -> dict[str, int]:
    """Labelled posts in the default city; returns ids by name."""
    texts = {
        "pothole": "Huge pothole on Dorchester Ave @BOS311!",
        "pothole2": "Another pothole in Dorchester near Savin Hill",
        "gas": "I smell gas on Adams St, fire department please",
        "trash": "trash not picked up again",
        "hostile": HOSTILE,
        "chatter": "go celtics",
    }
    items = []
    for i, (name, text) in enumerate(texts.items()):
        items.append(
            PostIn(
                platform="x",
                external_id=str(1_000_000 + i),
                text=text,
                created_at=now - timedelta(minutes=30 + 10 * i),
                author=f"resident{i}",
                lat=42.31 + i / 1000,
                lon=-71.05,
            )
        )
    services.pipeline.ingest("seed", items)
    services.pipeline.classify_pending()
    from models.store import POST

    with services.engine.connect() as conn:
        rows = conn.execute(POST.select().with_only_columns(POST.c.id, POST.c.external_id)).all()
    by_ext = {ext: pid for pid, ext in rows}
    return {name: by_ext[str(1_000_000 + i)] for i, name in enumerate(texts)}


def add_draft(services: Services, post_id: int, text: str = "Thanks, we're on it") -> int:
    with Session(services.engine) as s:
        r = Reply(
            city_id=services.cities.default.id,
            post_id=post_id,
            platform="x",
            text=text,
            state="draft",
            idempotency_key=f"draft-{post_id}",
        )
        s.add(r)
        s.commit()
        assert r.id is not None
        return r.id


@pytest.fixture
def seeded(services: Services) -> dict[str, int]:
    services.clock = lambda: NOW
    return seed_posts(services)


def actor_for(services: Services, role: str, name: str | None = None) -> Actor:
    return Actor(name or f"{role}-person", roles={services.cities.default.id: role})


AppFactory = Callable[..., AppTest]


@pytest.fixture
def console(services: Services) -> AppFactory:
    """``console(role=..., page=...)``: an AppTest of the whole app on one page, run once."""

    def make(
        role: str | None = "admin", page: str | None = None, actor: Actor | None = None
    ) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.session_state["services"] = services
        if actor is not None:
            at.session_state["actor"] = actor
        elif role is not None:
            at.session_state["actor"] = actor_for(services, role)
        at.run()
        if page and page != "inbox":
            open_page(at, page).run()
        return at

    return make


def open_page(at: AppTest, url_path: str) -> AppTest:
    """Request a page of the app by its url path (``st.Page`` hashes its url path)."""
    at._page_hash = calc_hash(url_path)
    return at
