"""Location extraction: street addresses, intersections, neighbourhoods, landmarks, coordinates.

Two parts work together:

* a city **gazetteer** (:class:`Gazetteer`) of neighbourhoods with centroids, streets with their
  spoken aliases ("Mass Ave") and landmarks, which each city configures for itself
  (``Gazetteer.from_dict``); the Boston one ships as the default.  Phrases are matched on word
  n-grams with a dictionary, which is as exact as spaCy's ``PhraseMatcher`` on ``LOWER`` and a
  lot faster per post;
* a small **address parser** of regular expressions for "123 Main St", "corner of X and Y",
  "X & Y", "X / Y", "X at Y" and "lat, lon", which works in any city.

A pluggable :class:`Geocoder` turns an address or intersection into coordinates where a city
configures one; without one the address string is kept for Open311's ``address_string``.

Speed without changing a place: street and address patterns are searched only from a few words
before each street suffix in the post (``scanning.anchored_finditer``), and for text that
lowercasing keeps the same length the gazetteer is matched in one pass over the tokens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from classifiers.api import Location
from classifiers.lexicons import ROAD_STATE_WORDS
from classifiers.scanning import anchored_finditer, trie

DEFAULT_GAZETTEER = Path(__file__).parent / "gazetteers" / "boston.json"

SUFFIXES = (
    "st",
    "street",
    "ave",
    "av",
    "avenue",
    "rd",
    "road",
    "blvd",
    "boulevard",
    "dr",
    "drive",
    "ln",
    "lane",
    "way",
    "ct",
    "court",
    "pl",
    "place",
    "ter",
    "terrace",
    "pkwy",
    "parkway",
    "hwy",
    "highway",
    "cir",
    "circle",
    "sq",
    "square",
    "row",
    "plaza",
    # as Britain, Ireland, Australia, New Zealand and Canada also name them
    "pde",
    "cres",
    "crescent",
    "tce",
    "grove",
    "esplanade",
    "quay",
    "mews",
    "gdns",
)
_SUFFIX_RX = "|".join(sorted(SUFFIXES, key=len, reverse=True))
_SUFFIX_SET = frozenset(SUFFIXES)


_SUFFIX_TRIE = trie(SUFFIXES)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_STOP_BEFORE = frozenset(
    [
        "the",
        "a",
        "an",
        "on",
        "in",
        "at",
        "of",
        "and",
        "or",
        "to",
        "from",
        "by",
        "for",
        "near",
        "with",
        "is",
        "are",
        "was",
        "my",
        "our",
        "your",
        "this",
        "that",
        "off",
        "down",
        "up",
        "along",
        "across",
        "outside",
        "behind",
        "front",
        "corner",
        "there",
        "here",
        "de",
        "la",
        "el",
        "en",
        "y",
        *ROAD_STATE_WORDS,
        # what a report says before the street it names ("pothole Rathmines Road", "water main
        # break 35th ave", "not emptied tuesday Boundary St"): never the first word of its name
        "pothole",
        "potholes",
        "break",
        "leak",
        "leaking",
        "graffiti",
        "trash",
        "garbage",
        "rubbish",
        "litter",
        "dumped",
        "missed",
        "parked",
        "reported",
        "again",
        "still",
        "today",
        "yesterday",
        "tonight",
        "now",
        "please",
        "pls",
        "than",
        "go",
        "goes",
        "went",
        "feel",
        *_WEEKDAYS,
    ]
)
# a word and a suffix written in full that name a kind of road, not one road ("facing the wrong
# way", "the bike lane on Dexter", "the frontage road at Riverside"; "Frontage Rd" is a name)
_GENERIC_ROADS: dict[str, frozenset[str]] = {
    "way": frozenset(["wrong", "one", "give", "no", "half", "every", "other", "right", "all"]),
    "lane": frozenset(
        [
            "bike",
            "bus",
            "back",
            "fast",
            "slow",
            "turn",
            "turning",
            "cycle",
            "travel",
            "parking",
            "fire",
            "left",
            "right",
            "middle",
            "inside",
            "outer",
            "inner",
            "hov",
        ]
    ),
    "road": frozenset(
        ["frontage", "service", "access", "side", "back", "slip", "private", "country", "toll"]
    ),
    "street": frozenset(["side", "back", "cross", "residential", "city", "one"]),
}
# "123 Main St", "45-47 N. Elm Street", "1318 nye" is left to the gazetteer (no suffix).
_ADDRESS = re.compile(
    r"\b(\d{1,5}(?:-\d{1,5})?[½¼¾]?[a-z]?)\s+((?:(?:n|s|e|w|north|south|east|west)\.?\s+)?"
    r"(?:[a-z0-9][\w'.-]*\s+){0,3}?)(" + _SUFFIX_RX + r")\b\.?",
    re.IGNORECASE,
)
_GENERIC_STREET = re.compile(
    r"\b((?:[A-Za-z0-9][\w'.-]*\s+){1,3}?)(" + _SUFFIX_RX + r")\b\.?", re.IGNORECASE
)
# The same two patterns, faster, for ``anchored_finditer``: the suffixes as a prefix tree, and a
# word with the spaces after it taken whole (possessive: giving back a character can never let
# the rest match, as ``\s`` and ``[\w'.-]`` share no character and what follows the spaces is
# never a space).  A match ends in a suffix word right after whitespace and starts at most three
# (street) or five (address: number, direction, three words) runs of non-space before it.
_ADDRESS_FAST = re.compile(
    r"\b(\d{1,5}(?:-\d{1,5})?[½¼¾]?[a-z]?)\s+((?:(?:n|s|e|w|north|south|east|west)\.?\s+)?"
    r"(?:[a-z0-9][\w'.-]*+\s++){0,3}?)(" + _SUFFIX_TRIE + r")\b\.?",
    re.IGNORECASE,
)
_GENERIC_STREET_FAST = re.compile(
    r"\b((?:[A-Za-z0-9][\w'.-]*+\s++){1,3}?)(" + _SUFFIX_TRIE + r")\b\.?", re.IGNORECASE
)
# every place a suffix word can end either pattern: after a whitespace character (the same
# suffixes, flags and boundary); in ASCII text the same places are found case-sensitively (and
# faster) in the lowercased text
_SUFFIX_AT = re.compile(r"\s" + _SUFFIX_TRIE + r"\b", re.IGNORECASE)
_SUFFIX_AT_LOWER = re.compile(r"\s" + _SUFFIX_TRIE + r"\b")
_CORNER_HEAD = r"\b(?:corner|intersection|cross(?:ing)?|esquina)\s+(?:of|de|between|entre)\s+"
# where an intersection can start: a text without it cannot match _CORNER (a cheap test first)
_CORNER_START = re.compile(_CORNER_HEAD, re.IGNORECASE)
# a street name: one to four whole words (words never split, so no backtracking blow-up and
# no connector found inside a word, as "y" in "Bay")
# (a word's "." only inside it, as in "St.John": "St." at the end of a name is a full stop)
_CORNER_WORD = r"[A-Za-z0-9](?:[\w'-]|\.(?=\w))*"
_CORNER_STREET = rf"({_CORNER_WORD}(?:\s+{_CORNER_WORD}){{0,3}}?)"
_CORNER = re.compile(
    _CORNER_HEAD
    + _CORNER_STREET
    + r"\s*(?:\b(?:and|y|with|at)\b|&|/|\+)\s*"
    + _CORNER_STREET
    + r"(?=$|[.,;:!?)\n]|\s+(?:is|are|has|have|was|there|needs?|the)\b|\s*-)",
    re.IGNORECASE,
)
# an address by its block or its direction, without a suffix word ("2400 block of S Hicks",
# "1600 blk N Gilmor", "1200 blk of main", "5130 S Marshfield", "1400 W 63rd"), and a number
# right after "at" before a name ("at 2600 Blaisdell"): how 311 reports in grid cities give one
_DIRECTION = r"(?:[NS][EW]?|[EW]|North|South|East|West)\.?"
_NAMED = r"(?:[A-Z][a-z][\w'-]*|\d{1,3}(?:st|nd|rd|th))"
_NAMED_MORE = r"(?:\s+(?:[A-Z][a-z][\w'-]*|[A-Z]\b))?"  # "Queens Quay", "Ave J"
# (one pattern, so that a post is scanned once; "bare" is a number before a name, an address
# only where ``_AT_CUE`` comes before it)
_NUMBERED_ADDRESS = re.compile(
    r"\b\d{2,5}(?:"
    r"\s+(?i:blk|block)\.?\s+(?:(?i:of)\s+)?(?:(?i:[nsew]|north|south|east|west)\.?\s+)?"
    rf"[A-Za-z0-9][\w'-]*{_NAMED_MORE}"
    rf"|\s+{_DIRECTION}\s+{_NAMED}"
    r"|(?P<bare>[a-z]?\s+[A-Z][a-z]{2,}[\w'-]*(?:\s+[A-Z][a-z][\w'-]*)?)"
    r")(?:\s+(?i:" + _SUFFIX_RX + r")\b\.?)?"
)
# words that never stand between a house number and its street's suffix word
_NOT_IN_ADDRESS = frozenset(
    ("at", "on", "in", "near", "by", "from", "to", "for", "with", "and", "or", "is", "are", "was")
    + ("my", "our", "your", "this", "that", "closed")
)
# a word that can be a house number (as ``_ADDRESS`` starts), among an address's words
_HOUSE_NUMBER = re.compile(r"(?<!\S)\d{1,5}(?:-\d{1,5})?[½¼¾]?[a-z]?(?=\s)", re.IGNORECASE)
# a whole number and a fraction's numerator before an address's number ("12 1/2 Oak St")
_FRACTION_BEFORE = re.compile(r"(?<![\w/.,])\d{1,5}\s+[1-7]/$")


def _later_address(text: str, m: re.Match[str]) -> re.Match[str] | None:
    """The address that starts at the last number among the words of ``m`` (an ``_ADDRESS``
    match that holds a word no address does), if it holds no such word itself."""
    for w in reversed(list(_HOUSE_NUMBER.finditer(m.group(2)))):
        later = _ADDRESS.match(text, m.start(2) + w.start())
        if (
            later is not None
            and later.end() == m.end()
            and _NOT_IN_ADDRESS.isdisjoint(later.group(2).lower().split())
        ):
            return later
    return None


_AT_CUE = re.compile(r"\b(?i:at|outside|opposite|opp)\s+$")
# two named streets without suffix words at a crossing, after a word that places it ("at Kedzie
# & Belmont", "behind Lake & Pillsbury", "at 16th and Wazee"; with "and" one side is a number;
# "between 4th and 5th" is a stretch of road, not a crossing); the first may have a suffix and a
# direction ("at Lawrence Ave E & Kennedy")
_BARE_CROSS = re.compile(
    r"\b(?:[aA]t|[oO][fn]|[nN]ear|[bB]y|[bB]ehind)\s+"
    rf"({_NAMED}{_NAMED_MORE}{_NAMED_MORE})\s*(&|/|\+|\band\b)\s*({_NAMED}{_NAMED_MORE})\b"
)
_ORDINAL = re.compile(r"^\d{1,3}(?:st|nd|rd|th)$")
_ORDINAL_IN = re.compile(r"\d(?:st|nd|rd|th)\b")
# capitalised words that are no street's whole name in such a phrase
_NOT_NAMES = frozenset(
    (
        *_WEEKDAYS,
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "christmas",
        "easter",
        "thanksgiving",
        "halloween",
        "the",
        "this",
        "that",
        "these",
        "those",
        "there",
        "then",
        "and",
        "but",
        "our",
        "my",
        "your",
        "his",
        "her",
        "their",
        "its",
        "mom",
        "dad",
        "mum",
        "police",
        "council",
        "city",
        "mayor",
        "god",
    )
)
# a suffix word right after a match ("77 Grove St": the name ends at its last suffix word)
_MORE_SUFFIX = re.compile(r"\s+(?:" + _SUFFIX_RX + r")\b\.?", re.IGNORECASE)


# "St" before a name is Saint ("behind Grey St St Kilda"), no suffix of the street before it
_SAINT = re.compile(r"\s+[Ss]t\.?\s+[A-Z]")


# a direction after a street's suffix word, part of its name in grid cities ("Sheppard Ave W",
# "Lawrence Ave E & Kennedy", "17th Ave SW", "Main St N."), but not the first word of a place
# named after it ("Meridian St East Boston") nor a side of something ("Elm St E of the bridge").
# Typed in lowercase, only a two-letter one ("35th ave sw"): a single letter may be a word ("n"
# for "and"), "west end" a place, and "se" before a word is Spanish ("la 5 ave se inundó")
_AFTER_DIRECTION = re.compile(
    r"\s+(?:[NS][EW]?|[EW]|North|South|East|West|n[ew]|sw|se(?!\s+[^\W\d_]))"
    r"(?:\.|\b(?!\s+[A-Z][a-z]|/|\s+of\b))"
)


# a direction written before a street's name ("NE Broadway", "W. Broadway"), in capitals as a name's
_BEFORE_DIRECTION = re.compile(r"(?<![\w.'-])(?:[NS][EW]?|[EW]|North|South|East|West)\.?\s$")


def _with_direction(text: str, m: _Mention) -> _Mention:
    """A gazetteer street with the direction written before it, which is part of its name."""
    d = _BEFORE_DIRECTION.search(text, max(0, m.start - 7), m.start)
    if d is None:
        return m
    return _Mention(d.start(), m.end, m.place, text[d.start() : m.end].rstrip("."))


# the word before a street's name that belongs to it: "St. Paul St", "Mt Vernon St", "Fort Hill"
# (not the suffix of a name before it, "Eva St Picnic Ave": then a capitalised word or a number
# comes before, which ``_name_start`` checks)
_NAME_PREFIX = re.compile(r"(?<![\w.'@#-])(?:St|Mt|Ft|Saint|Mount|Fort)\.?\s+$")
# a capitalised word (or initial) right before a position
_NAME_WORD_BEFORE = re.compile(r"(?<![\w.'@#-])([A-Z][\w'-]*\.?)\s+$")
_NAME_INNER = frozenset(["Jr", "Jr.", "Sr", "Sr."])
_WORD_BEFORE = re.compile(r"(\S+)\s+$")


def _is_initial(w: str) -> bool:
    return len(w.rstrip(".")) == 1 and w[0].isupper()


def _name_start(text: str, pos: int, lead: list[str]) -> int:
    """Where a street's name starts when its last words (``lead``, at most two) begin at
    ``pos``: before a saint's or mount's prefix ("St. Paul St"), before a first name and
    initials ("Manuel T. Freitas Pkwy", "M. S. Ali Rd") and before the two words in front of
    "Jr." ("Martin Luther King Jr. Blvd")."""
    first = lead[0]
    if lead[-1] in _NAME_INNER:
        for _ in range(2):
            w = _NAME_WORD_BEFORE.search(text, max(0, pos - 30), pos)
            if w is None or w.group(1).rstrip(".").lower() in _STOP_BEFORE:
                break
            pos = w.start()
    elif (
        len(lead) == 2 and _is_initial(first) and lead[1][0].isupper() and not _is_initial(lead[1])
    ):
        # "F. Kennedy": the initials before it, or else one first name
        for taken in range(2):
            w = _NAME_WORD_BEFORE.search(text, max(0, pos - 30), pos)
            if w is None or w.group(1).rstrip(".").lower() in _STOP_BEFORE:
                break
            if not _is_initial(w.group(1)):
                if taken == 0:
                    pos = w.start()
                break
            pos = w.start()
    if not first[0].isupper():
        return pos
    p = _NAME_PREFIX.search(text, max(0, pos - 8), pos)
    if p is None:
        return pos
    # after a word such as "on" or "the", or a sentence's end; not after another word, whose
    # suffix it would be ("Elm St Paul St", "that particular St. Oakmont Ave")
    before = _WORD_BEFORE.search(text, max(0, p.start() - 30), p.start())
    if before is None or before.group(1)[-1] in ".,:;!?" or before.group(1).lower() in _STOP_BEFORE:
        return p.start()
    return pos


def _past_suffixes(text: str, end: int) -> int:
    """Where a street name that ends at ``end`` really ends: after the suffix words right
    after it ("77 Grove St"), unless the next is Saint, and after a direction ("Ave E")."""
    m = _MORE_SUFFIX.match(text, end)
    if m is not None and not _SAINT.match(text, m.start()):
        end = m.end()
    d = _AFTER_DIRECTION.match(text, end)
    return end if d is None else d.end()


_CONNECTOR = re.compile(r"^\s*(?:&|and|/|at|@|y|x|\+|n|&amp;)\s*$", re.IGNORECASE)
_COORDS = re.compile(r"(-?\d{1,2}\.\d{3,})\s*,\s*(-?\d{1,3}\.\d{3,})")
# every pair of coordinates holds "." and three digits (found fast, from the "."): without them
# ``_COORDS`` cannot match
_COORDS_CORE = re.compile(r"\.\d{3}")
_DIGIT = re.compile(r"\d")
# a road named by its kind and a number or letter: "Route 9", "Hwy 101", "I-93", "US-1", "SR-520",
# "Avenue B" (the kind first, so no suffix word ends it; "US 10" with a space may be dollars)
_ROUTE = re.compile(
    r"(?<![\w-])(?:(?:State\s+)?(?:Route|Rte\.?|Highway|Hwy\.?)\s*\d{1,4}[A-Z]?"
    r"|(?:I|US|SR)-\d{1,3}|Avenue\s[A-Z])(?![\w-])"
)
_ROUTE_CUE = re.compile(r"Route|Rte|Highway|Hwy|I-\d|US-\d|SR-\d|Avenue\s[A-Z]\b")
# the number of a route is not a house number ("Hwy 101 at Main St")
_ROUTE_BEFORE = re.compile(r"(?:Route|Rte\.?|Highway|Hwy\.?|I-|SR-|US-)\s*$")
_LEADING = frozenset(("the", "a", "an", "la", "el"))
_PLAIN = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r"[^\W_]+(?:['.][^\W_]+)*")
_TOKEN_ASCII = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")  # ``_TOKEN`` in lowercased ASCII text


def _suffix_places(text: str, lowered: str, ascii_text: bool) -> list[int]:
    """Where a street suffix word starts right after whitespace, for ``anchored_finditer``."""
    found = _SUFFIX_AT_LOWER.finditer(lowered) if ascii_text else _SUFFIX_AT.finditer(text)
    return [m.start() + 1 for m in found]


class Geocoder(Protocol):
    """Turns a free-text address or intersection into coordinates, or None."""

    def geocode(self, address: str, city: str) -> tuple[float, float] | None: ...


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: str  # "neighborhood" | "landmark" | "street"
    lat: float | None = None
    lon: float | None = None
    neighborhood: str | None = None


@dataclass(slots=True)
class Gazetteer:
    """A city's places: neighbourhoods (with centroids), streets and landmarks, with aliases."""

    city: str
    places: list[Place] = field(default_factory=list)
    aliases: dict[tuple[str, ...], Place] = field(default_factory=dict)
    max_len: int = 1
    first_words: set[str] = field(default_factory=set)  # anchor tokens, to skip posts fast
    starts: set[str] = field(default_factory=set)  # first tokens of the aliases
    odd_first: bool = False  # some alias starts with a token that is not a plain word

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Gazetteer:
        """Build from ``{"city", "neighborhoods": [{name, lat, lon, aliases}], "streets": [{name,
        aliases}], "landmarks": [{name, lat, lon, neighborhood, aliases}]}``."""
        gz = cls(city=str(d.get("city", "")))
        for n in d.get("neighborhoods", []):
            gz.add(
                Place(n["name"], "neighborhood", n.get("lat"), n.get("lon"), n["name"]),
                n.get("aliases", []),
            )
        for s in d.get("streets", []):
            gz.add(Place(s["name"], "street"), s.get("aliases", []))
        for lm in d.get("landmarks", []):
            gz.add(
                Place(lm["name"], "landmark", lm.get("lat"), lm.get("lon"), lm.get("neighborhood")),
                lm.get("aliases", []),
            )
        return gz

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def load_default(cls) -> Gazetteer:
        """The Boston gazetteer shipped with the package."""
        return cls.load(DEFAULT_GAZETTEER)

    def add(self, place: Place, aliases: Iterable[str]) -> None:
        self.places.append(place)
        for alias in [place.name, *aliases]:
            key = tuple(t.lower().rstrip(".") for t in _TOKEN.findall(alias))
            if key and key not in self.aliases:
                self.aliases[key] = place
                self.max_len = max(self.max_len, len(key))
                anchor = key[1] if key[0] in _LEADING and len(key) > 1 else key[0]
                if anchor.isalnum():
                    self.first_words.add(anchor)
                    self.starts.add(key[0])
                else:
                    self.odd_first = True

    def neighborhood(self, name: str) -> Place | None:
        for p in self.places:
            if p.kind == "neighborhood" and p.name == name:
                return p
        return None


