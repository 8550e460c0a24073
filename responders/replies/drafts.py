"""Drafting: a reply in the resident's language from the best template, with the case
number when a case exists; redrafting when a case is filed or linked; the follow-up when a
case closes; and the auto-send rule a person configured.

Template choice for a reply: ``urgency:emergency`` for an emergency (the 911 reply);
``case`` when the post has a case number; ``urgency:high`` for a same-day hazard; then
``topic:<topic>``; then ``ack``. A follow-up uses ``followup``. Languages are tried in the
order: the post's, the city's ``default_language``, English.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, select

from civic_listener.cities import CityInfo
from models.auth import Actor, require
from models.store import audit
from models.tables import Post, Reply, ReplyTemplate, ServiceRequest
from responders.replies.defaults import topic_name
from responders.replies.desk import ReplyDesk
from responders.replies.errors import ReplyInvalid, ReplyNotFound
from responders.replies.templates import Rendered, TemplateLike, pick_from, render

log = logging.getLogger(__name__)
ACTIVE = ("draft", "approved", "sending")
RULE_ACTOR = "rule:reply_auto_send_topics"


class PostLike(Protocol):
    """What drafting reads of a post: a ``Post`` or a row of a batch (``batch.PostRow``)."""

    @property
    def id(self) -> int | None: ...
    @property
    def city_id(self) -> int: ...
    @property
    def platform(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def detected_language(self) -> str | None: ...
    @property
    def neighborhood(self) -> str | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def urgency(self) -> str | None: ...
    @property
    def needs_review(self) -> bool: ...
    @property
    def deleted_at(self) -> datetime | None: ...


class CaseLike(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def open311_id(self) -> str | None: ...


class ReplyLike(Protocol):
    @property
    def edited_by(self) -> str | None: ...
    @property
    def template_key(self) -> str | None: ...


def new_key() -> str:
    return uuid.uuid4().hex


def normalise_language(code: str | None) -> str | None:
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return None if base in ("", "und", "zxx") else base


def post_language(post: PostLike) -> str | None:
    return normalise_language(post.detected_language) or normalise_language(post.language)


def mention(platform: str, author: str) -> str:
    """The resident as a mention on their platform."""
    author = (author or "").strip().lstrip("@")
    if not author or author.startswith("did:"):  # a Bluesky DID is no handle; the reply notifies
        return ""
    if platform == "reddit":
        return f"u/{author.removeprefix('u/')}"
    return f"@{author}"


def case_for_post(s: Session, post: Post) -> ServiceRequest | None:
    if post.case_id is not None:
        case = s.get(ServiceRequest, post.case_id)
        if case is not None and case.city_id == post.city_id:
            return case
    return s.exec(
        select(ServiceRequest)
        .where(ServiceRequest.post_id == post.id, ServiceRequest.city_id == post.city_id)
        .order_by(ServiceRequest.id.desc())  # type: ignore[union-attr]
    ).first()


def values_for(
    city: CityInfo, post: PostLike, case: CaseLike | None, language: str
) -> dict[str, str | None]:
    number = case.open311_id if case is not None else None
    link_tpl = city.settings.case_link_template
    return {
        "handle": mention(post.platform, post.author),
        "case_number": number,
        "case_link": link_tpl.replace("{case_number}", number) if link_tpl and number else None,
        "neighborhood": post.neighborhood,
        "expected_time": city.settings.expected_times.get(post.topic or ""),
        "topic_name": topic_name(post.topic, language),
        "city_name": city.settings.name,
    }


def template_keys(post: PostLike, case: CaseLike | None, kind: str) -> list[str]:
    if kind == "followup":
        return ["followup"]
    keys: list[str] = []
    if post.urgency == "emergency":
        keys.append("urgency:emergency")
    if case is not None and case.open311_id:
        keys.append("case")
    if post.urgency == "high":
        keys.append("urgency:high")
    if post.topic and post.topic != "none":
        keys.append(f"topic:{post.topic}")
    keys.append("ack")
    return keys


def compose(
    desk: ReplyDesk,
    post: PostLike,
    case: CaseLike | None,
    *,
    kind: str,
    templates: Sequence[TemplateLike],
    template_key: str | None = None,
    language: str | None = None,
) -> Rendered | None:
    """The reply text for ``post`` from the best template (or the one named)."""
    city = desk.city(post.city_id)
    lang = normalise_language(language) or post_language(post) or city.settings.default_language
    languages = [lang, city.settings.default_language, "en"]
    keys = [template_key] if template_key else template_keys(post, case, kind)
    tpl = pick_from(templates, keys=keys, languages=languages)
    if tpl is None:
        return None
    values = values_for(city, post, case, tpl.language)
    return render(tpl.body, values, key=tpl.key, language=tpl.language)


def _templates(s: Session, city_id: int) -> list[ReplyTemplate]:
    return list(s.exec(select(ReplyTemplate).where(ReplyTemplate.city_id == city_id)).all())


def _load_post(s: Session, city_id: int, post_id: int) -> Post:
    post = s.get(Post, post_id)
    if post is None or post.city_id != city_id:
        raise ReplyNotFound(f"post {post_id} not found in this city")
    return post


def _new_reply(
    s: Session,
    desk: ReplyDesk,
    post: Post,
    case: ServiceRequest | None,
    *,
    kind: str,
    text: str,
    language: str,
    template_key: str | None,
    actor: str,
) -> Reply:
    now = desk.clock()
    assert post.id is not None
    reply = Reply(
        city_id=post.city_id,
        post_id=post.id,
        case_id=case.id if case is not None else None,
        kind=kind,
        platform=post.platform,
        language=language,
        template_key=template_key,
        text=text,
        state="draft",
        idempotency_key=new_key(),
        drafted_by=actor,
        created_at=now,
        updated_at=now,
    )
    s.add(reply)
    s.flush()
    audit(
        s,
        at=desk.clock(),
        city_id=post.city_id,
        actor=actor,
        action="reply.draft",
        object_type="reply",
        object_id=reply.id,
        details={
            "post_id": post.id,
            "kind": kind,
            "template": template_key,
            "language": language,
            "text": text,
        },
    )
    return reply


def draft_reply(
    desk: ReplyDesk,
    *,
    actor: Actor,
    city_id: int,
    post_id: int,
    kind: str = "reply",
    template_key: str | None = None,
    language: str | None = None,
    text: str | None = None,
) -> Reply:
    """A new draft for a post (staff and up). With ``text`` it is the person's own words;
    otherwise the chosen template, rendered. An active reply of the same kind is replaced
    only while it is still a draft (its text and template are updated instead)."""
    require(actor, city_id, "reply.draft")
    with Session(desk.engine, expire_on_commit=False) as s:
        post = _load_post(s, city_id, post_id)
        if post.deleted_at is not None:
            raise ReplyInvalid("the author deleted this post; there is nothing to reply to")
        case = case_for_post(s, post)
        if text is None:
            rendered = compose(
                desk,
                post,
                case,
                kind=kind,
                templates=_templates(s, city_id),
                template_key=template_key,
                language=language,
            )
            if rendered is None:
                raise ReplyInvalid(f"no template {template_key or kind!r} for this post")
            body, lang = rendered.text, rendered.language
            key: str | None = rendered.key
        else:
            if not text.strip():
                raise ReplyInvalid("a reply needs text")
            body = text.strip()
            lang = normalise_language(language) or post_language(post) or "en"
            key = template_key
        existing = s.exec(
            select(Reply).where(
                Reply.post_id == post_id,
                Reply.kind == kind,
                Reply.state.in_(ACTIVE),  # type: ignore[attr-defined]
            )
        ).first()
        if existing is not None:
            if existing.state != "draft":
                raise ReplyInvalid(f"reply {existing.id} is already {existing.state}")
            old = existing.text
            existing.text, existing.language, existing.template_key = body, lang, key
            existing.edited_by = actor.username if text is not None else None
            existing.case_id = case.id if case is not None else existing.case_id
            existing.updated_at = desk.clock()
            s.add(existing)
            audit(
                s,
                at=desk.clock(),
                city_id=city_id,
                actor=actor.username,
                action="reply.edit",
                object_type="reply",
                object_id=existing.id,
                details={"old": old, "new": body, "template": key, "language": lang},
            )
            s.commit()
            return existing
        reply = _new_reply(
            s,
            desk,
            post,
            case,
            kind=kind,
            text=body,
            language=lang,
            template_key=key,
            actor=actor.username,
        )
        s.commit()
        return reply


# --------------------------------------------------------------------------- rules


def auto_send_applies(desk: ReplyDesk, post: PostLike, reply: ReplyLike) -> bool:
    """The configured rule: a listed topic (or ``emergency``), labels that need no review,
    and the template's own text."""
    topics = set(desk.settings.reply_auto_send_topics)
    if not topics or reply.edited_by is not None or reply.template_key is None:
        return False
    if post.needs_review or post.deleted_at is not None:
        return False
    if post.urgency == "emergency":
        return "emergency" in topics
    return post.topic in topics


