"""The reply outbox: approved rows are claimed, posted and recorded, so a crash or an outage
never sends a reply twice and never loses an approved one.

1. **Claim**: ``approved → sending`` in its own committed transaction (an UPDATE guarded by
   the state, so two workers never claim the same row); ``attempts`` counts the try.
2. **Post** through the platform's sender, or, in dry run or without credentials, record
   it as it would have been sent (``dry_run``).
3. **Record**: ``sending → sent`` with the platform's id (which the pipeline uses to never
   import it back), the post marked answered, an audit event.

A row still ``sending`` after :data:`LEASE` belonged to a process that died between 2 and 3.
It is taken again; before posting, platforms without idempotency (X, Bluesky, Reddit) read
the thread for the city's own reply and record that instead of posting twice, and Mastodon
is sent the same ``Idempotency-Key``. The same check runs when the last attempt lost its
connection (the platform may have stored the reply).

Errors: a 429 waits for the platform's reset (the whole platform pauses, the attempt is not
counted); an outage or refused credentials retry with backoff up to ``reply_max_attempts``,
then fail; a refusal (bad request, deleted parent, too long) fails at once with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from models.store import audit
from models.tables import Post, Reply
from responders.replies.desk import ReplyDesk
from responders.replies.errors import (
    AuthRefused,
    RateLimited,
    ReplyInvalid,
    SendError,
    SendRejected,
    SendUnavailable,
)
from responders.replies.senders.base import OutgoingReply, ReplyTarget, SentReceipt

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
SYSTEM_ACTOR = "outbox"
UNCERTAIN = "unavailable"  # last_error prefix: the platform may have stored the reply
REPLY = Reply.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class OutboxReport:
    sent: list[int] = field(default_factory=list)
    dry_run: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    deferred: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": len(self.sent),
            "dry_run": len(self.dry_run),
            "recovered": len(self.recovered),
            "failed": len(self.failed),
            "deferred": len(self.deferred),
        }


def backoff_seconds(attempts: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))


def due_ids(
    desk: ReplyDesk,
    *,
    now: datetime,
    limit: int,
    only: Sequence[int] | None = None,
    ignore_schedule: bool = False,
) -> list[int]:
    """Approved replies whose time has come, and ``sending`` rows whose lease expired."""
    c = REPLY.c
    approved = c.state == "approved"
    if not ignore_schedule:
        approved = sa.and_(approved, sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
    stale = sa.and_(c.state == "sending", c.updated_at < now - LEASE)
    q = sa.select(c.id).where(sa.or_(approved, stale))
    if only is not None:
        q = q.where(c.id.in_(list(only)))
    q = q.order_by(c.approved_at, c.id).limit(limit)
    with desk.engine.connect() as conn:
        return [int(r) for r in conn.execute(q).scalars()]


def _claim(
    desk: ReplyDesk, reply_id: int, now: datetime, ignore_schedule: bool
) -> tuple[bool, float | None]:
    """Take the row for this process. Returns (claimed, seconds since an attempt that may
    already have reached the platform, or None when no earlier attempt can have)."""
    c = REPLY.c
    with desk.engine.begin() as conn:
        row = conn.execute(
            sa.select(c.state, c.last_error, c.updated_at, c.next_attempt_at).where(
                c.id == reply_id
            )
        ).first()
        if row is None:
            return False, None
        state, last_error, updated_at, _ = row
        if state == "approved":
            cond = c.state == "approved"
            if not ignore_schedule:
                cond = sa.and_(cond, sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
            ambiguous = bool(last_error and last_error.startswith(UNCERTAIN))
            uncertain = (now - updated_at).total_seconds() if ambiguous else None
        elif state == "sending" and updated_at < now - LEASE:
            cond = sa.and_(c.state == "sending", c.updated_at == updated_at)
            uncertain = (now - updated_at).total_seconds()
        else:
            return False, None
        res = conn.execute(
            REPLY.update()
            .where(c.id == reply_id, cond)
            .values(state="sending", attempts=c.attempts + 1, updated_at=now)
        )
        return res.rowcount == 1, uncertain


def _target(post: Post) -> ReplyTarget:
    return ReplyTarget(
        platform=post.platform,
        external_id=post.external_id,
        author=post.author,
        created_at=post.created_at,
        url=post.url,
        conversation_id=post.conversation_id,
        in_reply_to_id=post.in_reply_to_id,
        raw=post.raw,
    )


def _record_sent(
    desk: ReplyDesk,
    reply_id: int,
    receipt: SentReceipt | None,
    *,
    dry_run: bool,
    recovered: bool = False,
) -> None:
    """``sending → sent``: the platform id, the post answered, the audit event."""
    now = desk.clock()
    with Session(desk.engine) as s:
        reply = s.get(Reply, reply_id)
        if reply is None or reply.state != "sending":
            return
        reply.state, reply.sent_at, reply.updated_at = "sent", now, now
        reply.platform_reply_id = receipt.platform_id if receipt else None
        reply.dry_run, reply.last_error, reply.next_attempt_at = dry_run, None, None
        s.add(reply)
        post = s.get(Post, reply.post_id)
        if post is not None and post.status in ("new", "triaged"):
            post.status = "answered"
            s.add(post)
        audit(
            s,
            at=desk.clock(),
            city_id=reply.city_id,
            actor=reply.approved_by or SYSTEM_ACTOR,
            action="reply.send",
            object_type="reply",
            object_id=reply_id,
            details={
                "platform": reply.platform,
                "platform_reply_id": reply.platform_reply_id,
                "url": receipt.url if receipt else None,
                "dry_run": dry_run,
                "recovered": recovered,
                "attempts": reply.attempts,
                "text": reply.text,
            },
        )
        s.commit()


def _record_error(desk: ReplyDesk, reply_id: int, exc: Exception) -> tuple[str, str]:
    """Back to ``approved`` with a next attempt time, or ``failed``. Returns (state, reason)."""
    now = desk.clock()
    with Session(desk.engine) as s:
        reply = s.get(Reply, reply_id)
        if reply is None:
            return "missing", str(exc)
        if isinstance(exc, RateLimited):
            reason = f"rate limited: {exc}"
            reply.state, reply.attempts = "approved", max(0, reply.attempts - 1)
            reply.next_attempt_at = now + timedelta(seconds=exc.retry_after)
            desk.paused_until[reply.platform] = reply.next_attempt_at
        elif isinstance(exc, SendRejected | ReplyInvalid):
            reason = str(exc)
            reply.state = "failed"
        else:
            prefix = "credentials refused" if isinstance(exc, AuthRefused) else UNCERTAIN
            reason = f"{prefix}: {exc}"
            if reply.attempts >= desk.settings.reply_max_attempts:
                reply.state = "failed"
                reason = f"gave up after {reply.attempts} attempts; {reason}"
            else:
                reply.state = "approved"
                reply.next_attempt_at = now + timedelta(seconds=backoff_seconds(reply.attempts))
        reply.last_error, reply.updated_at = reason[:2000], now
        s.add(reply)
        audit(
            s,
            at=desk.clock(),
            city_id=reply.city_id,
            actor=SYSTEM_ACTOR,
            action="reply.fail" if reply.state == "failed" else "reply.send_deferred",
            object_type="reply",
            object_id=reply_id,
            details={
                "platform": reply.platform,
                "reason": reason,
                "attempts": reply.attempts,
                "next_attempt_at": reply.next_attempt_at.isoformat()
                if reply.state == "approved" and reply.next_attempt_at
                else None,
            },
        )
        s.commit()
        return reply.state, reason


def send_one(
    desk: ReplyDesk, reply_id: int, *, uncertain: float | None, report: OutboxReport
) -> None:
    """Post one claimed (``sending``) reply and record the outcome."""
    from responders.replies.workflow import check_sendable

    with Session(desk.engine, expire_on_commit=False) as s:
        reply = s.get(Reply, reply_id)
        assert reply is not None
        post = s.get(Post, reply.post_id)
    try:
        check_sendable(reply, post)
    except ReplyInvalid as exc:
        state, reason = _record_error(desk, reply_id, exc)
        report.failed[reply_id] = reason
        return
    assert post is not None
    if not desk.sends_for_real(reply.platform):
        _record_sent(desk, reply_id, None, dry_run=True)
        report.dry_run.append(reply_id)
        return
    sender = desk.senders[reply.platform]
    out = OutgoingReply(
        reply_id=reply_id,
        text=reply.text.strip(),
        language=reply.language,
        idempotency_key=reply.idempotency_key,
        target=_target(post),
    )
    try:
        # an earlier attempt may have posted it: look in the thread, unless the platform's
        # idempotency key still covers a re-send
        key_valid = sender.idempotent and (uncertain or 0.0) < 0.9 * sender.idempotency_seconds
        if uncertain is not None and not key_valid:
            found = sender.find_existing(out)
            if found is not None:
                log.info(
                    "reply %s was already on %s as %s", reply_id, reply.platform, found.platform_id
                )
                _record_sent(desk, reply_id, found, dry_run=False, recovered=True)
                report.recovered.append(reply_id)
                return
        receipt = sender.send(out)
    except SendError as exc:
        state, reason = _record_error(desk, reply_id, exc)
        (report.failed if state == "failed" else report.deferred)[reply_id] = reason
        return
    except Exception as exc:  # a bug in a sender must not lose the reply
        log.exception("sender %s crashed on reply %s", reply.platform, reply_id)
        state, reason = _record_error(desk, reply_id, SendUnavailable(repr(exc)))
        (report.failed if state == "failed" else report.deferred)[reply_id] = reason
        return
    _record_sent(desk, reply_id, receipt, dry_run=False)
    report.sent.append(reply_id)


def run_outbox(
    desk: ReplyDesk,
    *,
    limit: int = 100,
    only: Sequence[int] | None = None,
    ignore_schedule: bool = False,
) -> OutboxReport:
    """Send every reply that is due (the ``send_replies`` job)."""
    report = OutboxReport()
    now = desk.clock()
    for reply_id in due_ids(desk, now=now, limit=limit, only=only, ignore_schedule=ignore_schedule):
        with Session(desk.engine) as s:
            platform = s.exec(select(Reply.platform).where(Reply.id == reply_id)).first()
        paused = desk.paused_until.get(platform or "")
        if paused is not None and paused > now:
            report.deferred[reply_id] = f"{platform} rate limit until {paused.isoformat()}"
            continue
        claimed, uncertain = _claim(desk, reply_id, now, ignore_schedule)
        if claimed:
            send_one(desk, reply_id, uncertain=uncertain, report=report)
    if report.sent or report.failed or report.recovered:
        log.info("reply outbox: %s", report.as_dict())
    return report
