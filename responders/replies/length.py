"""How long a reply is, counted the way each platform counts it.

- **X**: the weighted length of twitter-text v3. Text is NFC-normalised; every URL counts
  as 23 (t.co wrapping); code points in the Latin, general punctuation and similar ranges
  weigh 1, every other code point weighs 2 (so CJK text fits 140 characters); an emoji
  sequence counts 2 however many code points it has. Limit 280.
- **Mastodon**: grapheme clusters, with every ``http(s)://`` URL counted as 23 and a remote
  mention ``@user@instance`` counted as ``@user``. Limit 500 (the default of Mastodon servers).
- **Bluesky**: grapheme clusters of the text as written (links are not shortened). Limit 300
  graphemes and 3000 UTF-8 bytes.
- **Reddit**: characters. A comment holds 10,000.

Grapheme clusters follow the Unicode segmentation rules that matter for replies (combining
marks, ZWJ emoji sequences, variation selectors, skin tones, flags, Hangul syllables), using
only the standard library.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LIMITS: dict[str, int] = {"x": 280, "mastodon": 500, "bluesky": 300, "reddit": 10_000}
BLUESKY_MAX_BYTES = 3000
URL_LENGTH = 23  # t.co on X; Mastodon counts every link as 23 too

# Links as people write them in replies: with a scheme, or a bare www./city-style domain.
URL_RE = re.compile(
    r"(?:https?://[^\s<>\"]+|\bwww\.[^\s<>\"]+|\b[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*"
    r"\.(?:gov|com|org|net|edu|us|io|info|city)(?:/[^\s<>\"]*)?)",
    re.IGNORECASE,
)
SCHEME_URL_RE = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_MASTODON_MENTION = re.compile(r"(?<![\w/])@(\w+(?:[\w.\-]*\w)?)@[\w.\-]+\w", re.UNICODE)

# twitter-text v3: code point ranges that weigh 100 (one character); the rest weigh 200.
_X_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

_ZWJ = 0x200D


@dataclass(frozen=True, slots=True)
class Measure:
    """A reply's length on one platform."""

    platform: str
    count: int
    limit: int
    has_link: bool
    unit: str  # "weighted characters" | "characters" | "graphemes"
    note: str = ""

    @property
    def ok(self) -> bool:
        return 0 < self.count <= self.limit and not self.note

    @property
    def remaining(self) -> int:
        return self.limit - self.count


def find_urls(text: str, *, scheme_only: bool = False) -> list[tuple[int, int]]:
    """(start, end) of every link, with trailing punctuation left out."""
    out = []
    for m in (SCHEME_URL_RE if scheme_only else URL_RE).finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end > start:
            out.append((start, end))
    return out


# --------------------------------------------------------------------------- graphemes


def _is_extend(cp: int) -> bool:
    if cp in (_ZWJ, 0x200C) or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        return True
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # skin tones, tag characters
        return True
    return unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc")


def _is_pictographic(cp: int) -> bool:
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
        or 0x2190 <= cp <= 0x21FF
        or 0x25A0 <= cp <= 0x25FF
    )


def _is_regional(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _hangul(cp: int) -> str:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _joins(prev: int, cp: int, regional_run: int, pictographic_seen: bool) -> bool:
    """Whether ``cp`` continues the cluster that ends with ``prev`` (UAX #29, simplified)."""
    if prev == 0x0D and cp == 0x0A:
        return True
    if prev in (0x0A, 0x0D) or cp in (0x0A, 0x0D):
        return False
    if _is_extend(cp):
        return True
    if prev == _ZWJ and pictographic_seen and _is_pictographic(cp):
        return True
    if _is_regional(cp) and _is_regional(prev):
        return regional_run % 2 == 1
    hp, hc = _hangul(prev), _hangul(cp)
    return bool(
        (hp == "L" and hc in ("L", "V", "LV", "LVT"))
        or (hp in ("LV", "V") and hc in ("V", "T"))
        or (hp in ("LVT", "T") and hc == "T")
    )


def graphemes(text: str) -> list[str]:
    """Split ``text`` into user-perceived characters (extended grapheme clusters)."""
    clusters: list[str] = []
    current = ""
    prev = -1
    regional_run = 0
    pictographic_seen = False
    for ch in text:
        cp = ord(ch)
        join = bool(current) and _joins(prev, cp, regional_run, pictographic_seen)
        if join:
            current += ch
        else:
            if current:
                clusters.append(current)
            current = ch
            regional_run = 0
            pictographic_seen = False
        if _is_regional(cp):
            regional_run += 1
        if _is_pictographic(cp):
            pictographic_seen = True
        prev = cp
    if current:
        clusters.append(current)
    return clusters


def _is_emoji_cluster(cluster: str) -> bool:
    cps = [ord(c) for c in cluster]
    if _is_regional(cps[0]) and len(cps) == 2:
        return True
    if _is_pictographic(cps[0]) and cps[0] >= 0x1F000:
        return True
    # a text-default symbol made into emoji by VS16, or a keycap
    return 0xFE0F in cps or 0x20E3 in cps


# --------------------------------------------------------------------------- counters


def x_weighted_length(text: str) -> int:
    """The weighted length X checks against 280."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for start, end in find_urls(text):
        total += _x_plain(text[pos:start]) + URL_LENGTH * 100
        pos = end
    total += _x_plain(text[pos:])
    return total // 100


def _x_plain(text: str) -> int:
    weight = 0
    for cluster in graphemes(text):
        if _is_emoji_cluster(cluster):
            weight += 200
            continue
        for ch in cluster:
            cp = ord(ch)
            weight += 100 if any(lo <= cp <= hi for lo, hi in _X_LIGHT) else 200
    return weight


def mastodon_length(text: str) -> int:
    """Mastodon's count: graphemes, links as 23, remote mentions by their local part."""
    out, pos = [], 0
    for start, end in find_urls(text, scheme_only=True):
        out.append(text[pos:start] + "x" * URL_LENGTH)
        pos = end
    out.append(text[pos:])
    countable = _MASTODON_MENTION.sub(lambda m: "@" + m.group(1), "".join(out))
    return len(graphemes(countable))


def bluesky_length(text: str) -> int:
    return len(graphemes(text))


def reddit_length(text: str) -> int:
    return len(text)


def measure(platform: str, text: str) -> Measure:
    """The reply's length on ``platform`` and whether it fits."""
    has_link = bool(find_urls(text))
    if platform == "x":
        return Measure(
            platform, x_weighted_length(text), LIMITS["x"], has_link, "weighted characters"
        )
    if platform == "mastodon":
        return Measure(platform, mastodon_length(text), LIMITS["mastodon"], has_link, "characters")
    if platform == "bluesky":
        size = len(text.encode("utf-8"))
        note = (
            f"{size} bytes is over Bluesky's {BLUESKY_MAX_BYTES}"
            if size > BLUESKY_MAX_BYTES
            else ""
        )
        return Measure(
            platform, bluesky_length(text), LIMITS["bluesky"], has_link, "graphemes", note
        )
    if platform == "reddit":
        return Measure(platform, reddit_length(text), LIMITS["reddit"], has_link, "characters")
    raise ValueError(f"unknown platform {platform!r}")
