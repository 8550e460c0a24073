"""A person's actions on a reply, each checked against the actor's role in the city before
anything changes, and each audited (who, when, what).

    draft ──approve──► approved ──outbox──► sending ──► sent
      ▲  ╲                │                     └────► failed ──retry──► approved
      │   dismiss         edit (back to draft)
      └──edit─────────────┘

Staff draft, edit and dismiss; a strategist approves, bulk-approves, sends and retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import Session

from models.auth import Actor, require
from models.store import audit
from models.tables import Post, Reply
from responders.replies.desk import ReplyDesk
from responders.replies.errors import InvalidTransition, ReplyError, ReplyInvalid, ReplyNotFound
from responders.replies.length import measure
from responders.replies.templates import placeholders_in


@dataclass(slots=True)
class BulkResult:
    approved: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def _load(s: Session, city_id: int, reply_id: int) -> Reply:
    reply = s.get(Reply, reply_id)
    if reply is None or reply.city_id != city_id:
        raise ReplyNotFound(f"reply {reply_id} not found in this city")
    return reply


def check_sendable(reply: Reply, post: Post | None) -> None:
    """Raise ReplyInvalid when the reply cannot go out as written."""
    text = reply.text.strip()
    if not text:
        raise ReplyInvalid("the reply is empty")
    try:
        leftover = placeholders_in(text)
    except ReplyInvalid:
        leftover = []
    if leftover:
        raise ReplyInvalid(f"fill in {', '.join('{' + n + '}' for n in leftover)} first")
    m = measure(reply.platform, text)
    if not m.ok:
        raise ReplyInvalid(
            m.note or f"{m.count} {m.unit} is over {reply.platform}'s limit of {m.limit}"
        )
    if post is None or post.deleted_at is not None:
        raise ReplyInvalid("the author deleted this post; there is nothing to reply to")


def edit_reply(
    desk: ReplyDesk,
    *,
    actor: Actor,
    city_id: int,
    reply_id: int,
    text: str,
    language: str | None = None,
) -> Reply:
    """Change a reply's text (staff and up). An approved or failed reply goes back to draft."""
    require(actor, city_id, "reply.edit")
    if not text.strip():
        raise ReplyInvalid("a reply needs text")
    with Session(desk.engine, expire_on_commit=False) as s:
        reply = _load(s, city_id, reply_id)
        if reply.state not in ("draft", "approved", "failed"):
            raise InvalidTransition(f"a {reply.state} reply cannot be edited")
        old, old_state = reply.text, reply.state
        reply.text = text.strip()
        if language:
            reply.language = language
        reply.edited_by = actor.username
        reply.state, reply.approved_by, reply.approved_at = "draft", None, None
        reply.updated_at = desk.clock()
        s.add(reply)
        audit(
            s,
            at=desk.clock(),
            city_id=city_id,
            actor=actor.username,
            action="reply.edit",
            object_type="reply",
            object_id=reply_id,
            details={"old": old, "new": reply.text, "was": old_state},
        )
        s.commit()
        return reply


def _approve(s: Session, desk: ReplyDesk, actor: Actor, reply: Reply, *, bulk: bool) -> None:
    if reply.state != "draft":
        raise InvalidTransition(f"only a draft can be approved (this one is {reply.state})")
    check_sendable(reply, s.get(Post, reply.post_id))
    now = desk.clock()
    reply.state, reply.approved_by, reply.approved_at = "approved", actor.username, now
    reply.next_attempt_at, reply.attempts, reply.last_error = now, 0, None
    reply.updated_at = now
    s.add(reply)
    audit(
        s,
        at=desk.clock(),
        city_id=reply.city_id,
        actor=actor.username,
        action="reply.approve",
        object_type="reply",
        object_id=reply.id,
        details={"text": reply.text, "platform": reply.platform, "bulk": bulk},
    )


def approve_reply(desk: ReplyDesk, *, actor: Actor, city_id: int, reply_id: int) -> Reply:
    """Approve a draft (strategist and up): the outbox sends it next."""
    require(actor, city_id, "reply.approve")
    with Session(desk.engine, expire_on_commit=False) as s:
        reply = _load(s, city_id, reply_id)
        _approve(s, desk, actor, reply, bulk=False)
        s.commit()
        return reply


