"""Health of each source: state, last event, events per minute, lag, errors, reconnects, budget.

A :class:`HealthMonitor` lives with its source in the service process and writes a snapshot
to the database (``SourceCursor.state["health"]``) at most every few seconds, so the
console (another process) can show it and a restart keeps the counters. A source that
has been quiet longer than its ``quiet_alert_minutes`` raises an alert: logged once by
the monitor, listed by :func:`quiet_sources` (a scheduled job) and shown on the Sources page.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from listener.base import Item, PostIn
from listener.state import StateStore, all_states
from models.types import utcnow

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


class HealthMonitor:
    def __init__(
        self,
        source_name: str,
        *,
        kind: str = "",
        clock: Callable[[], datetime] = utcnow,
        store: StateStore | None = None,
        quiet_alert_minutes: float | None = None,
        flush_seconds: float = 5.0,
    ) -> None:
        self.source_name = source_name
        self.kind = kind
        self.clock = clock
        self.store = store
        self.quiet_alert_minutes = quiet_alert_minutes
        self.flush_seconds = flush_seconds
        self.state = "idle"
        self.started_at = clock()
        self.last_event_at: datetime | None = None
        self.lag_seconds: float | None = None
        self.items = 0
        self.errors = 0
        self.last_error: str | None = None
        self.reconnects = 0
        self.budget: Callable[[], dict[str, Any]] | None = None
        self._window: deque[tuple[int, int]] = deque()  # (epoch second, events)
        self._flushed_at: datetime | None = None
        self._alerted = False
        if store is not None:
            saved = store.load(source_name).get("health") or {}
            for key in ("items", "errors", "reconnects"):
                if isinstance(saved.get(key), int):
                    setattr(self, key, saved[key])
            if isinstance(saved.get("last_event_at"), str):
                try:
                    self.last_event_at = datetime.fromisoformat(saved["last_event_at"])
                except ValueError:
                    self.last_event_at = None

    # ------------------------------------------------------------------ events

    def set_state(self, state: str, error: str | None = None) -> None:
        changed = state != self.state
        self.state = state
        if error is not None:
            self.errors += 1
            self.last_error = error[:500]
        self.flush(force=changed or error is not None)

    def on_item(self, item: Item) -> None:
        now = self.clock()
        self.items += 1
        self.last_event_at = now
        self._alerted = False
        if isinstance(item, PostIn):
            self.lag_seconds = max(0.0, (now - item.created_at).total_seconds())
        second = int(now.timestamp())
        if self._window and self._window[-1][0] == second:
            self._window[-1] = (second, self._window[-1][1] + 1)
        else:
            self._window.append((second, 1))
        self.flush()

    def on_error(self, error: str) -> None:
        self.errors += 1
        self.last_error = error[:500]
        self.flush(force=True)

    def on_reconnect(self) -> None:
        self.reconnects += 1
        self.flush()

    def tick(self) -> None:
        """Called on keep-alives and idle waits: checks the quiet alert and flushes."""
        alert = self.alert()
        if alert and not self._alerted:
            log.warning("source %s: %s", self.source_name, alert)
            self._alerted = True
        self.flush()

    # ------------------------------------------------------------------ reading

    def events_per_minute(self) -> float:
        cutoff = int(self.clock().timestamp()) - WINDOW_SECONDS
        while self._window and self._window[0][0] <= cutoff:
            self._window.popleft()
        return float(sum(n for _, n in self._window))

    def alert(self) -> str | None:
        return quiet_alert(self.snapshot_core(), self.clock())

    def snapshot_core(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
            "quiet_alert_minutes": self.quiet_alert_minutes,
        }

    def snapshot(self) -> dict[str, Any]:
        snap = self.snapshot_core()
        snap.update(
            {
                "events_per_minute": self.events_per_minute(),
                "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 1),
                "items": self.items,
                "errors": self.errors,
                "last_error": self.last_error,
                "reconnects": self.reconnects,
                "budget": self.budget() if self.budget else None,
                "updated_at": self.clock().isoformat(),
            }
        )
        return snap

    def flush(self, *, force: bool = False) -> None:
        if self.store is None:
            return
        now = self.clock()
        if (
            not force
            and self._flushed_at is not None
            and (now - self._flushed_at).total_seconds() < self.flush_seconds
        ):
            return
        self._flushed_at = now
        try:
            self.store.save(self.source_name, "health", self.snapshot())
        except Exception:  # health must never stop a source
            log.exception("source %s: could not store health", self.source_name)


def quiet_alert(health: dict[str, Any], now: datetime) -> str | None:
    """The alert text when a source has been quiet longer than its limit, else None."""
    limit = health.get("quiet_alert_minutes")
    if not limit:
        return None
    since_text = health.get("last_event_at") or health.get("started_at")
    if not since_text:
        return None
    try:
        since = datetime.fromisoformat(since_text)
    except (TypeError, ValueError):
        return None
    quiet = (now - since).total_seconds() / 60
    if quiet <= float(limit):
        return None
    return f"no events for {quiet:.0f} minutes (limit {float(limit):g})"


def source_health(
    engine: Engine, *, city_id: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """One row per source of a city, for the Sources page and the quiet-source job."""
    now = now or utcnow()
    rows = []
    for row in all_states(engine, city_id=city_id):
        health = row["state"].get("health") or {}
        budget = health.get("budget") or row["state"].get("budget")
        rows.append(
            {
                "source": row["source_name"],
                "kind": health.get("kind", ""),
                "state": health.get("state", "unknown"),
                "last_event_at": health.get("last_event_at"),
                "events_per_minute": health.get("events_per_minute"),
                "lag_seconds": health.get("lag_seconds"),
                "items": health.get("items"),
                "errors": health.get("errors"),
                "last_error": health.get("last_error"),
                "reconnects": health.get("reconnects"),
                "budget": budget,
                "cursor": row["cursor"],
                "alert": quiet_alert(health, now),
            }
        )
    return rows


def quiet_sources(engine: Engine, *, city_id: int, now: datetime | None = None) -> list[str]:
    """Log and return an alert for each source quiet longer than its configured limit."""
    alerts = []
    for row in source_health(engine, city_id=city_id, now=now):
        if row["alert"]:
            log.warning("source %s: %s", row["source"], row["alert"])
            alerts.append(f"{row['source']}: {row['alert']}")
    return alerts
