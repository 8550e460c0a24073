"""Fixtures for the listener tests: a fixed clock, a state store, a recorded sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from listener.state import MemoryState


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Sleeps:
    """An injected sleep: records each wait, advances the clock, sets ``stop`` after N."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.waits: list[float] = []
        self.stop_after: int | None = None
        self.stop = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        if (
            self.stop is not None
            and self.stop_after is not None
            and len(self.waits) >= self.stop_after
        ):
            self.stop.set()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture
def sleeps(clock: Clock) -> Sleeps:
    return Sleeps(clock)