def bulk_approve(
    desk: ReplyDesk, *, actor: Actor, city_id: int, reply_ids: Iterable[int]
) -> BulkResult:
    """Approve many drafts at once (strategist and up); each is checked on its own and a
    refusal of one (too long, not a draft, post deleted) does not stop the others."""
    require(actor, city_id, "reply.bulk_approve")
    require(actor, city_id, "reply.approve")
    result = BulkResult()
    with Session(desk.engine, expire_on_commit=False) as s:
        for rid in dict.fromkeys(reply_ids):
            try:
                reply = _load(s, city_id, rid)
                _approve(s, desk, actor, reply, bulk=True)
                result.approved.append(rid)
            except ReplyError as exc:
                result.refused[rid] = str(exc)
        if result.approved:
            audit(
                s,
                at=desk.clock(),
                city_id=city_id,
                actor=actor.username,
                action="reply.bulk_approve",
                object_type="reply",
                details={"approved": result.approved, "refused": result.refused},
            )
        s.commit()
    return result


def dismiss_reply(
    desk: ReplyDesk, *, actor: Actor, city_id: int, reply_id: int, reason: str = ""
) -> Reply:
    """Drop a reply that should not be sent (staff and up)."""
    require(actor, city_id, "reply.edit")
    with Session(desk.engine, expire_on_commit=False) as s:
        reply = _load(s, city_id, reply_id)
        if reply.state not in ("draft", "approved", "failed"):
            raise InvalidTransition(f"a {reply.state} reply cannot be dismissed")
        old_state = reply.state
        reply.state, reply.updated_at = "dismissed", desk.clock()
        s.add(reply)
        audit(
            s,
            at=desk.clock(),
            city_id=city_id,
            actor=actor.username,
            action="reply.dismiss",
            object_type="reply",
            object_id=reply_id,
            details={"was": old_state, "reason": reason},
        )
        s.commit()
        return reply


def retry_reply(desk: ReplyDesk, *, actor: Actor, city_id: int, reply_id: int) -> Reply:
    """Put a failed reply back in the outbox (strategist and up)."""
    require(actor, city_id, "reply.send")
    with Session(desk.engine, expire_on_commit=False) as s:
        reply = _load(s, city_id, reply_id)
        if reply.state != "failed":
            raise InvalidTransition(
                f"only a failed reply can be retried (this one is {reply.state})"
            )
        check_sendable(reply, s.get(Post, reply.post_id))
        now = desk.clock()
        reply.state, reply.attempts, reply.next_attempt_at = "approved", 0, now
        reply.approved_by, reply.approved_at, reply.updated_at = actor.username, now, now
        s.add(reply)
        audit(
            s,
            at=desk.clock(),
            city_id=city_id,
            actor=actor.username,
            action="reply.retry",
            object_type="reply",
            object_id=reply_id,
            details={"last_error": reply.last_error},
        )
        s.commit()
        return reply


def send_now(desk: ReplyDesk, *, actor: Actor, city_id: int, reply_id: int) -> Reply:
    """Approve (when still a draft) and send at once (strategist and up)."""
    from responders.replies.outbox import run_outbox

    require(actor, city_id, "reply.send")
    with Session(desk.engine, expire_on_commit=False) as s:
        reply = _load(s, city_id, reply_id)
        if reply.state == "draft":
            require(actor, city_id, "reply.approve")
            _approve(s, desk, actor, reply, bulk=False)
            s.commit()
        elif reply.state == "failed":
            s.close()
            retry_reply(desk, actor=actor, city_id=city_id, reply_id=reply_id)
        elif reply.state != "approved":
            raise InvalidTransition(f"a {reply.state} reply cannot be sent")
    run_outbox(desk, only=[reply_id], ignore_schedule=True)
    with Session(desk.engine, expire_on_commit=False) as s:
        return _load(s, city_id, reply_id)
