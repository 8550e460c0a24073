"""Drafting, templates, the approval workflow with roles, rules, case events, figures, audit."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from civic_listener.service import run_once
from civic_listener.wiring import Services
from listener.replay import ReplaySource
from models.auth import PermissionDenied
from models.tables import AuditEvent, Post, Reply
from responders.replies.defaults import LANGUAGES, TEMPLATES, TOPIC_NAMES
from responders.replies.drafts import draft_reply, on_classified
from responders.replies.errors import InvalidTransition, ReplyInvalid
from responders.replies.figures import percentile, response_times
from responders.replies.length import measure, x_weighted_length
from responders.replies.outbox import run_outbox
from responders.replies.queries import audit_csv, audit_events, reply_queue
from responders.replies.templates import placeholders_in, render, save_template
from responders.replies.workflow import approve_reply, bulk_approve, dismiss_reply, edit_reply
from tests.helpers import post as post_row
from tests.helpers import write_jsonl
from tests.responders.replies_helpers import (
    T0,
    Clock,
    actors,
    add_case,
    add_post,
    desk,
    make_services,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(db_url: str, clock: Clock) -> Iterator[Services]:
    services = make_services(db_url, clock)
    yield services
    services.close()


def _replies(services: Services, post_id: int | None = None) -> list[Reply]:
    with Session(services.engine) as s:
        q = select(Reply).order_by(Reply.id)  # type: ignore[arg-type]
        if post_id is not None:
            q = q.where(Reply.post_id == post_id)
        return list(s.exec(q).all())


def _actions(services: Services) -> list[str]:
    with Session(services.engine) as s:
        return [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- drafting


def test_pipeline_drafts_replies_for_actionable_posts(svc: Services, tmp_path: Path) -> None:
    rows = [
        post_row(1, "Huge pothole on Dorchester Ave @BOS311!"),
        post_row(2, "I smell gas on Adams St"),
        post_row(3, "go celtics"),
    ]
    svc.sources = [ReplaySource("replay", write_jsonl(tmp_path / "c.jsonl", rows))]
    run_once(svc)
    replies = {r.post_id: r for r in _replies(svc)}
    with Session(svc.engine) as s:
        posts = {p.external_id: p for p in s.exec(select(Post)).all()}
    pothole, gas, chatter = posts["1000001"], posts["1000002"], posts["1000003"]
    assert replies[pothole.id].template_key == "topic:pothole"
    assert replies[pothole.id].text.startswith("@resident1 Thanks for reporting this pothole")
    assert replies[gas.id].template_key == "urgency:emergency"
    assert "call 911" in replies[gas.id].text
    assert chatter.id not in replies
    # the outbox job ran in dry run: nothing approved, so nothing sent
    assert {r.state for r in replies.values()} == {"draft"}
    # emergencies head the approval queue
    queue = reply_queue(svc.engine, city_id=svc.cities.default.id)
    assert queue[0]["post_id"] == gas.id


def test_draft_in_the_residents_language_with_fallbacks(svc: Services) -> None:
    d = desk(svc)
    cid = svc.cities.default.id
    es = add_post(svc, external_id="1", language="es", author="vecina")
    ht = add_post(svc, external_id="2", language="ht", topic="pothole")
    zh = add_post(svc, external_id="3", language="zh-CN", topic="trash")
    de = add_post(svc, external_id="4", language="de", topic="trash")
    pt = add_post(svc, external_id="5", language="pt-BR", topic="trash")
    on_classified(d, cid, [es.id, ht.id, zh.id, de.id, pt.id])  # type: ignore[list-item]
    by_post = {r.post_id: r for r in _replies(svc)}
    assert by_post[es.id].text.startswith("@vecina Gracias por reportar este bache")
    assert (by_post[ht.id].language, by_post[ht.id].template_key) == ("ht", "ack")
    assert "twou nan lari" in by_post[ht.id].text
    assert by_post[zh.id].language == "zh" and "垃圾" in by_post[zh.id].text
    assert by_post[de.id].language == "en"  # no German template: the city's default
    assert by_post[pt.id].language == "pt" and "problema de lixo" in by_post[pt.id].text
    # drafting again changes nothing
    on_classified(d, cid, [es.id])  # type: ignore[list-item]
    assert len(_replies(svc)) == 5


def test_shipped_templates_fit_every_platform() -> None:
    values = {
        "handle": "@" + "h" * 15,
        "case_number": "101005551234",
        "case_link": "https://311.boston.gov/tickets/101005551234",
        "topic_name": "traffic signal or sign",
        "neighborhood": "Dorchester",
        "expected_time": "2 business days",
        "city_name": "Boston",
    }
    for key, by_lang in TEMPLATES.items():
        for lang, body in by_lang.items():
            longest = max(TOPIC_NAMES[lang].values(), key=len)
            text = render(body, {**values, "topic_name": longest}).text
            for platform in ("x", "mastodon", "bluesky", "reddit"):
                m = measure(platform, text)
                assert m.ok, (key, lang, platform, m.count)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_language_has_each_shipped_key_and_every_topic_name(language: str) -> None:
    for key in ("urgency:emergency", "urgency:high", "case", "ack", "followup"):
        assert language in TEMPLATES[key], (key, language)
    assert "911" in TEMPLATES["urgency:emergency"][language]
    assert set(TOPIC_NAMES[language]) == set(TOPIC_NAMES["en"])
    assert all(name.strip() for name in TOPIC_NAMES[language].values())
    for key, by_lang in TEMPLATES.items():
        if language in by_lang:
            # the same placeholders as the English, as many times
            assert sorted(placeholders_in(by_lang[language])) == sorted(
                placeholders_in(by_lang["en"])
            ), (key, language)


def test_shipped_templates_and_topic_names_are_in_listed_languages() -> None:
    assert set(TOPIC_NAMES) == set(LANGUAGES)
    assert all(set(by_lang) <= set(LANGUAGES) for by_lang in TEMPLATES.values())


def test_platform_length_counting() -> None:
    assert x_weighted_length("a" * 280) == 280
    assert x_weighted_length("你" * 140) == 280
    assert x_weighted_length("see https://example.com/" + "a" * 200) == 4 + 23
    assert x_weighted_length("👨‍👩‍👧‍👦") == 2
    assert not measure("x", "a" * 281).ok
    assert measure(
        "mastodon", "@someone@mastodon.social " + "a" * 490
    ).ok  # mention counts @someone
    assert measure("bluesky", "🇺🇸" * 300).ok and not measure("bluesky", "🇺🇸" * 301).ok
    assert measure("bluesky", "e\u0301" * 300).count == 300
    assert measure("reddit", "a" * 10_000).ok and not measure("reddit", "a" * 10_001).ok
    assert measure("x", "case at 311.boston.gov").has_link


# --------------------------------------------------------------------------- workflow and roles


def test_staff_drafts_and_edits_but_may_not_approve(svc: Services) -> None:
    d, cid = desk(svc), svc.cities.default.id
    who = actors(cid)
    post = add_post(svc)
    with pytest.raises(PermissionDenied):
        draft_reply(d, actor=who["viewer"], city_id=cid, post_id=post.id)  # type: ignore[arg-type]
    reply = draft_reply(d, actor=who["staff"], city_id=cid, post_id=post.id)  # type: ignore[arg-type]
    assert reply.state == "draft" and reply.drafted_by == "staff1"
    edited = edit_reply(
        d, actor=who["staff"], city_id=cid, reply_id=reply.id, text="@dot_resident On it!"
    )  # type: ignore[arg-type]
    assert edited.edited_by == "staff1"
    with pytest.raises(PermissionDenied):
        approve_reply(d, actor=who["staff"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        bulk_approve(d, actor=who["staff"], city_id=cid, reply_ids=[reply.id])  # type: ignore[list-item]
    assert _replies(svc)[0].state == "draft"
    approved = approve_reply(d, actor=who["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    assert (approved.state, approved.approved_by) == ("approved", "strategist1")
    with pytest.raises(InvalidTransition):
        approve_reply(d, actor=who["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    # an edit after approval needs a new approval
    back = edit_reply(
        d,
        actor=who["staff"],
        city_id=cid,
        reply_id=reply.id,
        text="@dot_resident Crew is on the way.",
    )  # type: ignore[arg-type]
    assert (back.state, back.approved_by) == ("draft", None)
    assert _actions(svc) == ["reply.draft", "reply.edit", "reply.approve", "reply.edit"]


def test_another_citys_actor_is_refused(db_url: str, clock: Clock) -> None:
    services = make_services(
        db_url,
        clock,
        cities={"boston": {"name": "Boston"}, "springfield": {"name": "Springfield"}},
    )
    try:
        boston, springfield = (
            services.cities.get("boston").id,
            services.cities.get("springfield").id,
        )
        post = add_post(services, city_id=boston)
        on_classified(desk(services), boston, [post.id])  # type: ignore[list-item]
        (reply,) = _replies(services)
        outsider = actors(springfield)["admin"]
        with pytest.raises(PermissionDenied):
            approve_reply(desk(services), actor=outsider, city_id=boston, reply_id=reply.id)  # type: ignore[arg-type]
    finally:
        services.close()


def test_too_long_or_unfilled_reply_cannot_be_approved(svc: Services) -> None:
    d, cid = desk(svc), svc.cities.default.id
    who = actors(cid)
    post = add_post(svc)
    reply = draft_reply(d, actor=who["staff"], city_id=cid, post_id=post.id, text="a" * 281)  # type: ignore[arg-type]
    with pytest.raises(ReplyInvalid, match="over x's limit of 280"):
        approve_reply(d, actor=who["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    edit_reply(d, actor=who["staff"], city_id=cid, reply_id=reply.id, text="Case {case_number}")  # type: ignore[arg-type]
    with pytest.raises(ReplyInvalid, match="case_number"):
        approve_reply(d, actor=who["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]


def test_bulk_approve_approves_each_and_reports_refusals(svc: Services) -> None:
    d, cid = desk(svc), svc.cities.default.id
    posts = [add_post(svc, external_id=str(i), author=f"r{i}") for i in range(4)]
    on_classified(d, cid, [p.id for p in posts])  # type: ignore[misc]
    ids = [r.id for r in _replies(svc)]
    dismiss_reply(d, actor=actors(cid)["staff"], city_id=cid, reply_id=ids[3])  # type: ignore[arg-type]
    result = bulk_approve(d, actor=actors(cid)["strategist"], city_id=cid, reply_ids=ids)  # type: ignore[arg-type]
    assert result.approved == ids[:3]
    assert list(result.refused) == [ids[3]] and "dismissed" in result.refused[ids[3]]
    assert _actions(svc).count("reply.approve") == 3
    assert "reply.bulk_approve" in _actions(svc)


def test_dry_run_records_the_reply_as_it_would_have_been_sent(svc: Services) -> None:
    d, cid = desk(svc), svc.cities.default.id
    post = add_post(svc)
    on_classified(d, cid, [post.id])  # type: ignore[list-item]
    (reply,) = _replies(svc)
    approve_reply(d, actor=actors(cid)["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
    report = run_outbox(d)
    assert report.dry_run == [reply.id]
    (sent,) = _replies(svc)
    assert (sent.state, sent.dry_run, sent.platform_reply_id) == ("sent", True, None)
    with Session(svc.engine) as s:
        assert s.get(Post, post.id).status == "answered"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- rules


def test_auto_send_rule_only_for_named_topics_and_unedited_confident_drafts(
    db_url: str, clock: Clock
) -> None:
    services = make_services(db_url, clock, reply_auto_send_topics=["pothole"])
    try:
        d, cid = desk(services), services.cities.default.id
        sure = add_post(services, external_id="1")
        unsure = add_post(services, external_id="2", needs_review=True)
        other = add_post(services, external_id="3", topic="trash")
        gas = add_post(services, external_id="4", topic="other_service", urgency="emergency")
        on_classified(d, cid, [sure.id, unsure.id, other.id, gas.id])  # type: ignore[list-item]
        states = {r.post_id: (r.state, r.approved_by) for r in _replies(services)}
        assert states[sure.id] == ("approved", "rule:reply_auto_send_topics")
        assert states[unsure.id][0] == states[other.id][0] == states[gas.id][0] == "draft"
        assert "reply.auto_approve" in _actions(services)
        assert run_outbox(d).dry_run == [
            next(r.id for r in _replies(services) if r.post_id == sure.id)
        ]
    finally:
        services.close()


# --------------------------------------------------------------------------- case events


def test_case_filed_puts_the_number_in_the_draft_and_closing_drafts_a_followup(
    db_url: str, clock: Clock
) -> None:
    services = make_services(
        db_url,
        clock,
        cities={"default": {"case_link_template": "https://311.boston.gov/tickets/{case_number}"}},
    )
    try:
        d, cid = desk(services), services.cities.default.id
        post = add_post(services, language="es", author="vecina")
        on_classified(d, cid, [post.id])  # type: ignore[list-item]
        case = add_case(services, post, number="101005551234")
        services.emit_case_event("filed", cid, case.id)  # type: ignore[arg-type]
        (reply,) = _replies(services)
        assert reply.template_key == "case" and reply.case_id == case.id
        assert "caso #101005551234" in reply.text
        assert reply.text.endswith("https://311.boston.gov/tickets/101005551234")
        assert "reply.redraft" in _actions(services)

        services.emit_case_event("closed", cid, case.id)  # type: ignore[arg-type]
        first, follow = _replies(services)
        assert first.state == "dismissed"  # never approved, superseded by the follow-up
        assert (follow.kind, follow.state, follow.language) == ("followup", "draft", "es")
        assert follow.text.startswith("@vecina Buenas noticias")
        services.emit_case_event("closed", cid, case.id)  # type: ignore[arg-type]
        assert len(_replies(services)) == 2
    finally:
        services.close()


def test_edited_draft_keeps_its_words_when_a_case_is_linked(svc: Services) -> None:
    d, cid = desk(svc), svc.cities.default.id
    post = add_post(svc)
    on_classified(d, cid, [post.id])  # type: ignore[list-item]
    (reply,) = _replies(svc)
    edit_reply(
        d,
        actor=actors(cid)["staff"],
        city_id=cid,
        reply_id=reply.id,
        text="@dot_resident Our crew saw it.",
    )  # type: ignore[arg-type]
    case = add_case(svc, post)
    svc.emit_case_event("linked", cid, case.id)  # type: ignore[arg-type]
    (after,) = _replies(svc)
    assert after.text == "@dot_resident Our crew saw it." and after.case_id == case.id


# --------------------------------------------------------------------------- templates


def test_only_an_admin_edits_templates_and_placeholders_are_checked(svc: Services) -> None:
    cid = svc.cities.default.id
    who = actors(cid)
    with pytest.raises(PermissionDenied):
        save_template(
            svc.engine, actor=who["strategist"], city_id=cid, key="ack", language="en", body="Hi"
        )
    with pytest.raises(ReplyInvalid, match="unknown placeholder"):
        save_template(
            svc.engine, actor=who["admin"], city_id=cid, key="ack", language="en", body="Hi {name}"
        )
    save_template(
        svc.engine,
        actor=who["admin"],
        city_id=cid,
        key="ack",
        language="en",
        body="{handle} We hear you.",
    )
    post = add_post(svc, topic="trash")
    on_classified(desk(svc), cid, [post.id])  # type: ignore[list-item]
    assert _replies(svc)[0].text == "@dot_resident We hear you."
    (event,) = audit_events(svc.engine, city_id=cid, action_prefix="template.")
    assert event["actor"] == "admin1" and event["details"]["new"] == "{handle} We hear you."


# --------------------------------------------------------------------------- figures and audit


def test_response_time_figures(svc: Services, clock: Clock) -> None:
    d, cid = desk(svc), svc.cities.default.id
    waits = [10, 20, 30, 300]  # minutes
    for i, wait in enumerate(waits):
        post = add_post(svc, external_id=str(i), created_at=T0)
        on_classified(d, cid, [post.id])  # type: ignore[list-item]
        reply = next(r for r in _replies(svc, post.id))
        clock.now = T0 + timedelta(minutes=wait)
        approve_reply(d, actor=actors(cid)["strategist"], city_id=cid, reply_id=reply.id)  # type: ignore[arg-type]
        run_outbox(d)
    add_post(svc, external_id="unanswered", created_at=T0)
    rt = response_times(svc.engine, city_id=cid, target_minutes=240)
    assert (rt.answered, rt.unanswered, rt.dry_run) == (4, 1, 4)
    assert rt.median_minutes == pytest.approx(25.0)
    assert rt.p90_minutes == pytest.approx(percentile([10, 20, 30, 300], 0.9))
    assert rt.within_target == pytest.approx(0.75)


def test_audit_csv_export_is_safe_for_spreadsheets(svc: Services) -> None:
    d, cid = desk(svc), svc.cities.default.id
    post = add_post(svc)
    draft_reply(d, actor=actors(cid)["staff"], city_id=cid, post_id=post.id, text='=HYPERLINK("x")')  # type: ignore[arg-type]
    rows = audit_events(svc.engine, city_id=cid)
    parsed = list(csv.reader(io.StringIO(audit_csv(rows))))
    assert parsed[0] == ["id", "at", "actor", "action", "object_type", "object_id", "details"]
    assert parsed[1][2:4] == ["staff1", "reply.draft"]
    assert '"text": "=HYPERLINK' in parsed[1][6]
    with svc.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(AuditEvent.__table__)).scalar_one()
            == 1
        )
