"""Exponential backoff with full jitter that honours a server's reset time.

Time is injected: ``sleep`` is interruptible (``threading.Event.wait`` by default) and
``rand`` is a callable returning [0, 1), so tests advance instantly and deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    rand: Callable[[], float] = field(default=random.random)
    attempt: int = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """The next wait: at least ``retry_after`` when the server named one."""
        self.attempt += 1
        ceiling = min(self.cap, self.base * (2 ** (self.attempt - 1)))
        delay = ceiling * (0.5 + 0.5 * self.rand())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def reset(self) -> None:
        self.attempt = 0
