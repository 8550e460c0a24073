"""Privacy: masking personal details in exports, and retention.

Exports (CSV from the console, audit exports) pass every free-text cell through
:func:`mask_pii`: phone numbers and e-mail addresses are replaced, so a spreadsheet that
leaves City Hall carries no resident's contact details. :func:`purge` applies the retention
settings: expired posts keep their labels (so the figures stay right) but lose their text,
author, raw payload, links and coordinates; expired quarantine and audit rows are deleted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.store import CLASSIFICATION, POST
from models.tables import AuditEvent, QuarantinedPayload

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# North American and international numbers: 617-555-0123, (617) 555 0123, +1 617.555.0123,
# +44 20 7946 0958; at least 7 digits so dates and case numbers stay.
_PHONE = re.compile(
    r"(?<![\w#])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)"
)


def mask_pii(text: Any) -> Any:
    """Replace e-mail addresses and phone numbers in ``text``; other values pass through."""
    if not isinstance(text, str):
        return text
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def mask_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: mask_pii(v) for k, v in row.items()}


def purge(
    engine: Engine,
    *,
    now: datetime,
    posts_days: int | None = None,
    quarantine_days: int | None = None,
    audit_days: int | None = None,
) -> dict[str, int]:
    """Apply retention; returns how many rows of each kind were purged."""
    done = {"posts": 0, "quarantine": 0, "audit": 0}
    with engine.begin() as conn:
        if posts_days:
            cutoff = now - timedelta(days=posts_days)
            old = sa.select(POST.c.id).where(POST.c.created_at < cutoff, POST.c.text != "")
            conn.execute(
                CLASSIFICATION.update()
                .where(CLASSIFICATION.c.post_id.in_(old), CLASSIFICATION.c.task == "location")
                .values(evidence=None, label="")
            )
            res = conn.execute(
                POST.update()
                .where(POST.c.created_at < cutoff, POST.c.text != "")
                .values(
                    text="",
                    author="",
                    raw=None,
                    url=None,
                    lat=None,
                    lon=None,
                    location_text=None,
                )
            )
            done["posts"] = res.rowcount
        if quarantine_days:
            q = QuarantinedPayload.__table__  # type: ignore[attr-defined]
            res = conn.execute(
                q.delete().where(q.c.received_at < now - timedelta(days=quarantine_days))
            )
            done["quarantine"] = res.rowcount
        if audit_days:
            a = AuditEvent.__table__  # type: ignore[attr-defined]
            res = conn.execute(a.delete().where(a.c.at < now - timedelta(days=audit_days)))
            done["audit"] = res.rowcount
    return done