# --------------------------------------------------------------------------- hooks


def on_classified(desk: ReplyDesk, city_id: int, post_ids: Sequence[int]) -> int:
    """Draft a reply for each actionable post just labelled; returns how many were drafted.

    Actionable: relevant (a service request) or an emergency, not deleted, dismissed or
    answered, and without any reply yet (a dismissed draft is not redrafted). A draft the
    auto-send rule covers is approved at once. Set-based: see :mod:`responders.replies.batch`.
    """
    from responders.replies.batch import draft_classified

    return draft_classified(desk, city_id, post_ids)


def on_case_events(desk: ReplyDesk, event: str, city_id: int, case_ids: Sequence[int]) -> int:
    """Filed or linked: put the case number in unedited drafts (or draft one). Closed:
    draft the follow-up and dismiss initial drafts nobody approved. Returns replies touched.
    One transaction for all the cases (see :mod:`responders.replies.batch`)."""
    from responders.replies.batch import case_events

    return case_events(desk, event, city_id, case_ids)


def on_case_event(desk: ReplyDesk, event: str, city_id: int, case_id: int) -> int:
    """:func:`on_case_events` for one case."""
    return on_case_events(desk, event, city_id, [case_id])


def preview(
    desk: ReplyDesk,
    *,
    city_id: int,
    post_id: int,
    kind: str = "reply",
    template_key: str | None = None,
    language: str | None = None,
) -> Rendered | None:
    """What a draft from a template would say, without storing anything (the composer)."""
    with Session(desk.engine, expire_on_commit=False) as s:
        post = _load_post(s, city_id, post_id)
        case = case_for_post(s, post)
        return compose(
            desk,
            post,
            case,
            kind=kind,
            templates=_templates(s, city_id),
            template_key=template_key,
            language=language,
        )
