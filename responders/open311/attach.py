"""``attach_cases(services)``: wires triage, the outbox and status sync into a built
``Services``: triage runs after labels are stored, the outbox and status sync run as
scheduled jobs. Nothing touches the network here."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from responders.open311.desk import CaseDesk
from responders.open311.outbox import Outbox, OutboxReport
from responders.open311.sync import StatusSync, SyncReport

if TYPE_CHECKING:
    from civic_listener.wiring import Services

_ATTR = "case_desk"


class Cases:
    """The cases part of one ``Services``: the desk, its outbox and its status sync."""

    def __init__(self, services: Services) -> None:
        self.desk = CaseDesk(services)
        self.outbox = Outbox(self.desk)
        self.sync = StatusSync(self.desk)

    def triage(self, city_id: int, post_ids: Sequence[int]) -> None:
        """The after-classify hook."""
        self.desk.triage(city_id, post_ids)

    def run_outbox(self, *, city_ids: Collection[int] | None = None) -> OutboxReport:
        """One outbox pass (the ``cases_outbox`` job); ``city_ids`` limits it to those cities."""
        try:
            return self.outbox.run(city_ids=city_ids)
        finally:
            self.desk.close_clients()

    def run_sync(
        self, *, force: bool = False, city_ids: Collection[int] | None = None
    ) -> SyncReport:
        """One status-sync pass (the ``cases_status_sync`` job); ``city_ids`` limits it."""
        try:
            return self.sync.run(force=force, city_ids=city_ids)
        finally:
            self.desk.close_clients()


def attach_cases(services: Services) -> Cases:
    """Hook cases into ``services`` (once); returns the :class:`Cases` object."""
    existing = getattr(services, _ATTR, None)
    if isinstance(existing, Cases):
        return existing
    cases = Cases(services)
    setattr(services, _ATTR, cases)
    services.after_classify.append(cases.triage)
    settings = services.settings
    services.extra_jobs.append(
        ("cases_outbox", cases.run_outbox, settings.cases_outbox_interval_seconds)
    )
    services.extra_jobs.append(
        ("cases_status_sync", cases.run_sync, settings.cases_sync_interval_seconds)
    )
    return cases


def cases_of(services: Services) -> Cases:
    """The :class:`Cases` of ``services``, attaching them when a caller built services without."""
    return attach_cases(services)
