"""AppTest runs of the reply composer (on the post view), the approval queue, the audit page
and the templates page, with services and the signed-in actor injected."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from civic_listener.wiring import Services
from models.tables import AuditEvent, Reply, ReplyTemplate
from tests.ui.conftest import APP, NOW, actor_for, open_page, seed_posts


@pytest.fixture
def seeded(services: Services) -> dict[str, int]:
    services.clock = lambda: NOW
    return seed_posts(services)


def _app(services: Services, role: str, page: str, **state: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["services"] = services
    at.session_state["actor"] = actor_for(services, role)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    open_page(at, page).run()
    assert not at.exception, at.exception
    return at


def _replies(services: Services) -> dict[int, Reply]:
    with Session(services.engine) as s:
        return {r.post_id: r for r in s.exec(select(Reply)).all()}


def _button(at: AppTest, key: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.key == key)


def test_composer_shows_the_draft_count_and_cost_and_approves(
    services: Services, seeded: dict[str, int]
) -> None:
    pid = seeded["pothole"]
    draft = _replies(services)[pid]
    at = _app(services, "strategist", "post", post_id=pid)
    (area,) = [t for t in at.text_area if (t.key or "").startswith(f"composer_text_{pid}")]
    assert area.value == draft.text
    captions = " ".join(c.value for c in at.caption)
    assert "X bills this reply $0.015" in captions
    assert "Dry run" in captions
    progress = at.get("progress")[0]
    assert "/ 280 weighted characters on x" in progress.proto.text
    _button(at, f"composer_approve_{pid}").click().run()
    assert not at.exception
    reply = _replies(services)[pid]
    assert (reply.state, reply.approved_by) == ("approved", "strategist-person")
    assert any("approved" in s.value for s in at.success)


def test_composer_link_costs_more_and_staff_cannot_approve(
    services: Services, seeded: dict[str, int]
) -> None:
    pid = seeded["trash"]
    at = _app(services, "staff", "post", post_id=pid)
    assert _button(at, f"composer_approve_{pid}").disabled
    assert _button(at, f"composer_send_{pid}").disabled
    (area,) = [t for t in at.text_area if (t.key or "").startswith(f"composer_text_{pid}")]
    area.input("@resident3 Pickup is rescheduled, see https://boston.gov/trash-day").run()
    assert "$0.200" in " ".join(c.value for c in at.caption)
    _button(at, f"composer_save_{pid}").click().run()
    reply = _replies(services)[pid]
    assert reply.text.endswith("https://boston.gov/trash-day")
    assert (reply.state, reply.edited_by) == ("draft", "staff-person")


def test_composer_send_now_records_a_dry_run(services: Services, seeded: dict[str, int]) -> None:
    pid = seeded["pothole2"]
    at = _app(services, "strategist", "post", post_id=pid)
    _button(at, f"composer_send_{pid}").click().run()
    assert not at.exception
    reply = _replies(services)[pid]
    assert (reply.state, reply.dry_run) == ("sent", True)
    assert any("dry run" in s.value for s in at.success)


def test_composer_refuses_a_reply_over_the_limit(
    services: Services, seeded: dict[str, int]
) -> None:
    pid = seeded["pothole"]
    at = _app(services, "strategist", "post", post_id=pid)
    (area,) = [t for t in at.text_area if (t.key or "").startswith(f"composer_text_{pid}")]
    area.input("a" * 300).run()
    assert any("Too long" in e.value for e in at.error)
    assert _button(at, f"composer_approve_{pid}").disabled


def test_approval_queue_bulk_approves_a_group_emergency_first(
    services: Services, seeded: dict[str, int]
) -> None:
    at = _app(services, "strategist", "approvals")
    labels = [e.label for e in at.expander]
    assert labels[0].startswith("emergency · urgency:emergency")
    pothole_group = next(i for i, lab in enumerate(labels) if "topic:pothole" in lab)
    assert labels[pothole_group].endswith("(3)")  # two pothole posts and the hostile one
    _button(at, f"approve_all_{pothole_group}").click().run()
    assert not at.exception
    replies = _replies(services)
    group = ("pothole", "pothole2", "hostile")
    assert {replies[seeded[name]].state for name in group} == {"approved"}
    assert replies[seeded["gas"]].state == "draft"
    with Session(services.engine) as s:
        actions = [e.action for e in s.exec(select(AuditEvent)).all()]
    assert actions.count("reply.approve") == 3 and "reply.bulk_approve" in actions
    assert [m.label for m in at.metric][0] == "Median time to first reply"


def test_approval_queue_is_read_only_for_staff(services: Services, seeded: dict[str, int]) -> None:
    at = _app(services, "staff", "approvals")
    assert any("strategists" in i.value for i in at.info)
    assert all(b.disabled for b in at.button if b.key and b.key.startswith("approve_"))


def test_audit_page_lists_and_exports(services: Services, seeded: dict[str, int]) -> None:
    at = _app(services, "viewer", "audit")
    assert any("events" in c.value for c in at.caption)
    assert at.get("download_button")
    at.selectbox(key="audit_action").select("reply.draft").run()
    frame = at.dataframe[0].value
    assert set(frame["action"]) == {"reply.draft"}


def test_templates_page_admin_saves_and_others_read(
    services: Services, seeded: dict[str, int]
) -> None:
    at = _app(services, "strategist", "templates")
    assert _button(at, "tpl_save").disabled
    at = _app(services, "admin", "templates")
    at.selectbox(key="tpl_choice").select("ack · en").run()
    (body,) = [t for t in at.text_area if (t.key or "").startswith("tpl_body_")]
    body.input("{handle} Thanks, we are on it.").run()
    _button(at, "tpl_save").click().run()
    assert not at.exception
    with Session(services.engine) as s:
        tpl = s.exec(
            select(ReplyTemplate).where(ReplyTemplate.key == "ack", ReplyTemplate.language == "en")
        ).one()
    assert (tpl.body, tpl.updated_by) == ("{handle} Thanks, we are on it.", "admin-person")


@pytest.mark.parametrize("role", ["viewer", "staff", "strategist", "admin"])
def test_reply_pages_render_for_every_role(
    services: Services, seeded: dict[str, int], role: str
) -> None:
    for page in ("approvals", "audit", "templates"):
        at = _app(services, role, page)
        assert at.title, (page, role)
    at = _app(services, role, "post", post_id=seeded["hostile"])
    assert any(s.value == "Reply" for s in at.subheader)
    if role == "viewer":
        assert _button(at, f"composer_save_{seeded['hostile']}").disabled


def test_hostile_post_text_is_never_markdown(services: Services, seeded: dict[str, int]) -> None:
    for page, state in (("approvals", {}), ("post", {"post_id": seeded["hostile"]})):
        at = _app(services, "admin", page, **state)
        assert all("<script>" not in m.value for m in at.markdown), page
        assert all("<script>" not in c.value for c in at.caption), page
