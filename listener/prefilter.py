"""A cheap filter that runs on raw event bytes before any JSON parsing.

Most of a firehose is irrelevant to one city. :class:`Prefilter` lowers each line once and
looks for the city's keywords and watched account ids as byte substrings; only lines that
may match are parsed and checked exactly (:meth:`Prefilter.matches_text`). The byte test
never rejects a post the exact test would keep: keywords with characters JSON may escape
(non-ASCII, quotes, ``<>&``) also accept any line that contains an escape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ESCAPABLE = re.compile(r'[^\x20-\x7e]|["\\<>&]')


def _normal(keyword: str) -> str:
    return keyword.strip().casefold()


class Prefilter:
    def __init__(self, keywords: Iterable[str], accounts: Iterable[str] = ()) -> None:
        self.keywords = sorted({_normal(k) for k in keywords if k.strip()})
        self.accounts = sorted({a.strip() for a in accounts if a.strip()})
        self._needles = tuple(
            {k.encode("utf-8") for k in self.keywords if not _ESCAPABLE.search(k)}
            | {a.lower().encode("utf-8") for a in self.accounts}
        )
        self._escape_sensitive = any(_ESCAPABLE.search(k) for k in self.keywords)
        self._exact = (
            re.compile(
                "|".join(rf"(?<!\w){re.escape(k)}" for k in self.keywords),
                re.IGNORECASE,
            )
            if self.keywords
            else None
        )

    def candidate(self, line: bytes) -> bool:
        """True when ``line`` may hold a keyword or a watched account (never a false 'no')."""
        low = line.lower()
        for needle in self._needles:
            if needle in low:
                return True
        if self._escape_sensitive:
            return b"\\u" in line or any(
                k.encode("utf-8") in low or k.upper().encode("utf-8") in line for k in self.keywords
            )
        return False

    def matches_text(self, text: str) -> bool:
        """The exact keyword test on a post's text (a keyword at a word start)."""
        return bool(self._exact and self._exact.search(text))

    def matches_account(self, values: Iterable[str | None]) -> bool:
        watched = {a.lower() for a in self.accounts}
        return any(v is not None and v.lower() in watched for v in values)
