"""A monthly read budget for platforms that charge per post read (X: about $0.005 a read).

The budget counts every post a source reads (stream lines and search results alike)
against ``monthly_reads``. Past ``slow_at`` of it, polling slows down (``pace()`` grows
from 1 to 10); at ``stop_at`` reading stops until the billing period starts again
(``BudgetExhausted``, a :class:`~listener.base.RateLimited` whose ``retry_after`` is the
time to the reset). Counts are kept in the database through a
:class:`~listener.state.StateStore`, so a restart neither forgets nor double-counts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from listener.base import RateLimited
from listener.state import StateStore
from models.types import utcnow


class BudgetExhausted(RateLimited):
    """The period's read budget is spent; reading resumes when it resets."""


def period_start(now: datetime, reset_day: int) -> datetime:
    """The start of the billing period that contains ``now`` (UTC, ``reset_day`` of a month)."""
    now = now.astimezone(UTC)
    year, month = now.year, now.month
    if now.day < reset_day:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return datetime(year, month, reset_day, tzinfo=UTC)


def next_period_start(now: datetime, reset_day: int) -> datetime:
    start = period_start(now, reset_day)
    year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
    return datetime(year, month, reset_day, tzinfo=UTC)


class ReadBudget:
    def __init__(
        self,
        source_name: str,
        *,
        monthly_reads: int,
        cost_per_read: float = 0.005,
        slow_at: float = 0.8,
        stop_at: float = 0.98,
        reset_day: int = 1,
        clock: Callable[[], datetime] = utcnow,
        store: StateStore | None = None,
        save_every: int = 50,
    ) -> None:
        if not 0 < slow_at <= stop_at <= 1:
            raise ValueError("budget needs 0 < slow_at <= stop_at <= 1")
        if not 1 <= reset_day <= 28:
            raise ValueError("budget reset_day must be between 1 and 28")
        self.source_name = source_name
        self.monthly_reads = monthly_reads
        self.cost_per_read = cost_per_read
        self.slow_at = slow_at
        self.stop_at = stop_at
        self.reset_day = reset_day
        self.clock = clock
        self.store = store
        self.save_every = save_every
        self.period = self._period_key()
        self.reads = 0
        self._saved = 0
        if store is not None:
            saved = store.load(source_name).get("budget") or {}
            if saved.get("period") == self.period and isinstance(saved.get("reads"), int):
                self.reads = self._saved = saved["reads"]

    def _period_key(self) -> str:
        return period_start(self.clock(), self.reset_day).date().isoformat()

    def _roll(self) -> None:
        key = self._period_key()
        if key != self.period:
            self.period, self.reads, self._saved = key, 0, -1

    @property
    def stop_reads(self) -> int:
        """Reads at which reading stops for the period."""
        return int(self.monthly_reads * self.stop_at)

    def remaining(self) -> int:
        """Reads left before the stop point."""
        self._roll()
        return max(0, self.stop_reads - self.reads)

    def used_fraction(self) -> float:
        self._roll()
        return self.reads / self.monthly_reads if self.monthly_reads else 1.0

    def pace(self) -> float:
        """How much longer to wait between polls: 1 until ``slow_at``, up to 10 at ``stop_at``."""
        used = self.used_fraction()
        if used < self.slow_at:
            return 1.0
        if self.stop_at == self.slow_at:
            return 10.0
        return 1.0 + 9.0 * min(1.0, (used - self.slow_at) / (self.stop_at - self.slow_at))

    def seconds_to_reset(self) -> float:
        now = self.clock()
        return max(1.0, (next_period_start(now, self.reset_day) - now).total_seconds())

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` when no read is left this period."""
        if self.remaining() <= 0:
            self.save()
            raise BudgetExhausted(
                f"monthly read budget spent: {self.reads} of {self.monthly_reads} reads "
                f"(${self.spend():.2f}); reading resumes when the period resets",
                retry_after=self.seconds_to_reset(),
            )

    def charge(self, n: int = 1) -> None:
        self._roll()
        self.reads += n
        if self.reads - self._saved >= self.save_every or self._saved < 0:
            self.save()

    def spend(self) -> float:
        return self.reads * self.cost_per_read

    def save(self) -> None:
        if self.store is not None and self._saved != self.reads:
            self.store.save(
                self.source_name, "budget", {"period": self.period, "reads": self.reads}
            )
        self._saved = self.reads

    def snapshot(self) -> dict[str, Any]:
        used = self.used_fraction()
        state = "stopped" if self.remaining() <= 0 else "slowing" if used >= self.slow_at else "ok"
        return {
            "period": self.period,
            "reads": self.reads,
            "monthly_reads": self.monthly_reads,
            "spend_usd": round(self.spend(), 4),
            "limit_usd": round(self.monthly_reads * self.cost_per_read, 2),
            "state": state,
        }
