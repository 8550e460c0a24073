"""What every platform source shares: common options, one-pass mode, health, waits, and
reading a platform's rate-limit headers.

A platform source polls or streams until ``stop`` is set (``iter_items``), or makes one
pass (``one_pass``, used by ``civic-listener run --once``): a polling source asks each
endpoint once; a streaming source recovers what it missed since its cursor through the
platform's search or replay and ends without holding a connection open.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from listener.base import Item, PostIn
from listener.health import HealthMonitor
from listener.state import MemoryState, StateStore
from models.types import utcnow

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class SourceOptions(BaseModel):
    """Options every ``[[sources]]`` table of a platform accepts."""

    model_config = ConfigDict(extra="forbid")

    # Route every post of this source to one city (slug); empty routes as usual.
    city: str | None = None
    # Alert when no event arrived for this long (0 disables).
    quiet_alert_minutes: float = Field(default=60.0, ge=0)
    # keep: a quote is a post of its own that links to the original; skip: dropped.
    quote_policy: Literal["keep", "skip"] = "keep"
    # Seconds between polls (polling sources and stream gap recovery).
    poll_seconds: float = Field(default=60.0, gt=0)


def parse_options(model: type[M], kind: str, name: str, config: Mapping[str, Any]) -> M:
    """Validate a source's options; the error names the source and each bad key."""
    from civic_listener.settings import SettingsError

    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(options)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"source {name!r} ({kind}): {problems}") from None


def require_secret(value: Any, kind: str, name: str, env: str) -> str:
    """A credential from settings, or a configuration error naming its variable."""
    from civic_listener.settings import SettingsError

    if value is None:
        raise SettingsError(f"source {name!r} ({kind}) needs {env} in the environment or secrets")
    return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def city_settings(deps: Mapping[str, Any], slug: str | None) -> Any:
    """The settings a source uses for its city (keywords, accounts): the ones in effect,
    with the console's changes, when the factory was given the city directory."""
    from civic_listener.settings import SettingsError

    settings = deps["settings"]
    slug = slug or settings.default_city
    cities = deps.get("cities")
    try:
        return cities.get(slug).settings if cities is not None else settings.cities[slug]
    except (KeyError, LookupError):
        raise SettingsError(f"a source names the unknown city {slug!r}") from None


@runtime_checkable
class OnePass(Protocol):
    """A source that can make a single bounded pass (``run --once``)."""

    def one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]: ...


class PlatformSource:
    """Base of the platform sources: health, injected clock and interruptible waits."""

    kind = ""
    finite = False

    def __init__(
        self,
        name: str,
        options: SourceOptions,
        *,
        clock: Callable[[], datetime] | None = None,
        state: StateStore | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.clock = clock or utcnow
        self.state = state or MemoryState()
        self._sleep = sleep
        self.monitor = HealthMonitor(
            name,
            kind=self.kind,
            clock=self.clock,
            store=self.state,
            quiet_alert_minutes=options.quiet_alert_minutes or None,
        )

    def iter_items(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        """Poll or stream until ``stop`` is set; connections close when this ends."""
        try:
            yield from self._iter(cursor, stop)
        finally:
            self.close()

    def one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        """One bounded pass (``run --once``); connections close when this ends."""
        try:
            yield from self._one_pass(cursor, stop)
        finally:
            self.close()

    def _iter(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        raise NotImplementedError

    def _one_pass(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        raise NotImplementedError

    def close(self) -> None:
        """Close pooled connections; the next pass opens new ones."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to ``seconds``; True when ``stop`` was set meanwhile."""
        self.monitor.tick()
        if self._sleep is not None:
            self._sleep(seconds)
            return stop.is_set()
        return stop.wait(seconds)

    def keep(self, item: Item | None) -> bool:
        """Edge policy shared by every platform: quotes per ``quote_policy``, city routing."""
        if item is None:
            return False
        if isinstance(item, PostIn):
            if item.quote_of_id and self.options.quote_policy == "skip":
                return False
            if self.options.city and item.city is None:
                item.city = self.options.city
        return True


def each_or_quarantine(
    values: list[Any], normalise: Callable[[Any], Item | None], platform: str
) -> list[Item]:
    """Normalise each element of a page; a bad element is quarantined, the rest go on."""
    import json

    from listener.base import MalformedPayload, Quarantined

    out: list[Item] = []
    for value in values:
        try:
            item = normalise(value)
        except MalformedPayload as exc:
            # a lone surrogate (hostile JSON) is kept as its escape, not a crash
            raw = json.dumps(value, ensure_ascii=False, default=str).encode(
                "utf-8", "backslashreplace"
            )
            out.append(Quarantined(raw=raw, reason=f"{platform}: {exc}", platform=platform))
            continue
        if item is not None:
            out.append(item)
    return out


# --------------------------------------------------------------------------- rate limits


def load_cursor(cursor: str | None, kind: str) -> dict[str, str]:
    """A source's JSON cursor as a flat map of strings; an unreadable one starts afresh."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        log.warning("%s: ignoring a cursor that is not JSON: %r", kind, cursor[:40])
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str], now: datetime, *, default: float = 60.0) -> float:
    """Seconds to wait from a response's headers: ``Retry-After``, then the reset headers.

    ``x-rate-limit-reset`` (X) and ``x-ratelimit-reset`` as an epoch time or, when small,
    as seconds from now (Reddit); ``X-RateLimit-Reset`` as an ISO time (Mastodon).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ts = now.timestamp()
    value = lower.get("retry-after")
    if value is not None:
        secs = _number(value)
        if secs is not None:
            return max(0.0, secs)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - ts)
        except (TypeError, ValueError):
            pass
    for key in ("x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"):
        value = lower.get(key)
        if value is None:
            continue
        secs = _number(value)
        if secs is not None:
            return max(0.0, secs - ts) if secs > 1_000_000_000 else max(0.0, secs)
        try:
            reset = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if reset.tzinfo is None:
            reset = reset.replace(tzinfo=UTC)
        return max(0.0, reset.timestamp() - ts)
    return default
