"""The Cases page and the post view's case actions, through Streamlit's AppTest."""

from __future__ import annotations

from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from civic_listener.wiring import Services
from models.auth import Actor
from models.tables import AuditEvent, ServiceRequest
from responders.open311 import cases_of
from tests.ui.conftest import APP, HOSTILE, open_page, seed_posts
from ui.views.cases import TABS, load_view


def app(services: Services, role: str, page: str, **state: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["services"] = services
    at.session_state["actor"] = Actor(f"{role}-person", roles={services.cities.default.id: role})
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    open_page(at, page).run()
    return at


def all_cases(services: Services) -> list[ServiceRequest]:
    with Session(services.engine) as s:
        return list(s.exec(select(ServiceRequest).order_by(ServiceRequest.id)).all())  # type: ignore[arg-type]


def test_cases_page_renders_every_view_and_pins_emergencies(services: Services) -> None:
    seed_posts(services)
    assert all_cases(services)  # triage drafted cases for a person (no Open311 URL here)
    for role in ("viewer", "strategist"):
        at = app(services, role, "cases")
        assert not at.exception, [e.value for e in at.exception]
        assert at.title[0].value.startswith("Cases")
        assert any("emergency" in e.value for e in at.error)
        assert any("Not filing" in c.value for c in at.caption)
    city = services.cities.default.id

    class Ctx:
        pass

    ctx = Ctx()
    ctx.services, ctx.city_id = services, city  # type: ignore[attr-defined]
    assert set(TABS) >= {"waiting", "linked", "failures"}
    waiting = load_view(ctx, "waiting")  # type: ignore[arg-type]
    assert waiting and all(r["status"] in ("pending", "held") for r in waiting)


def test_file_a_case_from_the_post_with_edited_fields(services: Services) -> None:
    ids = seed_posts(services)
    post_id = ids["trash"]
    at = app(services, "strategist", "post", post_id=post_id)
    assert not at.exception, [e.value for e in at.exception]
    description = next(t for t in at.text_area if t.label == "Description")
    assert "trash not picked up again" in description.value  # prefilled from the post
    description.set_value("Missed pickup at 12 Elm St (edited)")
    next(t for t in at.text_input if t.label == "Address").set_value("12 Elm St, Boston")
    next(b for b in at.button if b.label.startswith("File")).click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("saved" in s.value for s in at.success)
    case = next(c for c in all_cases(services) if c.post_id == post_id)
    assert case.description == "Missed pickup at 12 Elm St (edited)"
    assert case.address_string == "12 Elm St, Boston"
    assert case.status == "not_filed"  # no Open311 URL is configured in these settings
    with Session(services.engine) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "case.file")).one()
    assert audit.actor == "strategist-person"


def test_viewer_gets_no_case_actions_and_emergency_is_never_offered(services: Services) -> None:
    ids = seed_posts(services)
    at = app(services, "viewer", "post", post_id=ids["pothole"])
    assert not at.exception
    assert not [b for b in at.button if b.label.startswith("File")]
    at = app(services, "strategist", "post", post_id=ids["gas"])
    assert not at.exception
    assert not [b for b in at.button if b.label.startswith("File")]
    assert any("never filed" in e.value for e in at.error)


def test_link_a_post_to_an_existing_case(services: Services) -> None:
    ids = seed_posts(services)
    cases_of(services)  # attached by build_services already; idempotent
    first = next(c for c in all_cases(services) if c.post_id == ids["pothole"])
    at = app(services, "strategist", "post", post_id=ids["hostile"])
    assert not at.exception
    assert HOSTILE not in [m.value for m in at.markdown]  # only ever shown escaped
    select_box = next(s for s in at.selectbox if s.label == "Case")
    select_box.set_value(first.id)
    next(b for b in at.button if b.label == "Link to case").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    with services.engine.connect() as conn:
        from models.store import POST

        case_id = conn.execute(
            POST.select().with_only_columns(POST.c.case_id).where(POST.c.id == ids["hostile"])
        ).scalar_one()
    assert case_id == first.id


def test_a_waiting_case_is_edited_and_filed_again_from_the_cases_page(services: Services) -> None:
    ids = seed_posts(services)
    case = next(c for c in all_cases(services) if c.post_id == ids["pothole"])
    assert case.status == "pending"
    at = app(services, "strategist", "cases", case_id=case.id)
    assert not at.exception, [e.value for e in at.exception]
    next(t for t in at.text_area if t.label.startswith("Attributes")).set_value(
        "POLE=B-12\nSIDES=north,south"
    )
    next(t for t in at.text_input if t.label == "Service code").set_value("STRLGTOUT")
    next(b for b in at.button if b.label == "File again").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("queued again" in s.value for s in at.success)
    (after,) = [c for c in all_cases(services) if c.id == case.id]
    assert after.attributes == {"POLE": "B-12", "SIDES": ["north", "south"]}
    assert (after.service_code, after.status) == ("STRLGTOUT", "not_filed")
    # a viewer sees the case and its history but gets no action on it
    at = app(services, "viewer", "cases", case_id=case.id)
    assert not at.exception
    assert len(at.dataframe) >= 2
    assert not [b for b in at.button if b.label in ("File again", "Dismiss")]
