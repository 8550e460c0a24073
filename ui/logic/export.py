"""CSV export of what a page shows, with phone numbers and e-mail addresses masked."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# North American and international forms: (617) 555-0100, 617.555.0100, +1 617 555 0100, ...
_PHONE = re.compile(r"(?<![\w])\+?\d{0,3}[\s.-]?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w])")
# A cell starting with these is a formula to a spreadsheet: prefix it so it stays text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def mask(text: str) -> str:
    """Replace e-mail addresses and phone numbers with placeholders."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        value = mask(value)
        if value.startswith(_FORMULA_START):
            value = "'" + value
        return value
    return value


def to_csv(rows: Iterable[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Rows as CSV text; private columns (starting with "_") are left out."""
    rows = list(rows)
    if columns is None:
        columns = [k for k in (rows[0] if rows else {}) if not k.startswith("_")]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()
