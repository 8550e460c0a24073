"""Read-side queries for the console: indexed, paged, scoped to one city.

The inbox pages with a keyset (the last row's sort key), so page 20,000 costs what page 1
costs; the open-posts triage order is served by the partial index ``ix_post_open_triage``
(its condition is written literally below so SQLite can match it). The dashboard's counts
per day and label come from the rollup (:mod:`models.rollup`), not from grouping raw posts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models import rollup
from models.store import CLASSIFICATION, POST
from models.tables import URGENCY_RANK, QuarantinedPayload, Reply, ServiceRequest

REPLY = Reply.__table__  # type: ignore[attr-defined]
CASE = ServiceRequest.__table__  # type: ignore[attr-defined]

INBOX_COLUMNS = (
    "id",
    "platform",
    "author",
    "text",
    "created_at",
    "topic",
    "urgency",
    "urgency_rank",
    "sentiment",
    "neighborhood",
    "location_text",
    "status",
    "needs_review",
    "case_id",
    "assigned_to",
    "url",
)
OPEN_STATES = ("new", "triaged")
STATES = ("new", "triaged", "answered", "dismissed")
ORDERS = ("triage", "newest", "oldest")
# The partial index's condition, verbatim: SQLite uses a partial index only when the query
# repeats its terms (bound parameters would not match).
_OPEN_SQL = "status IN ('new', 'triaged') AND deleted_at IS NULL"
_ALL_RANKS = sorted({*URGENCY_RANK.values(), 9})


@dataclass(slots=True)
class InboxFilter:
    platforms: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    urgencies: list[str] = field(default_factory=list)
    sentiments: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    neighborhoods: list[str] = field(default_factory=list)
    relevant_only: bool = False
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    assigned_to: str | None = None  # a username, or "" for unassigned

    def where(self, city_id: int) -> list[Any]:
        c = POST.c
        cond: list[Any] = [c.city_id == city_id, c.deleted_at.is_(None)]
        statuses = list(self.statuses)
        if sorted(set(statuses)) == sorted(OPEN_STATES):
            cond.append(sa.text(_OPEN_SQL))
            statuses = []
        for col, values in (
            (c.platform, self.platforms),
            (c.topic, self.topics),
            (c.urgency, self.urgencies),
            (c.sentiment, self.sentiments),
            (c.status, statuses),
            (c.neighborhood, self.neighborhoods),
        ):
            if values:
                cond.append(col.in_(values))
        if self.relevant_only:
            cond.append(c.relevant.is_(True))
        if self.since is not None:
            cond.append(c.created_at >= self.since)
        if self.until is not None:
            cond.append(c.created_at < self.until)
        if self.search:
            escaped = self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            cond.append(c.text.ilike(f"%{escaped}%", escape="\\"))
        if self.assigned_to is not None:
            cond.append(
                c.assigned_to.is_(None)
                if self.assigned_to == ""
                else c.assigned_to == self.assigned_to
            )
        return cond

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (saved views)."""
        d = asdict(self)
        for k in ("since", "until"):
            if d[k] is not None:
                d[k] = d[k].isoformat()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboxFilter:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for k in ("since", "until"):
            if isinstance(known.get(k), str):
                known[k] = datetime.fromisoformat(known[k])
        return cls(**known)


def _order(order: str) -> tuple[list[Any], list[sa.ColumnElement[Any]], str]:
    """ORDER BY terms, the key columns, and the keyset direction for ``order``."""
    c = POST.c
    if order == "triage":
        cols = [c.urgency_rank, c.created_at, c.id]
        return [col.asc() for col in cols], cols, ">"
    if order == "oldest":
        cols = [c.created_at, c.id]
        return [col.asc() for col in cols], cols, ">"
    if order == "newest":
        cols = [c.created_at, c.id]
        return [col.desc() for col in cols], cols, "<"
    raise ValueError(f"unknown order {order!r}; orders are {', '.join(ORDERS)}")


def page_key(row: dict[str, Any], order: str) -> tuple[Any, ...]:
    """The keyset position of ``row``: pass it as ``after`` to get the next page."""
    if order == "triage":
        return (row["urgency_rank"], row["created_at"], row["id"])
    return (row["created_at"], row["id"])


