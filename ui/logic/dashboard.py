"""The dashboard's tables, derived from :func:`models.queries.dashboard` in plain Python."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from models.queries import Dashboard, dashboard

WINDOWS = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
SENTIMENT_ORDER = ("negative", "neutral", "positive")


def load(
    engine: Engine,
    *,
    city_id: int,
    days: int,
    now: datetime,
    target_minutes: int,
    spike_factor: float,
    spike_min_posts: int,
    relevant_only: bool = True,
) -> Dashboard:
    return dashboard(
        engine,
        city_id=city_id,
        since=now - timedelta(days=days),
        until=now + timedelta(minutes=1),
        now=now,
        relevant_only=relevant_only,
        target_minutes=target_minutes,
        spike_factor=spike_factor,
        spike_min_posts=spike_min_posts,
    )


def _split(cells: list[dict[str, Any]], key: str) -> dict[Any, dict[str, int]]:
    out: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SENTIMENT_ORDER, 0))
    for c in cells:
        if c["sentiment"] in SENTIMENT_ORDER:
            out[c[key]][c["sentiment"]] += c["count"]
    return out


def _with_net(key_name: str, key: Any, counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    net = (counts["positive"] - counts["negative"]) / total if total else 0.0
    return {key_name: key, **counts, "total": total, "net sentiment": round(net, 3)}


def sentiment_over_time(d: Dashboard) -> list[dict[str, Any]]:
    """Per day: posts by sentiment and the net sentiment (positive minus negative share)."""
    split = _split(d.by["topic"], "day")  # every post is in the topic rows once
    return [_with_net("day", day, split[day]) for day in sorted(split)]


def sentiment_by(d: Dashboard, key: str) -> list[dict[str, Any]]:
    """Sentiment split per topic or neighborhood, busiest first."""
    split = _split(d.by[key], key)
    rows = [_with_net(key, k, v) for k, v in split.items()]
    return sorted(rows, key=lambda r: -r["total"])


def sentiment_trend_by(d: Dashboard, key: str, top: int = 6) -> list[dict[str, Any]]:
    """Net sentiment per day for the ``top`` busiest topics or neighborhoods (chart data)."""
    busiest = [r[key] for r in sentiment_by(d, key)[:top]]
    per: dict[tuple[Any, Any], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(SENTIMENT_ORDER, 0)
    )
    for c in d.by[key]:
        if c[key] in busiest and c["sentiment"] in SENTIMENT_ORDER:
            per[(c["day"], c[key])][c["sentiment"]] += c["count"]
    days = sorted({day for day, _ in per})
    rows = []
    for day in days:
        row: dict[str, Any] = {"day": day}
        for k in busiest:
            counts = per.get((day, k))
            total = sum(counts.values()) if counts else 0
            row[str(k)] = (
                round((counts["positive"] - counts["negative"]) / total, 3)
                if counts and total
                else None
            )
        rows.append(row)
    return rows


def volume_by(d: Dashboard, key: str) -> list[dict[str, Any]]:
    counts: dict[Any, int] = defaultdict(int)
    for c in d.by[key]:
        counts[c[key]] += c["count"]
    return [{key: k, "posts": n} for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]


def spikes(d: Dashboard) -> list[dict[str, Any]]:
    return [
        {**asdict(s), "factor": "new" if s.factor == float("inf") else s.factor} for s in d.spikes
    ]


def alerts(d: Dashboard) -> list[str]:
    return [
        f"{s.topic}: {s.last_hour} posts in the last hour, usually {s.usual:g}"
        for s in d.spikes
        if s.alert
    ]


def response_rows(d: Dashboard, target_minutes: int) -> list[dict[str, Any]]:
    r = d.responses
    return [
        {"figure": "posts answered", "value": r.replied},
        {"figure": "median minutes to first reply", "value": r.median_minutes},
        {"figure": "p90 minutes to first reply", "value": r.p90_minutes},
        {"figure": f"share answered within {target_minutes} min", "value": r.within_target},
        {"figure": "open posts past the target", "value": r.open_overdue},
    ]


def map_points(d: Dashboard) -> list[dict[str, Any]]:
    return [
        {
            "id": p["id"],
            "lat": p["lat"],
            "lon": p["lon"],
            "posted": p["created_at"],
            "topic": p["topic"],
            "sentiment": p["sentiment"],
            "neighborhood": p["neighborhood"],
        }
        for p in d.points
    ]
