"""Set-based drafting for the hooks: a batch of newly labelled posts, a batch of case events.

The rules are those of :mod:`responders.replies.drafts` (template choice, the auto-send
rule, redrafting with the case number, the follow-up); this module applies them to a whole
batch with a handful of Core statements: one read each for the posts, their cases, their
replies and the city's templates, then one bulk insert of new replies, one executemany of
changed replies and one bulk insert of audit events, all in one transaction. The hooks run
after every classified batch, so this is the hot path of the acting side.

Replies are held in memory as :class:`ReplyRow` while a batch is worked; a reply drafted for
one case is seen by the next case of the same batch, exactly as if the events had been
delivered one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import bulk
from models.auth import SYSTEM
from models.store import POST, lock_reply_drafting
from models.tables import AuditEvent, Reply, ReplyTemplate, ServiceRequest
from responders.replies.desk import ReplyDesk
from responders.replies.templates import Rendered

log = logging.getLogger(__name__)
REPLY = Reply.__table__  # type: ignore[attr-defined]
CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
TEMPLATES = ReplyTemplate.__table__  # type: ignore[attr-defined]
CHUNK = 900  # ids per IN list: well under SQLite's bound-parameter limit
_POST_COLUMNS = (
    "id",
    "city_id",
    "platform",
    "author",
    "language",
    "detected_language",
    "neighborhood",
    "topic",
    "urgency",
    "relevant",
    "needs_review",
    "deleted_at",
    "status",
    "case_id",
)
_CHANGED = ("case_id", "text", "template_key", "language", "state", "updated_at")


@dataclass(slots=True)
class PostRow:
    """The post fields drafting reads (the attributes :func:`drafts.compose` uses)."""

    id: int
    city_id: int
    platform: str
    author: str
    language: str | None
    detected_language: str | None
    neighborhood: str | None
    topic: str | None
    urgency: str | None
    relevant: bool | None
    needs_review: bool
    deleted_at: datetime | None
    status: str
    case_id: int | None


@dataclass(slots=True)
class CaseRow:
    id: int
    city_id: int
    post_id: int | None
    open311_id: str | None


@dataclass(slots=True)
class TemplateRow:
    key: str
    language: str
    body: str


@dataclass(slots=True)
class ReplyRow:
    """A reply while a batch is worked; ``id`` is negative until the row is inserted."""

    id: int
    post_id: int
    kind: str
    state: str
    language: str
    template_key: str | None
    text: str
    edited_by: str | None
    case_id: int | None
    platform: str
    updated_at: datetime | None = None
    row: dict[str, Any] | None = None  # the insert of a reply drafted in this batch


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def _post_select() -> sa.Select:
    return sa.select(*(POST.c[name] for name in _POST_COLUMNS))


def _posts(conn: Connection, where: Iterable[Any], ids: Sequence[int]) -> list[PostRow]:
    out: list[PostRow] = []
    for chunk in _chunks(ids):
        q = _post_select().where(POST.c.id.in_(chunk), *where).order_by(POST.c.id)
        out.extend(PostRow(**row._mapping) for row in conn.execute(q))
    out.sort(key=lambda p: p.id)
    return out


def _templates(conn: Connection, city_id: int) -> list[TemplateRow]:
    t = TEMPLATES.c
    return [
        TemplateRow(key=r.key, language=r.language, body=r.body)
        for r in conn.execute(sa.select(t.key, t.language, t.body).where(t.city_id == city_id))
    ]


def _case_rows(conn: Connection, where: Iterable[Any]) -> list[CaseRow]:
    c = CASES.c
    q = sa.select(c.id, c.city_id, c.post_id, c.open311_id).where(*where).order_by(c.id)
    return [CaseRow(**row._mapping) for row in conn.execute(q)]


def cases_for_posts(conn: Connection, posts: Sequence[PostRow]) -> dict[int, CaseRow]:
    """:func:`drafts.case_for_post` for many posts: the post's own case (same city), else
    the newest case drafted from it."""
    found: dict[int, CaseRow] = {}
    linked = sorted({p.case_id for p in posts if p.case_id is not None})
    by_id: dict[int, CaseRow] = {}
    for chunk in _chunks(linked):
        by_id.update((c.id, c) for c in _case_rows(conn, [CASES.c.id.in_(chunk)]))
    rest: list[PostRow] = []
    for p in posts:
        case = by_id.get(p.case_id) if p.case_id is not None else None
        if case is not None and case.city_id == p.city_id:
            found[p.id] = case
        else:
            rest.append(p)
    cities = {p.city_id for p in rest}
    for city_id in cities:
        ids = [p.id for p in rest if p.city_id == city_id]
        for chunk in _chunks(ids):
            # ascending ids: the newest case of each post is the last one written
            for case in _case_rows(conn, [CASES.c.post_id.in_(chunk), CASES.c.city_id == city_id]):
                assert case.post_id is not None
                found[case.post_id] = case
    return found


def replies_of(conn: Connection, post_ids: Sequence[int]) -> dict[int, list[ReplyRow]]:
    """Every reply of the posts, oldest first, by post."""
    r = REPLY.c
    out: dict[int, list[ReplyRow]] = {pid: [] for pid in post_ids}
    cols = (
        r.id,
        r.post_id,
        r.kind,
        r.state,
        r.language,
        r.template_key,
        r.text,
        r.edited_by,
        r.case_id,
        r.platform,
    )
    for chunk in _chunks(list(post_ids)):
        for row in conn.execute(sa.select(*cols).where(r.post_id.in_(chunk)).order_by(r.id)):
            out[row.post_id].append(ReplyRow(**row._mapping))
    return out


class Writes:
    """What a batch changes, written in three statements at the end."""

    def __init__(self, desk: ReplyDesk) -> None:
        self.desk = desk
        self.new: list[tuple[ReplyRow, dict[str, Any]]] = []
        self.audits: list[dict[str, Any]] = []
        self.changed: dict[int, ReplyRow] = {}

    def audit(
        self, *, city_id: int, actor: str, action: str, reply_id: int, details: dict[str, Any]
    ) -> None:
        self.audits.append(
            {
                "city_id": city_id,
                "at": self.desk.clock(),
                "actor": actor,
                "action": action,
                "object_type": "reply",
                "object_id": reply_id,  # made a string (the real id) in flush
                "details": details,
            }
        )

    def new_reply(
        self,
        post: PostRow,
        case: CaseRow | None,
        rendered: Rendered,
        *,
        kind: str,
        actor: str,
    ) -> ReplyRow:
        """A draft (as :func:`drafts._new_reply`), with its ``reply.draft`` audit event."""
        from responders.replies.drafts import new_key

        now = self.desk.clock()
        reply = ReplyRow(
            id=-(len(self.new) + 1),
            post_id=post.id,
            kind=kind,
            state="draft",
            language=rendered.language,
            template_key=rendered.key,
            text=rendered.text,
            edited_by=None,
            case_id=case.id if case is not None else None,
            platform=post.platform,
        )
        reply.row = row = {
            "city_id": post.city_id,
            "post_id": post.id,
            "case_id": reply.case_id,
            "kind": kind,
            "platform": post.platform,
            "language": reply.language,
            "template_key": reply.template_key,
            "text": reply.text,
            "state": "draft",
            "idempotency_key": new_key(),
            "attempts": 0,
            "next_attempt_at": None,
            "dry_run": False,
            "drafted_by": actor,
            "edited_by": None,
            "approved_by": None,
            "approved_at": None,
            "created_at": now,
            "updated_at": now,
        }
        self.new.append((reply, row))
        self.audit(
            city_id=post.city_id,
            actor=actor,
            action="reply.draft",
            reply_id=reply.id,
            details={
                "post_id": post.id,
                "kind": kind,
                "template": reply.template_key,
                "language": reply.language,
                "text": reply.text,
            },
        )
        return reply

    def approve_new(self, reply: ReplyRow, city_id: int, actor: str) -> None:
        """The auto-send rule approved a reply drafted in this batch."""
        assert reply.row is not None
        now = self.desk.clock()
        reply.state = "approved"
        reply.row.update(
            state="approved",
            approved_by=actor,
            approved_at=now,
            next_attempt_at=now,
            updated_at=now,
        )
        self.audit(
            city_id=city_id,
            actor=actor,
            action="reply.auto_approve",
            reply_id=reply.id,
            details={"rule": "reply_auto_send_topics", "template": reply.template_key},
        )

    def touch(self, reply: ReplyRow) -> None:
        reply.updated_at = self.desk.clock()
        if reply.row is not None:
            reply.row.update({k: getattr(reply, k) for k in _CHANGED})
        else:
            self.changed[reply.id] = reply

    def flush(self, conn: Connection) -> None:
        real: dict[int, int] = {}
        if self.new:
            # mapped back by idempotency key: multi-row statements, no per-row ordering
            stmt = REPLY.insert().returning(REPLY.c.id, REPLY.c.idempotency_key)
            ids = {key: rid for rid, key in conn.execute(stmt, [row for _, row in self.new])}
            for reply, row in self.new:
                real[reply.id] = ids[row["idempotency_key"]]
                reply.id, reply.row = real[reply.id], None
        if self.changed:
            conn.execute(
                REPLY.update()
                .where(REPLY.c.id == sa.bindparam("b_id"))
                .values({k: sa.bindparam(k) for k in _CHANGED}),
                [
                    {"b_id": r.id, **{k: getattr(r, k) for k in _CHANGED}}
                    for r in self.changed.values()
                ],
            )
        if self.audits:
            for a in self.audits:
                oid = int(a["object_id"])
                a["object_id"] = str(real.get(oid, oid))
            bulk.insert_dicts(conn, AUDIT, self.audits)


# --------------------------------------------------------------------------- after classify


def draft_classified(desk: ReplyDesk, city_id: int, post_ids: Sequence[int]) -> int:
    """:func:`drafts.on_classified` for a batch: one draft for each actionable post."""
    from responders.replies.drafts import RULE_ACTOR, auto_send_applies, compose

    if not post_ids:
        return 0
    writes = Writes(desk)
    with desk.engine.begin() as conn:
        # hold the city's drafting lock from the read of who has a reply to the insert, so a
        # "linked" event of another worker cannot draft the same post's reply in between
        lock_reply_drafting(conn, city_id)
        posts = _posts(
            conn,
            [
                POST.c.city_id == city_id,
                POST.c.deleted_at.is_(None),
                sa.or_(POST.c.relevant.is_(True), POST.c.urgency == "emergency"),
                POST.c.status.in_(("new", "triaged")),
            ],
            list(post_ids),
        )
        if not posts:
            return 0
        r = REPLY.c
        replied: set[int] = set()
        for chunk in _chunks([p.id for p in posts]):
            replied.update(
                conn.execute(
                    sa.select(r.post_id).where(r.post_id.in_(chunk), r.kind == "reply")
                ).scalars()
            )
        todo = [p for p in posts if p.id not in replied]
        cases = cases_for_posts(conn, todo)
        templates = _templates(conn, city_id)
        for post in todo:
            case = cases.get(post.id)
            rendered = compose(desk, post, case, kind="reply", templates=templates)
            if rendered is None:
                continue
            reply = writes.new_reply(post, case, rendered, kind="reply", actor=SYSTEM.username)
            if auto_send_applies(desk, post, reply) and _fits(reply):
                writes.approve_new(reply, post.city_id, RULE_ACTOR)
        writes.flush(conn)
    return len(writes.new)


def _fits(reply: ReplyRow) -> bool:
    from responders.replies.length import measure

    return measure(reply.platform, reply.text).ok and "{" not in reply.text


# --------------------------------------------------------------------------- case events


def case_events(desk: ReplyDesk, event: str, city_id: int, case_ids: Sequence[int]) -> int:
    """:func:`drafts.on_case_event` for many cases of one city; returns replies touched."""
    ids = list(dict.fromkeys(case_ids))
    if not ids:
        return 0
    writes = Writes(desk)
    touched = 0
    with desk.engine.begin() as conn:
        lock_reply_drafting(conn, city_id)  # as in draft_classified: read and write as one
        found: dict[int, CaseRow] = {}
        for chunk in _chunks(ids):
            found.update((c.id, c) for c in _case_rows(conn, [CASES.c.id.in_(chunk)]))
        cases: list[CaseRow] = []
        for case_id in ids:
            case = found.get(case_id)
            if case is None or case.city_id != city_id:
                log.warning("case event %s for unknown case %s", event, case_id)
                continue
            cases.append(case)
        if not cases:
            return 0
        posts = _case_posts(conn, city_id, cases, settled_skipped=event in ("filed", "linked"))
        replies = replies_of(conn, sorted({p.id for ps in posts.values() for p in ps}))
        templates = _templates(conn, city_id)
        for case in cases:
            for post in posts[case.id]:
                if event in ("filed", "linked"):
                    touched += _with_case_number(
                        writes, desk, post, case, replies[post.id], templates
                    )
                elif event == "closed":
                    touched += _follow_up(writes, desk, post, case, replies[post.id], templates)
        writes.flush(conn)
    return touched


def _case_posts(
    conn: Connection, city_id: int, cases: Sequence[CaseRow], *, settled_skipped: bool = False
) -> dict[int, list[PostRow]]:
    """Each case's posts that still exist: those linked to it and the one it was drafted from.

    ``settled_skipped`` leaves out posts whose first reply already carries this case or is no
    longer a draft: a "filed" or "linked" event has nothing to change there, and skipping them
    keeps each event's cost to the posts it concerns (a case that many residents report is
    linked once per report; reading all its posts each time would grow with the square).
    """
    ids = [c.id for c in cases]
    origins = [c.post_id for c in cases if c.post_id is not None]
    rows: dict[int, PostRow] = {}
    live = [POST.c.city_id == city_id, POST.c.deleted_at.is_(None)]
    if settled_skipped:
        r = REPLY.c
        live.append(
            ~sa.exists().where(
                r.post_id == POST.c.id,
                r.kind == "reply",
                sa.or_(r.case_id == POST.c.case_id, r.state != "draft"),
            )
        )
    for chunk in _chunks(ids):
        q = _post_select().where(POST.c.case_id.in_(chunk), *live)
        rows.update((r.id, PostRow(**r._mapping)) for r in conn.execute(q))
    for chunk in _chunks(origins):
        q = _post_select().where(POST.c.id.in_(chunk), *live)
        rows.update((r.id, PostRow(**r._mapping)) for r in conn.execute(q))
    ordered = sorted(rows.values(), key=lambda p: p.id)
    return {
        case.id: [p for p in ordered if p.case_id == case.id or p.id == case.post_id]
        for case in cases
    }


def _with_case_number(
    writes: Writes,
    desk: ReplyDesk,
    post: PostRow,
    case: CaseRow,
    replies: list[ReplyRow],
    templates: Sequence[TemplateRow],
) -> int:
    from responders.replies.drafts import compose

    initial = [r for r in replies if r.kind == "reply"]
    if not initial:
        if not (post.relevant or post.urgency == "emergency"):
            return 0
        rendered = compose(desk, post, case, kind="reply", templates=templates)
        if rendered is None:
            return 0
        replies.append(writes.new_reply(post, case, rendered, kind="reply", actor=SYSTEM.username))
        return 1
    touched = 0
    for reply in initial:
        if reply.state != "draft":
            continue
        reply.case_id = case.id
        if reply.edited_by is None and reply.template_key != "urgency:emergency":
            rendered = compose(
                desk, post, case, kind="reply", templates=templates, language=reply.language
            )
            if rendered is not None and rendered.text != reply.text:
                old = reply.text
                reply.text, reply.template_key, reply.language = (
                    rendered.text,
                    rendered.key,
                    rendered.language,
                )
                writes.audit(
                    city_id=post.city_id,
                    actor=SYSTEM.username,
                    action="reply.redraft",
                    reply_id=reply.id,
                    details={
                        "case_id": case.id,
                        "case_number": case.open311_id,
                        "old": old,
                        "new": reply.text,
                    },
                )
        writes.touch(reply)
        touched += 1
    return touched


def _follow_up(
    writes: Writes,
    desk: ReplyDesk,
    post: PostRow,
    case: CaseRow,
    replies: list[ReplyRow],
    templates: Sequence[TemplateRow],
) -> int:
    from responders.replies.drafts import compose

    touched = 0
    for reply in replies:
        if reply.kind == "reply" and reply.state == "draft":
            reply.state = "dismissed"
            writes.touch(reply)
            writes.audit(
                city_id=post.city_id,
                actor=SYSTEM.username,
                action="reply.dismiss",
                reply_id=reply.id,
                details={"reason": "the case closed before the reply was approved"},
            )
            touched += 1
    if any(r.kind == "followup" and r.state != "dismissed" for r in replies):
        return touched
    first = next((r for r in replies if r.kind == "reply"), None)
    language = first.language if first is not None else None
    rendered = compose(desk, post, case, kind="followup", templates=templates, language=language)
    if rendered is None:
        return touched
    replies.append(writes.new_reply(post, case, rendered, kind="followup", actor=SYSTEM.username))
    return touched + 1
