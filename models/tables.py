"""The SQLModel tables. Every row belongs to a city (``city_id``); a single city is the one
default city. Timestamps are timezone-aware UTC (:class:`models.types.UTCDateTime`).

Families follow the ``XBase`` / ``X(table=True)`` / ``XPublic`` pattern where the console or
an export shows a row without its raw payload.

Indexes that find rows by a selective key within a city put ``city_id`` first :
SQLite plans without statistics and takes ``city_id = ?`` on a city's own index to be as
selective as ``case_id IN (...)`` on another, so a lookup of a few rows read every row of the
city (a case's posts when it was filed, the labels of a batch of posts, the city's sent replies).
An index on ``(city_id, key)`` is chosen over either, and it finds only the rows asked for.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


def _ts(*, nullable: bool = False, index: bool = False, default: bool = True) -> Any:
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime, "nullable": nullable, "index": index}
    if default and not nullable:
        kwargs["default_factory"] = utcnow
    else:
        kwargs["default"] = None
    return Field(**kwargs)


def _city(*, index: bool = True) -> Any:
    return Field(foreign_key="city.id", index=index, nullable=False)


class City(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=64)
    name: str
    timezone: str = "America/New_York"
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- posts


class PostBase(SQLModel):
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=255)
    author: str = Field(default="", max_length=255)
    text: str = ""
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = _ts()
    url: str | None = None
    in_reply_to_id: str | None = Field(default=None, max_length=255)
    conversation_id: str | None = Field(default=None, max_length=255)
    quote_of_id: str | None = Field(default=None, max_length=255)
    lat: float | None = None
    lon: float | None = None


class Post(PostBase, table=True):
    __table_args__ = (
        sa.UniqueConstraint("city_id", "platform", "external_id", name="uq_post_city_platform_id"),
        sa.Index("ix_post_inbox", "city_id", "urgency_rank", "created_at"),
        sa.Index("ix_post_city_created", "city_id", "created_at"),
        sa.Index("ix_post_city_topic_created", "city_id", "topic", "created_at"),
        sa.Index("ix_post_pending", "city_id", "classified_at", "id"),
        # the console: open posts in triage order, threads, replies to a post
        sa.Index(
            "ix_post_open_triage",
            "city_id",
            "urgency_rank",
            "created_at",
            sqlite_where=sa.text("status IN ('new', 'triaged') AND deleted_at IS NULL"),
            postgresql_where=sa.text("status IN ('new', 'triaged') AND deleted_at IS NULL"),
        ),
        # the dashboard's aggregates read this index only (no table lookups)
        sa.Index(
            "ix_post_dashboard",
            "city_id",
            "created_at",
            "relevant",
            "sentiment",
            "topic",
            "neighborhood",
            "platform",
            "deleted_at",
        ),
        sa.Index("ix_post_conversation", "city_id", "conversation_id"),
        sa.Index("ix_post_reply_to", "city_id", "in_reply_to_id"),
        # a case's posts (city first: see above)
        sa.Index("ix_post_city_case", "city_id", "case_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    # provenance: how and when it was collected
    raw: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    source_name: str = Field(default="", max_length=64)
    collector_version: str = Field(default="", max_length=32)
    ingested_at: datetime = _ts()
    # triage state
    status: str = Field(default="new", max_length=16)  # new | triaged | dismissed | answered
    assigned_to: str | None = Field(default=None, max_length=64)
    repost_count: int = 0
    deleted_at: datetime | None = _ts(nullable=True)
    case_id: int | None = None  # the linked ServiceRequest
    # current labels, copied from the newest classification for indexed inbox queries
    classified_at: datetime | None = _ts(nullable=True)
    relevant: bool | None = None
    topic: str | None = Field(default=None, max_length=32)
    urgency: str | None = Field(default=None, max_length=16)
    urgency_rank: int = 9  # 0 emergency, 1 high, 2 normal, 3 low, 9 unclassified
    sentiment: str | None = Field(default=None, max_length=16)
    detected_language: str | None = Field(default=None, max_length=16)
    neighborhood: str | None = Field(default=None, max_length=64, index=True)
    location_text: str | None = None
    needs_review: bool = False


class PostPublic(PostBase):
    id: int
    city_id: int
    status: str
    topic: str | None
    urgency: str | None
    sentiment: str | None
    neighborhood: str | None


class Classification(SQLModel, table=True):
    """One label for one task of one post, stamped with the component that produced it.

    ``source`` is "model" for predictions and "human" for a person's correction; human
    labels are the feedback the next training run learns from.
    """

    __table_args__ = (
        sa.Index("ix_classification_post_task", "post_id", "task"),
        # a city's labels of given posts (city first: see above); also the index of its city
        sa.Index("ix_classification_city_post_task", "city_id", "post_id", "task"),
    )

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city(index=False)
    post_id: int = Field(foreign_key="post.id", nullable=False)
    task: str = Field(
        max_length=16
    )  # relevance | topic | urgency | sentiment | language | location
    label: str = Field(max_length=255)
    score: float = 0.0
    component: str = Field(default="", max_length=64)
    version: str = Field(default="", max_length=32)
    artifact_hash: str = Field(default="", max_length=64)
    evidence: list[Any] | dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    needs_review: bool = False
    source: str = Field(default="model", max_length=8)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- acting


class ServiceRequest(SQLModel, table=True):
    """An Open311 case: a row first, a network call second (outbox)."""

    # city first (see above); no index on city_id alone: SQLite chose it for the outbox's and the
    # duplicate search's ``ORDER BY id`` (within one key, an index keeps rows in id order) and
    # read every case of the city
    __table_args__ = (
        # the outbox's due cases of a city, in id order
        sa.Index("ix_case_outbox", "city_id", "status"),
        # duplicate search: the city's recent cases of the same services
        sa.Index("ix_case_city_service_created", "city_id", "service_code", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city(index=False)
    post_id: int | None = Field(default=None, foreign_key="post.id", index=True)
    service_code: str = Field(default="", max_length=64)
    service_name: str | None = None
    description: str = ""
    lat: float | None = None
    lon: float | None = None
    address_string: str | None = None
    attributes: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    media_url: str | None = None
    # pending (waits for a person) | queued (outbox) | filing | filed | failed | held
    # | not_filed (no endpoint) | open | closed | dismissed
    status: str = Field(default="pending", max_length=16, index=True)
    open311_id: str | None = Field(default=None, max_length=128, index=True)
    token: str | None = Field(default=None, max_length=128)
    external_status: str | None = Field(default=None, max_length=32)
    status_notes: list[Any] | None = Field(default=None, sa_type=JSONType)
    duplicate_of_id: int | None = Field(default=None, foreign_key="servicerequest.id")
    idempotency_key: str = Field(max_length=64, unique=True)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    last_error: str | None = None
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    filed_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    last_synced_at: datetime | None = _ts(nullable=True)


class CaseEvent(SQLModel, table=True):
    """One step in a case's history: a status change, a status note from 311, a person's action."""

    __table_args__ = (sa.Index("ix_caseevent_case_at", "case_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    case_id: int = Field(foreign_key="servicerequest.id", nullable=False)
    at: datetime = _ts()
    status: str = Field(max_length=16)
    external_status: str | None = Field(default=None, max_length=32)
    note: str | None = None
    actor: str = Field(default="system", max_length=64)


class Reply(SQLModel, table=True):
    """A reply to a resident: draft -> approved -> sent (or failed). A row first (outbox)."""

    __table_args__ = (
        sa.Index("ix_reply_outbox", "state", "next_attempt_at"),
        # response times: the first reply per post, read from the index alone in post order
        sa.Index("ix_reply_city_first", "city_id", "kind", "post_id", "sent_at"),
        # which of a batch's posts are the city's own replies (city first: see above)
        sa.Index("ix_reply_city_platform_reply", "city_id", "platform", "platform_reply_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    post_id: int = Field(foreign_key="post.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="servicerequest.id")
    kind: str = Field(default="reply", max_length=16)  # reply | followup
    platform: str = Field(max_length=16)
    language: str = Field(default="en", max_length=16)
    template_key: str | None = Field(default=None, max_length=128)
    text: str = ""
    # draft | approved | sending | sent | failed | dismissed
    state: str = Field(default="draft", max_length=16, index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    last_error: str | None = None
    platform_reply_id: str | None = Field(default=None, max_length=255)
    dry_run: bool = False
    drafted_by: str | None = Field(default=None, max_length=64)
    edited_by: str | None = Field(default=None, max_length=64)  # a person changed the text
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ReplyTemplate(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("city_id", "key", "language", name="uq_template_city_key_lang"),
    )

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    key: str = Field(max_length=128)  # e.g. "topic:pothole", "urgency:emergency", "followup"
    language: str = Field(default="en", max_length=16)
    body: str
    updated_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = _ts()


# --------------------------------------------------------------------------- operations


class AuditEvent(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_audit_city_at", "city_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    at: datetime = _ts()
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    object_type: str = Field(default="", max_length=32)
    object_id: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class SourceCursor(SQLModel, table=True):
    """Where a source stopped, plus its budgets and health, so a restart resumes."""

    __table_args__ = (sa.UniqueConstraint("city_id", "source_name", name="uq_cursor_city_source"),)

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    source_name: str = Field(max_length=64)
    cursor: str | None = None
    state: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    updated_at: datetime = _ts()


class ActionOutbox(SQLModel, table=True):
    """Labelled posts whose acting hooks (case triage, reply drafting) have not all run yet.

    Written in the transaction that stores the labels, deleted once every hook returned; a
    row that stays (a hook raised, the process died in between) is run again by the
    ``actions_retry`` job from ``next_attempt_at`` on, with a growing delay."""

    __table_args__ = (sa.Index("ix_actionoutbox_due", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    post_ids: list[int] = Field(sa_type=JSONType)
    created_at: datetime = _ts()
    next_attempt_at: datetime = _ts()
    attempts: int = 0
    last_error: str | None = None


class QuarantinedPayload(SQLModel, table=True):
    """A payload that could not be turned into a post: the raw bytes and the reason."""

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    source_name: str = Field(max_length=64)
    platform: str | None = Field(default=None, max_length=16)
    raw: bytes = Field(sa_type=sa.LargeBinary)
    reason: str
    received_at: datetime = _ts(index=True)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    display_name: str = ""
    password_hash: str = ""
    is_active: bool = True
    state_admin: bool = False  # sees every city's roll-up
    created_at: datetime = _ts()
    # sign-in: the verified e-mail an OIDC provider vouches for; failed attempts and lockout
    email: str | None = Field(default=None, max_length=255, index=True)
    failed_logins: int = 0
    locked_until: datetime | None = _ts(nullable=True)
    last_login_at: datetime | None = _ts(nullable=True)


class UserRole(SQLModel, table=True):
    """A person's role in one city: admin | strategist | staff | viewer."""

    __table_args__ = (sa.UniqueConstraint("user_id", "city_id", name="uq_role_user_city"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    city_id: int = _city()
    role: str = Field(max_length=16)


class ConsoleSession(SQLModel, table=True):
    """A signed-in console session. Only the token's SHA-256 is stored; a session ends when
    it is idle too long, reaches its maximum age, or is revoked (sign-out, deactivation)."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    method: str = Field(default="password", max_length=16)  # password | oidc | first-run
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class SavedView(SQLModel, table=True):
    """A named set of inbox filters; ``owner`` None means shared with the whole city team."""

    __table_args__ = (
        sa.UniqueConstraint("city_id", "owner", "name", name="uq_savedview_city_owner_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    owner: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=128)
    filters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = _ts()


class CitySettingOverride(SQLModel, table=True):
    """A city setting changed in the console (keywords, accounts, targets, thresholds).

    It takes precedence over the TOML file; every change is also an audit event."""

    __table_args__ = (sa.UniqueConstraint("city_id", "key", name="uq_override_city_key"),)

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    key: str = Field(max_length=64)
    value: Any = Field(default=None, sa_type=JSONType)
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = _ts()


class PostRollup(SQLModel, table=True):
    """How many classified, not deleted posts a city has per local day, relevance and
    sentiment, cut by one label at a time (``dimension``: topic, neighborhood, platform or
    urgency; ``value`` the label, "" when absent). Each counted post is in one row of every
    dimension. The dashboard reads it instead of grouping raw posts (:mod:`models.rollup`
    keeps it current); ``day`` is the calendar day in the city's time zone."""

    city_id: int = Field(foreign_key="city.id", primary_key=True)
    day: date = Field(primary_key=True)
    dimension: str = Field(max_length=16, primary_key=True)
    value: str = Field(default="", max_length=64, primary_key=True)
    relevant: bool = Field(primary_key=True)
    sentiment: str = Field(default="", max_length=16, primary_key=True)
    posts: int = 0


class JobState(SQLModel, table=True):
    """The scheduler's record of each job: last run, outcome, failures."""

    __table_args__ = (sa.UniqueConstraint("city_id", "name", name="uq_job_city_name"),)

    id: int | None = Field(default=None, primary_key=True)
    city_id: int = _city()
    name: str = Field(max_length=64)
    last_started_at: datetime | None = _ts(nullable=True)
    last_finished_at: datetime | None = _ts(nullable=True)
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = None
    runs: int = 0
    failures: int = 0


URGENCY_RANK = {"emergency": 0, "high": 1, "normal": 2, "low": 3}
ROLES = ("admin", "strategist", "staff", "viewer")
