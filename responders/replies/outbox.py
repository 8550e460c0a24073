"""The reply outbox: approved rows are claimed, posted and recorded, so a crash or an outage
never sends a reply twice and never loses an approved one.

1. **Claim**: ``approved → sending`` a batch at a time, in its own committed transaction
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL so workers take disjoint batches; an UPDATE
   guarded by the state everywhere, so two workers never claim the same row); ``attempts``
   counts the try. Claimed rows a pass does not get to are given back as they were.
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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from models.store import audit, lock_for_write
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
CLAIM_BATCH = 20  # replies claimed per transaction


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


def _due(now: datetime, ignore_schedule: bool) -> tuple[Any, Any]:
    """(approved and due, ``sending`` whose lease expired): the two kinds of work."""
    c = REPLY.c
    approved = c.state == "approved"
    if not ignore_schedule:
        approved = sa.and_(approved, sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
    stale = sa.and_(c.state == "sending", c.updated_at < now - LEASE)
    return approved, stale


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
    approved, stale = _due(now, ignore_schedule)
    q = sa.select(c.id).where(sa.or_(approved, stale))
    if only is not None:
        q = q.where(c.id.in_(list(only)))
    q = q.order_by(c.approved_at, c.id).limit(limit)
    with desk.engine.connect() as conn:
        return [int(r) for r in conn.execute(q).scalars()]


@dataclass(slots=True)
class Claim:
    """A reply this process took: what it was before (to give it back untried)."""

    id: int
    platform: str
    state: str  # before the claim: approved, or sending (lease expired)
    updated_at: datetime
    # seconds since an attempt that may already have reached the platform, or None
    uncertain: float | None


def claim_due(
    desk: ReplyDesk,
    *,
    now: datetime,
    limit: int,
    only: Sequence[int] | None = None,
    ignore_schedule: bool = False,
    exclude: Collection[int] = (),
) -> tuple[list[Claim], list[tuple[int, str]]]:
    """Take up to ``limit`` due replies for this process in one short transaction.

    Returns (the claimed rows, now ``sending``; due rows left alone because their platform
    is paused by a rate limit). On PostgreSQL the due rows are read ``FOR UPDATE SKIP
    LOCKED`` so several workers take disjoint batches without waiting; on SQLite the
    transaction holds the single write lock. Either way each UPDATE repeats the condition
    it was chosen by (compare and set), so a reply is never claimed twice, lock or not.
    """
    c = REPLY.c
    approved, stale = _due(now, ignore_schedule)
    q = sa.select(c.id, c.platform, c.state, c.last_error, c.updated_at).where(
        sa.or_(approved, stale)
    )
    if only is not None:
        q = q.where(c.id.in_(list(only)))
    if exclude:
        q = q.where(c.id.not_in(list(exclude)))
    q = q.order_by(c.approved_at, c.id).limit(limit)
    paused_rows: list[tuple[int, str]] = []
    claims: list[Claim] = []
    with desk.engine.begin() as conn:
        lock_for_write(conn)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        fresh: dict[int, Claim] = {}
        rows = conn.execute(q).all()
        for rid, platform, state, last_error, updated_at in rows:
            paused = desk.paused_until.get(platform)
            if paused is not None and paused > now:
                paused_rows.append((rid, platform))
                continue
            if state == "approved":
                ambiguous = bool(last_error and last_error.startswith(UNCERTAIN))
                uncertain = (now - updated_at).total_seconds() if ambiguous else None
                fresh[rid] = Claim(rid, platform, state, updated_at, uncertain)
                continue
            res = conn.execute(  # an expired lease: taken only if nobody took it meanwhile
                REPLY.update()
                .where(c.id == rid, c.state == "sending", c.updated_at == updated_at)
                .values(attempts=c.attempts + 1, updated_at=now)
            )
            if res.rowcount == 1:
                claims.append(
                    Claim(rid, platform, state, updated_at, (now - updated_at).total_seconds())
                )
        if fresh:
            taken = set(
                conn.execute(
                    REPLY.update()
                    .where(c.id.in_(list(fresh)), approved)
                    .values(state="sending", attempts=c.attempts + 1, updated_at=now)
                    .returning(c.id)
                ).scalars()
            )
            claims.extend(fresh[rid] for rid in fresh if rid in taken)
    order = {row[0]: i for i, row in enumerate(rows)}
    claims.sort(key=lambda cl: order[cl.id])  # the outbox's order: oldest approval first
    return claims, paused_rows


def release(desk: ReplyDesk, claims: Sequence[Claim], claimed_at: datetime) -> None:
    """Give claimed replies back untried, as they were (state, lease time, attempts)."""
    if not claims:
        return
    c = REPLY.c
    with desk.engine.begin() as conn:
        conn.execute(
            REPLY.update()
            .where(
                c.id == sa.bindparam("b_id"),
                c.state == "sending",
                c.updated_at == sa.bindparam("b_claimed_at"),
            )
            .values(
                state=sa.bindparam("b_state"),
                updated_at=sa.bindparam("b_updated_at"),
                attempts=c.attempts - 1,
            ),
            [
                {
                    "b_id": cl.id,
                    "b_claimed_at": claimed_at,
                    "b_state": cl.state,
                    "b_updated_at": cl.updated_at,
                }
                for cl in claims
            ],
        )


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
    if not desk.sends_for_real(reply.platform, reply.city_id):
        _record_sent(desk, reply_id, None, dry_run=True)
        report.dry_run.append(reply_id)
        return
    sender = desk.senders_for(reply.city_id)[reply.platform]
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
    """Send every reply that is due (the ``send_replies`` job), claiming :data:`CLAIM_BATCH`
    at a time; each reply is tried at most once a pass."""
    report = OutboxReport()
    now = desk.clock()
    seen: set[int] = set()
    while len(seen) < limit:
        claims, paused = claim_due(
            desk,
            now=now,
            limit=min(CLAIM_BATCH, limit - len(seen)),
            only=only,
            ignore_schedule=ignore_schedule,
            exclude=seen,
        )
        for reply_id, platform in paused:
            seen.add(reply_id)
            resets = desk.paused_until[platform]
            report.deferred[reply_id] = f"{platform} rate limit until {resets.isoformat()}"
        if not claims:
            if not paused:
                break
            continue
        seen.update(cl.id for cl in claims)
        pending = list(claims)
        try:
            while pending:
                claim = pending.pop(0)  # from here on it may reach the platform
                until = desk.paused_until.get(claim.platform)
                if until is not None and until > now:  # a 429 earlier in this batch
                    release(desk, [claim], now)
                    report.deferred[claim.id] = (
                        f"{claim.platform} rate limit until {until.isoformat()}"
                    )
                else:
                    send_one(desk, claim.id, uncertain=claim.uncertain, report=report)
        finally:
            release(desk, pending, now)  # untried when the pass was cut short
    if report.sent or report.failed or report.recovered:
        log.info("reply outbox: %s", report.as_dict())
    return report