def inbox_query(
    *,
    city_id: int,
    filters: InboxFilter | None = None,
    order: str = "triage",
    limit: int = 50,
    after: Sequence[Any] | None = None,
    offset: int = 0,
) -> sa.Select[Any]:
    filters = filters or InboxFilter()
    order_by, key_cols, op = _order(order)
    q = sa.select(*[POST.c[name] for name in INBOX_COLUMNS]).where(*filters.where(city_id))
    if after is not None:
        if len(after) != len(key_cols):
            raise ValueError("the page key does not fit this order")
        left = sa.tuple_(*key_cols)
        right = sa.tuple_(
            *[sa.literal(v, type_=col.type) for v, col in zip(after, key_cols, strict=True)]
        )
        q = q.where(left > right if op == ">" else left < right)
    q = q.order_by(*order_by).limit(max(1, min(limit, 500)))
    if offset:
        q = q.offset(max(0, offset))
    return q


def inbox_page(
    engine: Engine,
    *,
    city_id: int,
    filters: InboxFilter | None = None,
    order: str = "triage",
    limit: int = 50,
    after: Sequence[Any] | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One page of the inbox, with each post's reply and case state.

    ``order``: "triage" (urgency, then the longest waiting first), "newest" or "oldest".
    ``after`` is the :func:`page_key` of the previous page's last row (keyset paging);
    ``offset`` is kept for short jumps but costs what it skips.
    """
    q = inbox_query(
        city_id=city_id, filters=filters, order=order, limit=limit, after=after, offset=offset
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        _attach_states(conn, city_id, rows)
    return rows


def _attach_states(conn: Connection, city_id: int, rows: list[dict[str, Any]]) -> None:
    """Add ``reply_state`` (the newest reply's) and ``case_status`` to a page of posts."""
    ids = [r["id"] for r in rows]
    replies: dict[int, str] = {}
    if ids:
        # By post id only (the posts are this city's): a city_id term would tempt SQLite,
        # without table statistics, to walk the city's every reply instead.
        for pid, cid, state in conn.execute(
            sa.select(REPLY.c.post_id, REPLY.c.city_id, REPLY.c.state)
            .where(REPLY.c.post_id.in_(ids))
            .order_by(REPLY.c.id)
        ):
            if cid == city_id:
                replies[pid] = state
    case_ids = [r["case_id"] for r in rows if r.get("case_id")]
    cases: dict[int, str] = {}
    if case_ids:
        cases = dict(
            conn.execute(  # type: ignore[arg-type]
                sa.select(CASE.c.id, CASE.c.status).where(
                    CASE.c.city_id == city_id, CASE.c.id.in_(case_ids)
                )
            ).all()
        )
    for r in rows:
        r["reply_state"] = replies.get(r["id"])
        r["case_status"] = cases.get(r["case_id"]) if r.get("case_id") else None


def inbox_count(
    engine: Engine, *, city_id: int, filters: InboxFilter | None = None, cap: int | None = None
) -> int:
    """How many posts match; with ``cap``, stops counting at ``cap + 1`` (shown as "cap+")."""
    filters = filters or InboxFilter()
    inner = sa.select(POST.c.id).where(*filters.where(city_id))
    if sorted(set(filters.statuses)) == sorted(OPEN_STATES):
        # Steers SQLite to the open-posts partial index (without table statistics it would
        # walk another city_id index and test every row's status).
        inner = inner.order_by(POST.c.urgency_rank, POST.c.created_at)
    if cap is not None:
        inner = inner.limit(cap + 1)
    q = sa.select(sa.func.count()).select_from(inner.subquery())
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def emergencies(
    engine: Engine, *, city_id: int, limit: int = 20, filters: InboxFilter | None = None
) -> list[dict[str, Any]]:
    """Open emergencies, longest waiting first: pinned above the inbox whatever its order."""
    base = filters or InboxFilter()
    pinned = InboxFilter(**{**asdict(base), "statuses": list(OPEN_STATES), "urgencies": []})
    q = (
        sa.select(*[POST.c[name] for name in INBOX_COLUMNS])
        .where(*pinned.where(city_id), POST.c.urgency_rank == 0)
        .order_by(POST.c.created_at.asc(), POST.c.id.asc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        _attach_states(conn, city_id, rows)
    return rows


def explain(engine: Engine, query: sa.Select[Any]) -> list[str]:
    """SQLite's query plan for ``query`` (``EXPLAIN QUERY PLAN``), one line per step."""
    dialect = engine.dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    values = []
    for name in compiled.positiontup or []:
        value = params[name]
        bind = compiled.binds.get(name)
        proc = bind.type.bind_processor(dialect) if bind is not None else None
        values.append(proc(value) if proc is not None else value)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(values)).all()
    return [str(r[-1]) for r in rows]


# --------------------------------------------------------------------------- the post view


def post_detail(engine: Engine, *, city_id: int, post_id: int) -> dict[str, Any] | None:
    """A post with its current labels, every stored label, its replies and its case."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(POST).where(POST.c.id == post_id, POST.c.city_id == city_id)
        ).first()
        if row is None:
            return None
        labels = conn.execute(
            sa.select(
                CLASSIFICATION.c.task,
                CLASSIFICATION.c.label,
                CLASSIFICATION.c.score,
                CLASSIFICATION.c.evidence,
                CLASSIFICATION.c.needs_review,
                CLASSIFICATION.c.source,
                CLASSIFICATION.c.component,
                CLASSIFICATION.c.version,
                CLASSIFICATION.c.created_by,
                CLASSIFICATION.c.created_at,
            )
            .where(CLASSIFICATION.c.post_id == post_id, CLASSIFICATION.c.city_id == city_id)
            .order_by(CLASSIFICATION.c.id)
        ).all()
        replies = conn.execute(
            sa.select(
                REPLY.c.id,
                REPLY.c.kind,
                REPLY.c.state,
                REPLY.c.text,
                REPLY.c.language,
                REPLY.c.approved_by,
                REPLY.c.sent_at,
                REPLY.c.created_at,
            )
            .where(REPLY.c.post_id == post_id, REPLY.c.city_id == city_id)
            .order_by(REPLY.c.id)
        ).all()
    post = dict(row._mapping)
    post["labels"] = [dict(r._mapping) for r in labels]
    post["replies"] = [dict(r._mapping) for r in replies]
    return post


def current_labels(labels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The label in force per task: the newest human label, else the newest model label."""
    out: dict[str, dict[str, Any]] = {}
    for lab in labels:  # in insertion order
        prev = out.get(lab["task"])
        if prev is None or lab["source"] == "human" or prev["source"] != "human":
            out[lab["task"]] = lab
    return out


_THREAD_COLUMNS = (
    "id",
    "platform",
    "external_id",
    "author",
    "text",
    "created_at",
    "in_reply_to_id",
)


def thread(
    engine: Engine, *, city_id: int, post: dict[str, Any], limit: int = 50
) -> list[dict[str, Any]]:
    """The stored posts around ``post``: its conversation, what it answers, its answers.

    Oldest first; the post itself is included and marked ``this``.
    """
    c = POST.c
    conds = [c.in_reply_to_id == post["external_id"]]
    if post.get("conversation_id"):
        conds.append(c.conversation_id == post["conversation_id"])
        conds.append(c.external_id == post["conversation_id"])
    if post.get("in_reply_to_id"):
        conds.append(c.external_id == post["in_reply_to_id"])
    q = (
        sa.select(*[c[n] for n in _THREAD_COLUMNS])
        .where(
            c.city_id == city_id,
            c.platform == post["platform"],
            c.deleted_at.is_(None),
            sa.or_(*conds),
        )
        .order_by(c.created_at, c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    if all(r["id"] != post["id"] for r in rows):
        rows.append({n: post.get(n) for n in _THREAD_COLUMNS})
        rows.sort(key=lambda r: (r["created_at"], r["id"]))
    for r in rows:
        r["this"] = r["id"] == post["id"]
    return rows


def incident(
    engine: Engine,
    *,
    city_id: int,
    post: dict[str, Any],
    window: timedelta = timedelta(hours=48),
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Other recent posts about the same topic and place: one incident seen by several people.

    Same topic (not "none"), same neighborhood (or the same place text when no neighborhood
    is known), within ``window`` either side of the post.
    """
    topic, hood, place = post.get("topic"), post.get("neighborhood"), post.get("location_text")
    if not topic or topic == "none" or not (hood or place):
        return []
    c = POST.c
    at = post["created_at"]
    q = (
        sa.select(
            c.id, c.platform, c.author, c.text, c.created_at, c.status, c.case_id, c.location_text
        )
        .where(
            c.city_id == city_id,
            c.topic == topic,
            c.created_at >= at - window,
            c.created_at <= at + window,
            c.id != post["id"],
            c.deleted_at.is_(None),
            (c.neighborhood == hood) if hood else (c.location_text == place),
        )
        .order_by(c.created_at.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def distinct_values(engine: Engine, *, city_id: int, column: str) -> list[str]:
    col = POST.c[column]
    q = sa.select(col).where(POST.c.city_id == city_id, col.is_not(None)).distinct().order_by(col)
    with engine.connect() as conn:
        return [v for v in conn.execute(q).scalars()]


def quarantine_page(engine: Engine, *, city_id: int, limit: int = 100) -> list[dict[str, Any]]:
    t = QuarantinedPayload.__table__  # type: ignore[attr-defined]
    q = (
        sa.select(t.c.id, t.c.source_name, t.c.platform, t.c.reason, t.c.received_at, t.c.raw)
        .where(t.c.city_id == city_id)
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        r["raw"] = bytes(r["raw"])[:500].decode("utf-8", "replace")
    return rows


# --------------------------------------------------------------------------- the dashboard


@dataclass(slots=True)
class Spike:
    topic: str
    last_hour: int
    usual: float  # mean count in the same hour of the previous days
    factor: float  # last_hour / usual (inf when usual is 0)
    alert: bool


@dataclass(slots=True)
class ResponseTimes:
    replied: int  # posts in the window with a sent reply
    median_minutes: float | None
    p90_minutes: float | None
    within_target: float | None  # share of replied posts answered within the target
    open_overdue: int  # open relevant posts older than the target with no sent reply


@dataclass(slots=True)
class Dashboard:
    since: datetime
    until: datetime
    total: int
    # dimension (topic, neighborhood, platform, urgency) -> rows of
    # {"day", <dimension>, "sentiment", "count"}: every post once per dimension
    by: dict[str, list[dict[str, Any]]]
    spikes: list[Spike]
    responses: ResponseTimes
    points: list[dict[str, Any]]


_ABSENT = {"topic": "unlabelled", "neighborhood": "unknown", "platform": "unknown"}
_ABSENT["urgency"] = "unlabelled"


def _day(dialect: str, utc_offset: timedelta) -> Any:
    """The post's local calendar day as 'YYYY-MM-DD' (shifted by the city's UTC offset)."""
    if dialect == "postgresql":
        return sa.func.to_char(POST.c.created_at + utc_offset, "YYYY-MM-DD")
    minutes = int(utc_offset.total_seconds() // 60)
    return sa.func.strftime("%Y-%m-%d", POST.c.created_at, f"{minutes:+d} minutes")


def dashboard_cells_query(
    dialect: str,
    *,
    city_id: int,
    since: datetime,
    until: datetime,
    utc_offset: timedelta = timedelta(0),
    relevant_only: bool = True,
) -> sa.Select[Any]:
    """Posts per (day, sentiment, topic, neighborhood, platform) grouped from the posts
    themselves, read from the covering index ``ix_post_dashboard`` alone. The dashboard reads
    the rollup instead (:mod:`models.rollup`); this is the reference it is checked against."""
    c = POST.c
    where = [
        c.city_id == city_id,
        c.deleted_at.is_(None),
        c.created_at >= since,
        c.created_at < until,
    ]
    if relevant_only:
        where.append(c.relevant.is_(True))
    day = _day(dialect, utc_offset).label("day")
    return (
        sa.select(day, c.sentiment, c.topic, c.neighborhood, c.platform, sa.func.count())
        .where(*where)
        .group_by(day, c.sentiment, c.topic, c.neighborhood, c.platform)
    )


def dashboard(
    engine: Engine,
    *,
    city_id: int,
    since: datetime,
    until: datetime,
    now: datetime,
    relevant_only: bool = True,
    target_minutes: int = 240,
    spike_factor: float = 3.0,
    spike_min_posts: int = 5,
    spike_days: int = 14,
    map_limit: int = 2000,
) -> Dashboard:
    """Everything the dashboard shows for one city and window, in a handful of indexed queries.

    Days are calendar days in the city's time zone (``City.timezone``, the rollup's).
    The cells come from the rollup (:func:`models.rollup.day_cells`: whole days counted as
    posts are labelled, the window's partial first and last days and any post not yet
    labelled read from the posts); spikes, response times and the map read the posts.
    """
    c = POST.c
    base = [c.city_id == city_id, c.deleted_at.is_(None)]
    if relevant_only:
        base.append(c.relevant.is_(True))
    window = [*base, c.created_at >= since, c.created_at < until]
    with engine.connect() as conn:
        zone = rollup.city_zone(conn, city_id)
        grouped = rollup.day_cells(
            conn,
            city_id=city_id,
            since=since,
            until=until,
            zone=zone,
            relevant_only=relevant_only,
        )
        by: dict[str, list[dict[str, Any]]] = {
            dimension: [
                {
                    "day": d,
                    dimension: v or _ABSENT[dimension],
                    "sentiment": s or "unlabelled",
                    "count": n,
                }
                for (d, v, s), n in sorted(counts.items())
            ]
            for dimension, counts in grouped.items()
        }
        spikes = _spikes(conn, base, now, spike_days, spike_factor, spike_min_posts)
        responses = _responses(conn, city_id, base, since, until, now, target_minutes)
        keys = ("id", "lat", "lon", "created_at", "topic", "sentiment", "neighborhood")
        points = [
            dict(zip(keys, r, strict=True))
            for r in conn.execute(
                sa.select(c.id, c.lat, c.lon, c.created_at, c.topic, c.sentiment, c.neighborhood)
                .where(*window, c.lat.is_not(None), c.lon.is_not(None))
                .order_by(c.created_at.desc())
                .limit(map_limit)
            )
        ]
    return Dashboard(
        since=since,
        until=until,
        total=sum(x["count"] for x in by["topic"]),
        by=by,
        spikes=spikes,
        responses=responses,
        points=points,
    )


def response_summary(
    engine: Engine,
    *,
    city_id: int,
    since: datetime,
    until: datetime,
    now: datetime,
    target_minutes: int = 240,
    relevant_only: bool = True,
) -> ResponseTimes:
    """The dashboard's response-time figures alone (the state roll-up, one city at a time)."""
    c = POST.c
    base = [c.city_id == city_id, c.deleted_at.is_(None)]
    if relevant_only:
        base.append(c.relevant.is_(True))
    with engine.connect() as conn:
        return _responses(conn, city_id, base, since, until, now, target_minutes)


def _spikes(
    conn: Connection, base: list[Any], now: datetime, days: int, factor: float, min_posts: int
) -> list[Spike]:
    """Posts per topic in the last hour against the same hour of each of the previous days."""
    c = POST.c

    def counts(start: datetime) -> Counter[str]:
        rows = conn.execute(
            sa.select(c.topic, sa.func.count())
            .where(*base, c.created_at >= start, c.created_at < start + timedelta(hours=1))
            .group_by(c.topic)
        ).all()
        return Counter({t or "unlabelled": n for t, n in rows})

    last = counts(now - timedelta(hours=1))
    history: Counter[str] = Counter()
    for k in range(1, days + 1):
        history.update(counts(now - timedelta(days=k, hours=1)))
    out = []
    for topic in sorted(set(last) | set(history)):
        usual = history[topic] / days
        n = last[topic]
        ratio = n / usual if usual else (float("inf") if n else 0.0)
        out.append(
            Spike(
                topic=topic,
                last_hour=n,
                usual=round(usual, 2),
                factor=round(ratio, 2) if ratio != float("inf") else ratio,
                alert=n >= min_posts and ratio >= factor,
            )
        )
    out.sort(key=lambda s: (not s.alert, -s.last_hour))
    return out


def _minutes_between(conn: Connection, start: Any, end: Any) -> Any:
    """``end - start`` in minutes, computed by the database."""
    if conn.dialect.name == "postgresql":
        return sa.func.extract("epoch", end - start) / 60.0
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 1440.0


def _responses(
    conn: Connection,
    city_id: int,
    base: list[Any],
    since: datetime,
    until: datetime,
    now: datetime,
    target_minutes: int,
) -> ResponseTimes:
    """Time from a post to the city's first sent reply, for posts created in the window.

    Median, p90 and the share within the target are computed by the database (window
    functions), so only two rows come back however many posts were answered."""
    c = POST.c
    # The smallest post id in the window bounds the replies to read: their index is in post
    # order, so the first reply per post streams out without a sort.
    min_id = conn.execute(
        sa.select(sa.func.min(c.id)).where(
            c.city_id == city_id, c.created_at >= since, c.created_at < until
        )
    ).scalar()
    if min_id is None:
        min_id = 0
    first = (
        sa.select(REPLY.c.post_id, sa.func.min(REPLY.c.sent_at).label("first_sent"))
        .where(
            REPLY.c.city_id == city_id,
            REPLY.c.kind == "reply",
            REPLY.c.post_id >= min_id,
            REPLY.c.sent_at.is_not(None),
        )
        .group_by(REPLY.c.post_id)
        .subquery()
    )
    minutes = (
        sa.select(_minutes_between(conn, c.created_at, first.c.first_sent).label("m"))
        .join(first, first.c.post_id == c.id)
        .where(*base, c.created_at >= since, c.created_at < until)
        .subquery()
    )
    ranked = sa.select(
        minutes.c.m,
        sa.func.row_number().over(order_by=minutes.c.m).label("rn"),
        sa.func.count().over().label("n"),
        sa.func.sum(sa.case((minutes.c.m <= target_minutes, 1), else_=0)).over().label("ok"),
    ).subquery()
    n, rn = ranked.c.n, ranked.c.rn
    lo_mid, hi_mid = sa.cast((n - 1) / 2, sa.Integer) + 1, sa.cast(n / 2, sa.Integer) + 1
    p90 = sa.cast(0.9 * (n - 1) + 0.5, sa.Integer) + 1
    picked = conn.execute(
        sa.select(ranked.c.m, rn, n, ranked.c.ok).where(
            sa.or_(rn == lo_mid, rn == hi_mid, rn == p90)
        )
    ).all()
    overdue = conn.execute(
        sa.select(sa.func.count())
        .select_from(POST)
        .where(
            *base,
            sa.text(_OPEN_SQL),
            # every rank listed: lets SQLite seek the open-posts index by rank and date
            c.urgency_rank.in_(_ALL_RANKS),
            c.created_at >= since,
            c.created_at < now - timedelta(minutes=target_minutes),
            ~sa.exists().where(REPLY.c.post_id == c.id, REPLY.c.sent_at.is_not(None)),
        )
    ).scalar_one()
    if not picked:
        return ResponseTimes(0, None, None, None, int(overdue))
    total, ok = int(picked[0].n), int(picked[0].ok)
    by_rank = {int(r.rn): max(0.0, float(r.m)) for r in picked}
    lo, hi = (total - 1) // 2 + 1, total // 2 + 1
    p90_rank = int(0.9 * (total - 1) + 0.5) + 1
    return ResponseTimes(
        replied=total,
        median_minutes=round((by_rank[lo] + by_rank[hi]) / 2, 1),
        p90_minutes=round(by_rank[p90_rank], 1),
        within_target=round(ok / total, 3),
        open_overdue=int(overdue),
    )
