"""``ReplyDesk``: what the replies functions share (engine, settings, cities, clock, senders),
and :func:`attach_replies`, which wires drafting and sending into a built ``Services``.

``attach_replies(services)`` seeds each city's templates, drafts replies after labels are
stored (``after_classify``), redrafts and follows up on case events (``case_event_batches``), and
adds the ``send_replies`` outbox job (``extra_jobs``). The console reaches the same desk
through :func:`desk_for`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from civic_listener.cities import CityDirectory, CityInfo
from civic_listener.settings import Settings
from models.types import utcnow
from responders.replies.senders.base import Sender

if TYPE_CHECKING:
    from civic_listener.wiring import Services

log = logging.getLogger(__name__)
SEND_JOB = "send_replies"


@dataclass
class ReplyDesk:
    engine: Engine
    settings: Settings
    cities: CityDirectory
    clock: Callable[[], datetime] = utcnow
    # the default city's senders, and those of every other city that has its own accounts
    # (a city missing from ``city_senders`` sends with ``senders``)
    senders: dict[str, Sender] = field(default_factory=dict)
    city_senders: dict[int, dict[str, Sender]] = field(default_factory=dict)
    # platform -> when its rate limit resets (this process's memory; rows carry it too)
    paused_until: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def from_services(
        cls, services: Services, *, senders: Mapping[str, Sender] | None = None
    ) -> ReplyDesk:
        from responders.replies.senders import build_senders

        default = services.cities.default
        per_city: dict[int, dict[str, Sender]] = {}
        if senders is not None:  # given senders serve every city
            built = dict(senders)
        else:
            built = build_senders(services.settings, city=default, transports=services.transports)
            for city in services.cities:
                if city.id != default.id:
                    per_city[city.id] = build_senders(
                        services.settings, city=city, transports=services.transports
                    )
        return cls(
            engine=services.engine,
            settings=services.settings,
            cities=services.cities,
            clock=lambda: services.clock(),  # follows a clock replaced later
            senders=built,
            city_senders=per_city,
        )

    def city(self, city_id: int) -> CityInfo:
        return self.cities.by_id[city_id]

    def senders_for(self, city_id: int | None) -> dict[str, Sender]:
        """The senders of ``city_id``'s own accounts (``None``: the default city's)."""
        if city_id is None:
            return self.senders
        return self.city_senders.get(city_id, self.senders)

    def sends_for_real(self, platform: str, city_id: int | None = None) -> bool:
        """False in dry run or when the city has no sending credentials for the platform."""
        return not self.settings.dry_run and platform in self.senders_for(city_id)

    def all_senders(self) -> list[Sender]:
        """Every sender built, once each (to close them)."""
        out: list[Sender] = list(self.senders.values())
        for senders in self.city_senders.values():
            out.extend(senders.values())
        return out


def desk_for(services: Services) -> ReplyDesk:
    """The desk attached to ``services`` (built, without hooks, when none was attached)."""
    desk = getattr(services, "replies", None)
    if not isinstance(desk, ReplyDesk):
        desk = ReplyDesk.from_services(services)
        services.replies = desk  # type: ignore[attr-defined]
    return desk


def attach_replies(services: Services, *, senders: Mapping[str, Sender] | None = None) -> ReplyDesk:
    """Wire drafting and sending into ``services``; returns the desk."""
    from responders.replies.drafts import on_case_events, on_classified
    from responders.replies.outbox import run_outbox
    from responders.replies.templates import ensure_defaults

    desk = ReplyDesk.from_services(services, senders=senders)
    services.replies = desk  # type: ignore[attr-defined]
    for city in services.cities:
        ensure_defaults(services.engine, city_id=city.id)

    def after_classify(city_id: int, post_ids: Sequence[int]) -> None:
        on_classified(desk, city_id, post_ids)

    def case_events(event: str, city_id: int, case_ids: Sequence[int]) -> None:
        on_case_events(desk, event, city_id, case_ids)

    def send_job() -> Any:
        return run_outbox(desk)

    services.after_classify.append(after_classify)
    services.case_event_batches.append(case_events)
    services.extra_jobs.append((SEND_JOB, send_job, services.settings.reply_send_interval_seconds))
    log.debug(
        "replies attached: senders %s, other cities %s, dry run %s",
        sorted(desk.senders),
        {services.cities.by_id[c].slug: sorted(v) for c, v in desk.city_senders.items()},
        services.settings.dry_run,
    )
    return desk
