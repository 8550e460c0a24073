"""Service requests through Open311 GeoReport v2: client, triage, duplicates, outbox, status.

Public entry points: :func:`attach_cases` (called by ``build_services``), :func:`cases_of`,
and the console actions in :mod:`responders.open311.actions`.
"""

from responders.open311.attach import Cases, attach_cases, cases_of

__all__ = ["Cases", "attach_cases", "cases_of"]
