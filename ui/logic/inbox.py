"""The inbox's rows, filters, time left against the response target, and bulk actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from models.auth import Actor
from models.console import assign_posts, dismiss_posts, relabel_posts
from models.queries import OPEN_STATES, InboxFilter, emergencies, inbox_count, inbox_page, page_key

PAGE_SIZE = 50
COUNT_CAP = 10_000
BULK_ACTIONS = ("dismiss", "assign", "relabel")


def time_left(
    created_at: datetime,
    *,
    status: str,
    reply_state: str | None,
    now: datetime,
    target_minutes: int,
) -> tuple[float | None, str]:
    """Minutes left before the response target (negative when overdue) and a short label.

    A post that was answered, dismissed or already has a sent reply has no clock."""
    if status not in OPEN_STATES or reply_state == "sent":
        return None, "—"
    left = target_minutes - (now - created_at).total_seconds() / 60
    return round(left, 1), _duration(left)


def _duration(minutes: float) -> str:
    overdue = minutes < 0
    m = abs(int(minutes))
    if m >= 24 * 60:
        text = f"{m // (24 * 60)}d {m % (24 * 60) // 60}h"
    elif m >= 60:
        text = f"{m // 60}h {m % 60:02d}m"
    else:
        text = f"{m}m"
    return f"{text} overdue" if overdue else f"{text} left"


def table_rows(
    rows: list[dict[str, Any]], *, now: datetime, target_minutes: int, tz: str = "UTC"
) -> list[dict[str, Any]]:
    """What the inbox table shows for each post. Text stays text (st.dataframe escapes)."""
    zone = ZoneInfo(tz)
    out = []
    for r in rows:
        minutes, label = time_left(
            r["created_at"],
            status=r["status"],
            reply_state=r.get("reply_state"),
            now=now,
            target_minutes=target_minutes,
        )
        out.append(
            {
                "id": r["id"],
                "posted": r["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "time left": label,
                "platform": r["platform"],
                "author": r["author"],
                "text": r["text"],
                "topic": r["topic"] or "",
                "urgency": r["urgency"] or "",
                "sentiment": r["sentiment"] or "",
                "location": r["location_text"] or r["neighborhood"] or "",
                "case": f"#{r['case_id']} {r.get('case_status') or ''}".strip()
                if r.get("case_id")
                else "",
                "reply": r.get("reply_state") or "",
                "assigned": r.get("assigned_to") or "",
                "state": r["status"],
                "review": "yes" if r.get("needs_review") else "",
                "_overdue": minutes is not None and minutes < 0,
            }
        )
    return out


def build_filter(
    *,
    platforms: Sequence[str] = (),
    topics: Sequence[str] = (),
    urgencies: Sequence[str] = (),
    sentiments: Sequence[str] = (),
    neighborhoods: Sequence[str] = (),
    states: Sequence[str] = (),
    dates: Sequence[date] = (),
    search: str = "",
    assigned: str = "anyone",
    me: str = "",
    tz: str = "UTC",
) -> InboxFilter:
    """An :class:`InboxFilter` from the filter widgets' values (dates in the city's zone)."""
    zone = ZoneInfo(tz)
    since = until = None
    if dates:
        since = datetime.combine(dates[0], time.min, zone).astimezone(UTC)
        last = dates[1] if len(dates) > 1 else dates[0]
        until = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    return InboxFilter(
        platforms=list(platforms),
        topics=list(topics),
        urgencies=list(urgencies),
        sentiments=list(sentiments),
        neighborhoods=list(neighborhoods),
        statuses=list(states),
        since=since,
        until=until,
        search=search.strip() or None,
        assigned_to={"anyone": None, "me": me, "unassigned": ""}.get(assigned, assigned),
    )


@dataclass(slots=True)
class InboxPage:
    rows: list[dict[str, Any]]
    pinned: list[dict[str, Any]]
    total: int  # capped at COUNT_CAP + 1
    next_key: tuple[Any, ...] | None  # None on the last page


def load_page(
    engine: Engine,
    *,
    city_id: int,
    filters: InboxFilter,
    order: str,
    after: Sequence[Any] | None = None,
    page_size: int = PAGE_SIZE,
) -> InboxPage:
    """One page plus the pinned open emergencies (shown above the first page only)."""
    rows = inbox_page(
        engine, city_id=city_id, filters=filters, order=order, limit=page_size + 1, after=after
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    pinned = emergencies(engine, city_id=city_id, filters=filters) if after is None else []
    pinned_ids = {p["id"] for p in pinned}
    rows = [r for r in rows if r["id"] not in pinned_ids]
    total = inbox_count(engine, city_id=city_id, filters=filters, cap=COUNT_CAP)
    last = rows[-1] if rows else None
    return InboxPage(
        rows=rows,
        pinned=pinned,
        total=total,
        next_key=page_key(last, order) if more and last is not None else None,
    )


def bulk_action(
    engine: Engine,
    actor: Actor,
    *,
    city_id: int,
    action: str,
    post_ids: Sequence[int],
    assignee: str | None = None,
    task: str | None = None,
    label: str | None = None,
) -> str:
    """Run one bulk action; returns what to tell the person. Raises PermissionDenied."""
    if not post_ids:
        return "Select posts first."
    if action == "dismiss":
        n = dismiss_posts(engine, actor, city_id=city_id, post_ids=post_ids)
        return f"Dismissed {n} post(s)."
    if action == "assign":
        n = assign_posts(engine, actor, city_id=city_id, post_ids=post_ids, assignee=assignee)
        return f"Assigned {n} post(s) to {assignee}." if assignee else f"Unassigned {n} post(s)."
    if action == "relabel":
        if not task or not label:
            return "Pick a task and a label."
        n = relabel_posts(engine, actor, city_id=city_id, post_ids=post_ids, task=task, label=label)
        return f"Relabelled {n} post(s): {task} = {label}."
    raise ValueError(f"unknown action {action!r}")