@dataclass(slots=True)
class _Mention:
    start: int
    end: int
    place: Place | None
    text: str


class LocationExtractor:
    """Finds the places named in posts (pure; batch in, batch out)."""

    def __init__(
        self, gazetteer: Gazetteer | None = None, geocoder: Geocoder | None = None
    ) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else Gazetteer.load_default()
        self.geocoder = geocoder
        self._lengths: dict[str, tuple[int, ...]] = {}
        self._lengths_of = -1  # how many aliases ``_lengths`` was built from

    def extract(self, texts: Sequence[str]) -> list[list[Location]]:
        return [self.extract_one(t) for t in texts]

    def _alias_lengths(self) -> dict[str, tuple[int, ...]]:
        """First token of an alias -> the token counts of the aliases it starts, longest first
        (rebuilt when aliases are added)."""
        aliases = self.gazetteer.aliases
        if self._lengths_of != len(aliases):
            lengths: dict[str, set[int]] = {}
            for key in aliases:
                lengths.setdefault(key[0], set()).add(len(key))
            self._lengths = {w: tuple(sorted(ks, reverse=True)) for w, ks in lengths.items()}
            self._lengths_of = len(aliases)
        return self._lengths

    def _ascii_mentions(self, text: str, lowered: str, low: list[str]) -> list[_Mention]:
        """``_gazetteer_mentions`` in one pass, for a gazetteer whose aliases all start with a
        plain word and a text that lowercasing keeps the same length.  Then every character became
        one character of the same class (no character changes between letter or digit, space,
        "." or "'" when lowercased to one character), so the tokens of ``lowered`` (``low``) sit
        where those of ``text`` do; a token's start is found with ``str.find`` from the end of
        the one before (the characters between tokens cannot start one), only up to the tokens a
        mention needs."""
        gz = self.gazetteer
        aliases = gz.aliases
        lengths = self._alias_lengths()
        n = len(low)
        find = lowered.find
        at: list[int] = []  # starts of tokens 0 .. len(at) - 1

        def locate(upto: int) -> None:
            j = len(at)
            end = at[-1] + len(low[j - 1]) if j else 0
            while j <= upto:
                end = find(low[j], end)
                at.append(end)
                end += len(low[j])
                j += 1

        out: list[_Mention] = []
        after = 0  # tokens before this one belong to a mention already
        for i, w in enumerate(low):
            ks = lengths.get(w)
            if ks is None or i < after:
                continue
            for k in ks:
                if k > n - i:
                    continue
                place = aliases.get(tuple(low[i : i + k]))
                if place is None:
                    continue
                last = i + k - 1
                if len(at) <= last:
                    locate(last)
                start, end = at[i], at[last] + len(low[last])
                surface = text[start:end]
                if len(surface) <= 3 and surface.islower():
                    continue  # "jp", "mfa": short aliases only when written as a name
                break
            else:
                continue
            # "Tremont" followed by a street suffix belongs to the street mention
            if i + k < n and low[i + k] in _SUFFIX_SET and place.kind == "street":
                if len(at) <= i + k:
                    locate(i + k)
                end = at[i + k] + len(low[i + k])
                k += 1
            out.append(_Mention(start, end, place, text[start:end].rstrip(".")))
            after = i + k
        return out

    def _gazetteer_mentions(self, text: str, lowered: str, words: set[str]) -> list[_Mention]:
        gz = self.gazetteer
        if not gz.odd_first and gz.first_words.isdisjoint(words):
            return []
        low = _TOKEN.findall(lowered)
        same = len(lowered) == len(text)
        if same and not gz.odd_first:
            starts, aliases = gz.starts, gz.aliases
            if starts.isdisjoint(low) or not any(
                any(tuple(low[i : i + k]) in aliases for k in range(1, gz.max_len + 1))
                for i, w in enumerate(low)
                if w in starts
            ):
                return []
        toks = list(_TOKEN.finditer(text))
        if len(toks) != len(low):  # lowercasing changed the tokens: fall back to the exact path
            low = [t.group(0).lower() for t in toks]
        out: list[_Mention] = []
        n = len(toks)
        aliases, max_len = gz.aliases, gz.max_len
        # an alias can only start at one of its first tokens
        positions = range(n) if gz.odd_first else [i for i, w in enumerate(low) if w in gz.starts]
        after = 0  # tokens before this one belong to a mention already
        for i in positions:
            if i < after:
                continue
            hit = None
            for k in range(min(max_len, n - i), 0, -1):
                place = aliases.get(tuple(low[i : i + k]))
                if place is None:
                    continue
                surface = text[toks[i].start() : toks[i + k - 1].end()]
                if len(surface) <= 3 and surface.islower():
                    continue  # "jp", "mfa": short aliases only when written as a name
                hit = (k, place)
                break
            if hit is None:
                continue
            k, place = hit
            start, end = toks[i].start(), toks[i + k - 1].end()
            # "Tremont" followed by a street suffix belongs to the street mention
            if i + k < n and low[i + k] in _SUFFIX_SET and place.kind == "street":
                end = toks[i + k].end()
                k += 1
            out.append(_Mention(start, end, place, text[start:end].rstrip(".")))
            after = i + k
        return out

    def extract_one(self, text: str) -> list[Location]:
        if not isinstance(text, str) or not text.strip():
            return []
        lowered = text.lower()
        gz = self.gazetteer
        ascii_text = text.isascii()
        if len(lowered) == len(text) and not gz.odd_first:
            low = (_TOKEN_ASCII if ascii_text else _TOKEN).findall(lowered)
            # the plain words are the tokens split at their inner "." and "'"
            joined = " ".join(low)
            words = set(_PLAIN.findall(joined)) if "." in joined or "'" in joined else set(low)
            gz_mentions = (
                [] if gz.first_words.isdisjoint(words) else self._ascii_mentions(text, lowered, low)
            )
        else:
            words = set(_PLAIN.findall(lowered))
            gz_mentions = self._gazetteer_mentions(text, lowered, words)
        streets = [
            _with_direction(text, gm)
            for gm in gz_mentions
            if gm.place is not None and gm.place.kind == "street"
        ]
        has_suffix = not _SUFFIX_SET.isdisjoint(words)
        anchors: list[int] | None = None  # where a suffix word starts after whitespace
        if has_suffix:
            anchors = _suffix_places(text, lowered, ascii_text)
            for m in anchored_finditer(_GENERIC_STREET_FAST, anchors, text, 3):
                lead = m.group(1).split()
                cut = max(
                    (i + 1 for i, w in enumerate(lead) if w.lower() in _STOP_BEFORE), default=0
                )
                lead = lead[cut:][-2:]
                end = _past_suffixes(text, m.end())
                if lead:
                    if lead[0].isdigit():
                        continue
                    generic = _GENERIC_ROADS.get(m.group(2).lower())
                    if generic is not None and lead[-1].lower() in generic:
                        continue  # a kind of road ("the bike lane"); "Frontage Rd" is a name
                    pos = _name_start(text, m.start(1) + m.group(1).rfind(" ".join(lead)), lead)
                elif end > m.end():
                    pos = m.start(2)  # "Quay St": a suffix word that names the one after it
                else:
                    continue
                if any(x.start <= pos < x.end for x in streets):
                    continue
                streets.append(_Mention(pos, end, None, text[pos:end].rstrip(".")))
        if _ROUTE_CUE.search(text) is not None:
            for m in _ROUTE.finditer(text):
                a, b = m.span()
                over = [x for x in streets if x.start < b and a < x.end]
                if any(x.place is not None for x in over):
                    continue  # a name of the city's gazetteer
                # before a guess that ends in the route's kind word ("get onto Hwy")
                streets = [x for x in streets if x not in over]
                streets.append(_Mention(a, b, None, m.group(0)))
        streets.sort(key=lambda sm: sm.start)

        found: list[Location] = []
        taken: list[tuple[int, int]] = []

        def free(a: int, b: int) -> bool:
            return not taken or all(b <= ts or a >= te for ts, te in taken)

        digit = _DIGIT.search(text)
        has_digit = digit is not None
        first_digit = digit.start() if digit is not None else len(text)  # no number starts before
        coords = has_digit and "," in text and _COORDS_CORE.search(text) is not None
        for m in _COORDS.finditer(text) if coords else ():
            lat, lon = float(m.group(1)), float(m.group(2))
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                found.append(
                    Location(m.group(0), "coordinates", m.start(), m.end(), lat=lat, lon=lon)
                )
                taken.append((m.start(), m.end()))
        if (
            "corner" in lowered
            or "intersection" in lowered
            or "cross" in lowered
            or "esquina" in lowered
        ):
            for m in _CORNER.finditer(text) if _CORNER_START.search(text) else ():
                a, b = m.start(1), m.end(2)
                if free(a, b):
                    surface = f"{m.group(1).strip()} & {m.group(2).strip()}"
                    found.append(Location(surface, "intersection", a, b))
                    taken.append((a, b))
        if has_digit:
            # an address ends in a suffix word after whitespace: in ASCII text (no case folds
            # such as "ſt" ~ "st") that word is one of the text's words
            if anchors is None and not ascii_text:
                anchors = _suffix_places(text, lowered, ascii_text)
            addresses = anchored_finditer(_ADDRESS_FAST, anchors, text, 5) if anchors else ()
            for m in addresses:
                if not m.group(2).strip() and m.group(3).lower() == "way":
                    continue  # "a 4 way stop"
                if not _NOT_IN_ADDRESS.isdisjoint(m.group(2).lower().split()):
                    # "apt 3 at 120 Main St", "SR 5 closed at Main St": the number is not the
                    # street's; a later one may be
                    later = _later_address(text, m)
                    if later is None:
                        continue
                    m = later
                a, b = m.start(), _past_suffixes(text, m.end())
                if len(m.group(1)) == 1:
                    frac = _FRACTION_BEFORE.search(text, max(0, a - 9), a)
                    if frac is not None:
                        a = frac.start()  # "12 1/2 Oak St"
                if _ROUTE_BEFORE.search(text, max(0, a - 9), a):
                    continue
                if free(a, b):
                    found.append(Location(text[a:b].rstrip("."), "address", a, b))
                    taken.append((a, b))
            for m in _NUMBERED_ADDRESS.finditer(text, first_digit):
                a, b = m.span()
                if _ROUTE_BEFORE.search(text, max(0, a - 9), a):
                    continue
                if m.group("bare") is not None and (
                    _AT_CUE.search(text, max(0, a - 10), a) is None
                    or m.group("bare").split()[-1].lower() in _NOT_NAMES
                ):
                    continue  # a number before a name is an address only after "at"
                if free(a, b):
                    found.append(Location(text[a:b].rstrip("."), "address", a, b))
                    taken.append((a, b))
            # "45 Tremont" / "12 Mass Ave": a number right before a gazetteer street
            for st in streets:
                if st.place is None:
                    continue
                pre = re.search(r"(\d{1,5}[a-z]?)\s+$", text[max(0, st.start - 8) : st.start])
                if pre and free(st.start - len(pre.group(0)), st.end):
                    a = st.start - len(pre.group(0))
                    found.append(Location(text[a : st.end], "address", a, st.end))
                    taken.append((a, st.end))
        for x, y in zip(streets, streets[1:], strict=False):
            between = text[x.end : y.start]
            if _CONNECTOR.match(between) and free(x.start, y.end):
                found.append(Location(f"{x.text} & {y.text}", "intersection", x.start, y.end))
                taken.append((x.start, y.end))
        crossing = (
            "&" in text
            or "+" in text
            or ("/" in text and "://" not in text)
            or (has_digit and " and " in text and _ORDINAL_IN.search(text, first_digit) is not None)
        )
        for m in _BARE_CROSS.finditer(text) if crossing else ():
            one, other = m.group(1), m.group(3)
            if m.group(2) == "and" and not (_ORDINAL.match(one) or _ORDINAL.match(other)):
                continue  # "at Tom and Jerry's": only a numbered street makes "and" a crossing
            if {one.split()[0].lower(), other.split()[0].lower()} & _NOT_NAMES:
                continue
            a, b = m.start(1), m.end(3)
            if free(a, b):
                found.append(Location(f"{one} & {other}", "intersection", a, b))
                taken.append((a, b))
        for st in streets:
            if free(st.start, st.end):
                found.append(Location(st.text, "street", st.start, st.end))
                taken.append((st.start, st.end))
        hood: str | None = None
        for gm in gz_mentions:
            p = gm.place
            if p is None or p.kind == "street" or not free(gm.start, gm.end):
                continue
            found.append(Location(gm.text, p.kind, gm.start, gm.end, p.neighborhood, p.lat, p.lon))
            taken.append((gm.start, gm.end))
            if hood is None and p.kind == "neighborhood":
                hood = p.neighborhood
        found.sort(key=lambda loc: loc.start)
        return [self._finish(loc, hood) for loc in found]

    def _finish(self, loc: Location, hood: str | None) -> Location:
        if loc.kind not in ("address", "intersection", "street"):
            return loc
        lat = lon = None
        if self.geocoder is not None and loc.kind != "street":
            point = self.geocoder.geocode(loc.text, self.gazetteer.city)
            if point is not None:
                lat, lon = point
        return Location(loc.text, loc.kind, loc.start, loc.end, hood, lat, lon)
