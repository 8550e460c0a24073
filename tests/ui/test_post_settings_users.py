"""The post view (thread, incident, one-click correction), settings changes (audited,
admin only) and the Users page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from civic_listener.wiring import Services
from models.auth import PermissionDenied, create_user
from models.console import get_overrides
from models.queries import incident, post_detail, thread
from models.store import POST
from models.tables import AuditEvent, Classification
from tests.ui.conftest import HOSTILE, NOW, AppFactory, actor_for, open_page
from ui.logic.settings import change, city_settings


def _button(at, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def _thread(services: Services) -> dict[str, int]:
    city = services.cities.default.id
    rows = [
        ("t1", None, "t1", "Streetlight out on Adams St"),
        ("t2", "t1", "t1", "Still out tonight"),
        ("t3", "t2", "t1", "Day three, still dark"),
        ("other", None, "zz", "unrelated"),
    ]
    with services.engine.begin() as conn:
        conn.execute(
            POST.insert(),
            [
                {
                    "city_id": city,
                    "platform": "x",
                    "external_id": ext,
                    "in_reply_to_id": parent,
                    "conversation_id": conv,
                    "text": text,
                    "created_at": NOW - timedelta(hours=5 - i),
                }
                for i, (ext, parent, conv, text) in enumerate(rows)
            ],
        )
        ids = dict(conn.execute(sa.select(POST.c.external_id, POST.c.id)).all())  # type: ignore[arg-type]
    return ids


def test_thread_shows_the_conversation_around_a_post(services: Services) -> None:
    ids = _thread(services)
    city = services.cities.default.id
    post = post_detail(services.engine, city_id=city, post_id=ids["t2"])
    assert post is not None
    rows = thread(services.engine, city_id=city, post=post)
    assert [r["text"] for r in rows] == [
        "Streetlight out on Adams St",
        "Still out tonight",
        "Day three, still dark",
    ]
    assert [r["this"] for r in rows] == [False, True, False]


def test_incident_groups_recent_posts_about_the_same_topic_and_place(
    services: Services, seeded: dict[str, int]
) -> None:
    city = services.cities.default.id
    post = post_detail(services.engine, city_id=city, post_id=seeded["pothole"])
    assert post is not None
    similar = incident(services.engine, city_id=city, post=post)
    assert [r["id"] for r in similar] == [seeded["pothole2"]]


def test_one_click_correction_stores_feedback_and_audits(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    at = console(role="staff", page="post")
    at.number_input(key="post_id_input").set_value(seeded["trash"]).run()
    assert at.subheader[0].value == "Thread"
    at.radio(key="fix_urgency").set_value("high").run()
    assert not at.exception
    assert "training feedback" in at.success[0].value
    with services.engine.connect() as conn:
        human = conn.execute(
            sa.select(Classification.task, Classification.label, Classification.created_by).where(  # type: ignore[call-overload]
                Classification.source == "human"
            )
        ).all()
        urgency = conn.execute(
            sa.select(POST.c.urgency).where(POST.c.id == seeded["trash"])
        ).scalar_one()
        audited = conn.execute(
            sa.select(AuditEvent.action).where(AuditEvent.action == "label.correct")  # type: ignore[call-overload]
        ).all()
    assert human == [("urgency", "high", "staff-person")] and urgency == "high" and audited


def test_viewers_cannot_correct_labels(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    at = console(role="viewer", page="post")
    at.number_input(key="post_id_input").set_value(seeded["hostile"]).run()
    assert at.radio(key="fix_urgency").disabled
    # hostile text is escaped Markdown: the literal characters, no live HTML
    md = [m.value for m in at.markdown]
    assert any("\\<script\\>alert\\(1\\)\\</script\\>" in v for v in md), md
    assert not any(HOSTILE in v for v in md)


def test_settings_change_is_validated_audited_and_admin_only(
    services: Services, seeded: dict[str, int]
) -> None:
    city = services.cities.default
    admin = actor_for(services, "admin")
    assert change(
        services.engine,
        admin,
        city_id=city.id,
        base=city.settings,
        key="response_target_minutes",
        value=60,
    )
    assert not change(
        services.engine,
        admin,
        city_id=city.id,
        base=city.settings,
        key="response_target_minutes",
        value=60,
    )
    with pytest.raises(ValueError, match="response_target_minutes"):
        change(
            services.engine,
            admin,
            city_id=city.id,
            base=city.settings,
            key="response_target_minutes",
            value=0,
        )
    with pytest.raises(PermissionDenied):
        change(
            services.engine,
            actor_for(services, "strategist"),
            city_id=city.id,
            base=city.settings,
            key="keywords",
            value=["x"],
        )
    assert (
        city_settings(services.engine, city_id=city.id, base=city.settings).response_target_minutes
        == 60
    )
    # back to the file's value removes the override
    change(
        services.engine,
        admin,
        city_id=city.id,
        base=city.settings,
        key="response_target_minutes",
        value=240,
    )
    assert get_overrides(services.engine, city_id=city.id) == {}
    with services.engine.connect() as conn:
        details = (
            conn.execute(
                sa.select(AuditEvent.details).where(AuditEvent.action == "settings.change")  # type: ignore[call-overload]
            )
            .scalars()
            .all()
        )
    assert details == [{"old": None, "new": 60}, {"old": 60, "new": None}]


def test_settings_page_saves_keywords_for_admins_only(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    at = console(role="admin", page="settings")
    at.text_area(key="set_keywords").set_value("boston\n#bos311\npothole, 311")
    _button(at, "Save listening").click().run()
    assert not at.exception
    assert "Saved: keywords" in at.success[0].value
    assert get_overrides(services.engine, city_id=services.cities.default.id)["keywords"] == [
        "boston",
        "#bos311",
        "pothole",
        "311",
    ]
    staff = console(role="staff", page="settings")
    assert staff.text_area(key="set_keywords").disabled


def test_users_page_adds_people_for_admins_only(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    create_user(
        services.engine,
        username="admin-person",
        password="correct horse battery",
        roles={services.cities.default.id: "admin"},
    )
    at = console(role="admin", page="users")
    at.text_input(key="new_username").set_value("kim")
    at.text_input(key="new_password").set_value("another long password")
    at.selectbox(key="new_role").set_value("viewer")
    _button(at, "Add").click().run()
    assert not at.exception
    assert "Added kim as viewer" in at.success[0].value
    for role in ("strategist", "staff", "viewer"):
        page = console(role=role)
        open_page(page, "users").run()
        # not in their menu: asking for it shows the inbox instead
        assert not page.exception and page.title[0].value.startswith("Inbox")
