"""Text normalisation and hashed features shared by every model head.

A post becomes: word unigrams and bigrams, character 4-grams inside words (robust to typos), and
pseudo-tokens for lexicon hits (topic keywords, danger rules, sentiment words, emoji, negation).
Everything is hashed into one fixed space with scikit-learn's ``FeatureHasher`` formula so no
vocabulary has to be stored, and every row is L2-normalised on its own, so a post's features never
depend on the other posts of its batch.

Normalisation removes what would tie a model to the cities it was trained on: URLs, @handles,
numbers, street addresses and the names of the training cities become placeholder tokens.

Speed without changing a value: ``Featurizer.transform`` builds exactly the matrix that
``FeatureHasher`` makes of ``analyse``'s (token, weight) pairs, from cached columns (a word with its
character 4-grams, a pseudo-token, kept as packed 8-byte codes so a row is joined, not built number
by number; bigrams, mostly new, are hashed in C each time) instead of hashing every string of every
post; an urgency or life-safety
regex runs only on a text that holds one of the strings it cannot match without
(``required_strings``, derived from the pattern itself, so edited lexicons keep it exact), and an
urgency rule made of many alternatives runs only the alternatives whose own strings the text holds
(``top_alternatives``).  Where a pattern is slow in Python's ``re`` an equivalent form runs
instead (the same matches: a prefix-tree alternation, ASCII character classes for ASCII text, a
cheap pattern that every match contains as a prefilter); ``tests/classifiers/test_exact_paths.py``
compares each with the plain one.
"""

from __future__ import annotations

import re
import struct
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from classifiers import lexicons as lx
from classifiers.hashing import l2_normalize_rows, murmurhash3_32
from classifiers.scanning import anchored_finditer, trie

N_FEATURES = 2**18
FEATURE_VERSION = 1

_URL = re.compile(r"https?://\S+|www\.\S+|\S+\.(?:com|org|net|gov|ly|co)/\S*", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_ELONG = re.compile(r"(\w)\1{2,}")
_DIGITS = re.compile(r"\d+(?:[.,:]\d+)*")
_DIGITS_ASCII = re.compile(r"[0-9]+(?:[.,:][0-9]+)*")  # ``_DIGITS`` in ASCII text, faster
_STREET_SUFFIX = (
    r"(?:st|street|ave|av|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|pl|place|ter|terrace|"
    r"pkwy|parkway|hwy|highway|cir|circle)"
)
_ADDRESS = re.compile(r"\b0\s+(?:[a-z][\w'-]*\s+){1,3}?" + _STREET_SUFFIX + r"\b\.?")
# words that are not the name of a street: "the road", "this street", "bike lane", "tennis court", "wrong
# way", "uneven road" stay words (and topic keywords) instead of becoming ``_street``
_NOT_STREET_NAME = (
    "the|a|an|this|that|these|those|on|of|to|in|and|or|our|my|your|their|his|her|its|no|one|"
    "any|every|each|other|same|whole|entire|for|by|at|near|into|onto|from|off|up|down|along|"
    "across|over|under|is|was|are|be|been|only|wrong|right|left|front|back|side|service|"
    "public|private|busy|bad|good|nice|narrow|wide|dark|dirty|uneven|broken|damaged|cracked|"
    "bumpy|new|old|long|small|big|large|bike|fire|tennis|basketball|food|traffic|turn|hand|"
    "single|dead|open|closed|slow|fast|residential|way|street|road|lane|avenue|"
    + "|".join(lx.ROAD_STATE_WORDS)
)
_STREET = re.compile(
    r"\b(?!(?:"
    + _NOT_STREET_NAME
    + r")\s)[a-z][\w'-]+\s+"
    + _STREET_SUFFIX
    + r"\b\.?(?!\s+(?:light|lamp|sign|sweep))"
)
# ``_STREET`` with the same matches, found faster: the suffixes as a prefix tree (followed by
# ``\b``, only one can match at a place), and a word and the spaces after it taken whole
# (possessive: giving back a character never lets the rest match, as ``\s`` and ``[\w'-]`` share
# no character and no suffix starts with a space)
_SUFFIX_TRIE = trie(_STREET_SUFFIX.strip("(?:)").split("|"))
_STREET_FAST = re.compile(
    r"\b(?!(?:"
    + _NOT_STREET_NAME
    + r")\s)[a-z][\w'-]++\s++"
    + _SUFFIX_TRIE
    + r"\b\.?(?!\s+(?:light|lamp|sign|sweep))"
)
# where a suffix word starts right after whitespace: every match of ``_STREET`` ends in one, so
# ``_anchored_sub`` searches for them only from the word before each (about half the time of
# ``_STREET_FAST.sub`` on a post; ``_ADDRESS``, which starts with a "0", is faster searched whole)
_SUFFIX_AFTER_SPACE = re.compile(r"\s" + _SUFFIX_TRIE + r"\b")


def _suffix_anchors(text: str) -> list[int]:
    """Where a suffix word starts right after whitespace."""
    return [m.start() + 1 for m in _SUFFIX_AFTER_SPACE.finditer(text)]


def _anchored_sub(rx: re.Pattern[str], repl: str, text: str, runs: int, anchors: list[int]) -> str:
    """``rx.sub(repl, text)`` for a pattern whose matches end in a suffix word right after
    whitespace and start within the ``runs`` whitespace-separated runs before it (see
    ``anchored_finditer``); ``repl`` is plain text, ``anchors`` the text's ``_suffix_anchors``."""
    parts: list[str] = []
    last = 0
    for m in anchored_finditer(rx, anchors, text, runs):
        parts.append(text[last : m.start()])
        parts.append(repl)
        last = m.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


# ``_ELONG`` for ASCII text (lowercased: its word characters are [a-z0-9_]), which runs faster
_ELONG_ASCII = re.compile(r"([a-z0-9_])\1{2,}")
# an e-mail address (``_EMAIL``) has an "@" with a non-space before it, then non-spaces, "." and a
# word character: without one (found fast from the "@") ``_EMAIL`` cannot match
_EMAIL_CORE = re.compile(r"@(?<=\S@)\S+\.\w")
_CITY_NAME_PATTERNS = (
    *("san rafael", "marin(?: county)?", "mumbai", "bombay", "thane", "navi mumbai", "bengaluru"),
    *("bangalore", "bbmp", "mcgm", "bmc", "bwssb", "boston", "new york(?: city)?", "nyc"),
    *("brooklyn", "queens", "bronx", "manhattan", "staten island", "dorchester", "roxbury"),
    *("southie", "california", "karnataka", "maharashtra"),
)
_CITY_NAMES = re.compile(r"\b(?:" + "|".join(_CITY_NAME_PATTERNS) + r")\b")
# every match holds one of the names without its optional part: without them (a few substring
# checks) the search cannot match
_CITY_STRINGS = tuple(re.sub(r"\(\?:[^)]*\)\?", "", c) for c in _CITY_NAME_PATTERNS)
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
# the same matches, found faster: starting with a capital letter lets the search skip to one; the
# lookbehind is the ``\b`` before it (no word character just before the first letter)
_CAPS_WORD_FAST = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]{2,}\b")
_EMOJI_CHAR = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff]")


def _mark_class() -> str:
    """A character class of the combining marks (and the zero-width joiners) of the Basic
    Multilingual Plane: the vowel signs of Devanagari, Arabic vowel points, Thai tone marks, which
    ``\\w`` does not match but which belong inside a word."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me") or cp in (0x200C, 0x200D):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]"


_MARKS = _mark_class()
# a word: letters and digits, with the combining marks written inside it ("सड़क" is one word)
_LETTERS = r"[^\W_]+(?:" + _MARKS + r"+[^\W_]*)*"
_WORD = re.compile(_LETTERS + r"(?:'" + _LETTERS + ")?")
_WORD_ASCII = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)?")  # ``_WORD`` in lowercased ASCII text
_TOK = re.compile(_LETTERS + r"(?:'" + _LETTERS + r")?|[.,!?;:]")
_BREAKS = frozenset(".,!?;:")
_CHUNK = re.compile(r"[.,!?;:]+")
_HAS_BREAK = re.compile(r"[.,!?;:]")
_PUNCT_BREAK = re.compile(r"[.,!?;:]")
_SENT_SPLIT = re.compile(r"[^.,!?;:]+|[.,!?;:]")

_EMOTICON_RX = re.compile(
    "|".join(
        re.escape(e)
        for e in sorted(lx.POSITIVE_EMOTICONS + lx.NEGATIVE_EMOTICONS, key=len, reverse=True)
    ),
    re.IGNORECASE,
)
_POS_EMOTICONS = frozenset(lx.POSITIVE_EMOTICONS)
_EMOTICON_CHARS = re.compile(r"[:;=<^(]|-_")


# the words whose plural can end in "es": English "bus", "box", "bush", "tomato"; Spanish and
# Portuguese "árbol", "contenedor", "camión", "velocidad".  Not "rat" + "es" (council "rates")
_TAKES_ES = re.compile(r"(?:s|x|z|ch|sh|o|l|r|n|d)$")


def _keyword_table(table: dict[str, tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for topic, phrases in table.items():
        for phrase in phrases:
            words = tuple(w.replace("'", "") for w in _WORD.findall(phrase.lower()))
            if not words:
                continue
            out.setdefault(words, topic)
            if len(words) == 1:
                out.setdefault((words[0] + "s",), topic)
                if _TAKES_ES.search(words[0]):
                    out.setdefault((words[0] + "es",), topic)
            else:
                out.setdefault(words[:-1] + (words[-1] + "s",), topic)
    return out


def _shared_keywords(
    table: dict[tuple[str, ...], str], shared: dict[str, tuple[str, ...]]
) -> dict[tuple[str, ...], str]:
    """A phrase of ``shared`` points at all its topics, joined by "+" (``split_shared``)."""
    for phrase, topics in shared.items():
        for words, topic in _keyword_table({"+".join(topics): (phrase,)}).items():
            table[words] = topic
    return table


_NOT_KEYWORD = "-"  # the topic of ``NOT_KEYWORDS``: matched, then dropped
_KW_TABLE = _shared_keywords(
    _keyword_table({_NOT_KEYWORD: lx.NOT_KEYWORDS, **lx.TOPIC_KEYWORDS}), lx.SHARED_TOPIC_KEYWORDS
)
# (topic, topic) -> whether they name nothing in common ("trash+dumping" shares with "dumping")
_KW_APART: dict[tuple[str, str], bool] = {
    (a, b): not set(a.split("+")) & set(b.split("+"))
    for a in set(_KW_TABLE.values())
    for b in set(_KW_TABLE.values())
}
_KW_MAXLEN = max(len(k) for k in _KW_TABLE)
_KW_FIRST = frozenset(k[0] for k in _KW_TABLE if len(k) > 1)
_KW_STARTS = frozenset(k[0] for k in _KW_TABLE)
# first word of a keyword -> the word counts of the keywords it starts, longest first
_KW_LENGTHS: dict[str, tuple[int, ...]] = {
    w: tuple(sorted({len(k) for k in _KW_TABLE if k[0] == w}, reverse=True)) for w in _KW_STARTS
}
_SENTIMENT_WORDS = lx.POSITIVE_WORDS | lx.NEGATIVE_WORDS | lx.NEGATORS
_CHARGRAM_CACHE: dict[str, list[tuple[str, float]]] = {}


def _chargrams(w: str) -> list[tuple[str, float]]:
    """The word itself plus its character 4-grams (with boundary spaces), cached."""
    grams = _CHARGRAM_CACHE.get(w)
    if grams is None:
        grams = [(w, 1.0)]
        if len(w) > 3:
            p = " " + w + " "
            grams.extend((p[i : i + 4], 0.4) for i in range(len(p) - 3))
        if len(_CHARGRAM_CACHE) < 100_000:
            _CHARGRAM_CACHE[w] = grams
    return grams


# --- literal prefilters: a regex runs only when the text contains one of its required strings ---
try:
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python versions: every regex runs
    _sre_c = _sre_parse = None  # type: ignore[assignment]

_MAX_LITERALS = 64
# characters outside ASCII that match an ASCII letter under IGNORECASE (ı ~ i, ſ ~ s, K ~ k, İ ~ i)
_FOLDS_TO_ASCII = frozenset(
    c for c in map(chr, range(128, 0x10000)) if re.match("[a-z]", c, re.IGNORECASE)
)


def _literal(cp: int, fold: bool) -> str | None:
    ch = chr(cp)
    if not fold:
        return ch
    if ch in _FOLDS_TO_ASCII:
        return None
    return ch.lower() if ch.isascii() else ch


_Sets = tuple[frozenset[str] | None, frozenset[str] | None]


def _pick(*sets: frozenset[str] | None) -> frozenset[str] | None:
    """The most selective useful required set: strings of 5+ characters rarely occur by chance,
    then the fewer strings the cheaper the check."""
    useful = [x for x in sets if x and "" not in x]
    if not useful:
        return None
    return max(useful, key=lambda x: (min(min(map(len, x)), 5), -len(x), min(map(len, x))))


def _node(op: Any, av: Any, fold: bool) -> _Sets:
    """(exact, required) for one parsed node: ``exact`` holds every string the node can match
    (None when unknown or too many), ``required`` strings one of which is inside every match."""
    c = _sre_c
    if op is c.LITERAL:
        lit = _literal(av, fold)
        return (None, None) if lit is None else (frozenset([lit]), frozenset([lit]))
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return frozenset([""]), None  # zero-width
    if op is c.IN:
        chars: set[str] = set()
        for iop, iav in av:
            if iop is c.LITERAL:
                codes = [iav]
            elif iop is c.RANGE and iav[1] - iav[0] <= 26:
                codes = list(range(iav[0], iav[1] + 1))
            else:
                return None, None
            for cp in codes:
                lit = _literal(cp, fold)
                if lit is None:
                    return None, None
                chars.add(lit)
        return (frozenset(chars), frozenset(chars)) if 0 < len(chars) <= 32 else (None, None)
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if (add_flags | del_flags) & (re.IGNORECASE | re.LOCALE):
            return None, None
        return _sequence(sub, fold)
    if op is c.ATOMIC_GROUP:
        return _sequence(av, fold)
    if op is c.BRANCH:
        parts = [_sequence(branch, fold) for branch in av[1]]
        exact: frozenset[str] | None = None
        if all(e is not None for e, _ in parts):
            union = frozenset().union(*(e for e, _ in parts if e is not None))
            exact = union if len(union) <= _MAX_LITERALS else None
        required: frozenset[str] | None = None
        picks = [_pick(e, r) for e, r in parts]
        if all(x is not None for x in picks):
            required = frozenset().union(*(x for x in picks if x is not None))
        return exact, _pick(exact, required)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        lo, hi, sub = av
        e, r = _sequence(sub, fold)
        if lo == 0:
            return ((e | {""}) if e is not None and hi == 1 else None), None
        if lo == hi == 1:
            return e, r
        return None, _pick(e, r)
    return None, None


def _sequence(items: Any, fold: bool) -> _Sets:
    nodes = [_node(op, av, fold) for op, av in items]
    candidates: list[frozenset[str] | None] = [r for _, r in nodes]
    # every contiguous stretch of nodes with known strings spells one string of its product
    for i in range(len(nodes)):
        prod: set[str] = {""}
        for j in range(i, len(nodes)):
            e = nodes[j][0]
            if e is None:
                break
            prod = {x + y for x in prod for y in e}
            if len(prod) > _MAX_LITERALS:
                break
            candidates.append(frozenset(prod))
    exact: frozenset[str] | None = None
    whole: set[str] | None = {""}
    for e, _ in nodes:
        if e is None or whole is None:
            whole = None
            break
        whole = {x + y for x in whole for y in e}
        if len(whole) > _MAX_LITERALS:
            whole = None
    if whole is not None:
        exact = frozenset(whole)
    return exact, _pick(exact, *candidates)


def required_strings(rx: re.Pattern[str], *, fold: bool = False) -> tuple[str, ...] | None:
    """Strings of which every text ``rx`` matches in contains at least one, or None.

    ``fold=False``: for case-sensitive patterns.  ``fold=True``: for IGNORECASE patterns searched
    in lowercased ASCII text (the strings are then lowercase).  A text that contains none of the
    strings cannot match, so the regex need not run."""
    if _sre_parse is None or rx.flags & re.LOCALE:
        return None
    if bool(rx.flags & re.IGNORECASE) != fold:
        return None
    try:
        parsed = _sre_parse.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001 - an unusual pattern just runs unfiltered
        return None
    exact, required = _sequence(list(parsed), fold)
    best = _pick(exact, required)
    return None if best is None else tuple(sorted(best, key=lambda x: (-len(x), x)))


_RULES: tuple[tuple[str, re.Pattern[str], frozenset[str], frozenset[str]], ...] = tuple(
    (
        r.name,
        re.compile(r.pattern.pattern),
        frozenset(p for p in lx.RULE_TRIGGERS[r.name].split() if len(p) <= 4),
        frozenset(p[:5] for p in lx.RULE_TRIGGERS[r.name].split() if len(p) >= 5),
    )
    for r in lx.URGENCY_RULES
)
RULE_LEVEL: dict[str, str] = {r.name: r.level for r in lx.URGENCY_RULES}
_PROBE_TEXT = (
    "the streetlight on the corner has been out for weeks and the sidewalk next to the school is "
    "cracked, somebody should come and look at it before the winter, thanks to the crew who came "
    "by last time #fixit @cityhall http://t.co/abc 3 days ago"
).lower()


def _filter_pays(rx: re.Pattern[str], strings: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``strings`` when looking for them costs less than the regex itself on a post that holds
    none of them, else None (both give the same answer; only the cost differs)."""
    if strings is None:
        return None
    has = _PROBE_TEXT.__contains__
    t_filter = t_regex = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            any(map(has, strings))
        t1 = time.perf_counter()
        for _ in range(20):
            rx.search(_PROBE_TEXT)
        t2 = time.perf_counter()
        t_filter, t_regex = min(t_filter, t1 - t0), min(t_regex, t2 - t1)
    return strings if t_filter < 0.8 * t_regex else None


# (name, regex, required strings or None) in rule order: the regex runs only on a text that holds
# one of the strings (a text without any cannot match); kept only where that check is cheaper
_RULE_CHECKS: tuple[tuple[str, re.Pattern[str], tuple[str, ...] | None], ...] = tuple(
    (name, rx, _filter_pays(rx, required_strings(rx))) for name, rx, _, _ in _RULES
)


def top_alternatives(rx: re.Pattern[str]) -> list[str] | None:
    """The pattern's top-level alternatives (``A|B|C`` -> ``["A", "B", "C"]``), or None when it
    is not an alternation or its parts could refer to each other (group references, verbose
    patterns).  ``rx`` finds a match in a text exactly when one of its alternatives, compiled on
    its own with ``rx.flags``, finds one there."""
    pattern = rx.pattern
    if _sre_parse is None or rx.flags & re.VERBOSE or _GROUP_REF.search(pattern):
        return None
    parts = lx.top_parts(pattern)
    try:  # the split must be the parser's own: one alternation of exactly these parts
        top = list(_sre_parse.parse(pattern, rx.flags))
        if len(parts) < 2 or len(top) != 1 or top[0][0] is not _sre_c.BRANCH:
            return None
        if len(top[0][1][1]) != len(parts):
            return None
        for part in parts:
            re.compile(part, rx.flags)
    except Exception:  # noqa: BLE001 - an unusual pattern is just not split
        return None
    return parts


_GROUP_REF = re.compile(r"\\[1-9]|\\g<|\(\?P=|\(\?\(")

_Alternatives = tuple[tuple[re.Pattern[str], tuple[str, ...] | None], ...]


def _alternatives(rx: re.Pattern[str]) -> _Alternatives:
    """How ``match_rules`` looks for the regex: its top-level alternatives, each run only on a
    text that holds one of its own required strings, when that costs less than the whole regex
    on an ordinary post; else the regex itself."""
    whole: _Alternatives = ((rx, None),)
    parts = top_alternatives(rx)
    if parts is None:
        return whole
    alts = []
    for part in parts:
        alt = re.compile(part, rx.flags)
        alts.append((alt, required_strings(alt)))
    split = tuple(alts)
    t_whole = t_split = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            _search_any(whole, _PROBE_TEXT)
        t1 = time.perf_counter()
        for _ in range(20):
            _search_any(split, _PROBE_TEXT)
        t2 = time.perf_counter()
        t_whole, t_split = min(t_whole, t1 - t0), min(t_split, t2 - t1)
    return split if t_split < 0.8 * t_whole else whole


# the ``_AltIndex`` of a rule's alternatives (by the identity of the tuple in ``_RULE_PLAN``)
_INDEXES: dict[int, _AltIndex] = {}


def _search_any(alts: _Alternatives, lowered: str) -> bool:
    """Whether one of the alternatives matches (each only where its required strings are)."""
    index = _INDEXES.get(id(alts))
    if index is not None:
        return index.search_any(lowered)
    has = lowered.__contains__
    for rx, strings in alts:
        if (strings is None or any(map(has, strings))) and rx.search(lowered) is not None:
            return True
    return False


class _AltIndex:
    """Which of many alternatives can match a text, from one scan of it: a prefix tree of every
    alternative's required strings finds, at each place one starts, the longest there; the
    shorter ones starting at the same place are its prefixes.  So the strings found, with their
    prefixes, are exactly the required strings in the text, and only the alternatives holding
    one of them (and those without required strings) are run, in their order.  For a rule of
    many alternatives this replaces a check of each alternative's strings in turn."""

    def __init__(self, alts: _Alternatives) -> None:
        self.alts = alts
        strings = sorted({s for _, ss in alts if ss for s in ss})
        self.scan = re.compile(trie(strings)).search
        self.always = tuple(i for i, (_, ss) in enumerate(alts) if ss is None)
        by_string: dict[str, list[int]] = {s: [] for s in strings}
        for i, (_, ss) in enumerate(alts):
            for x in ss or ():
                by_string[x].append(i)
        # a string found -> the alternatives of it and of every required string it starts with
        self.of: dict[str, frozenset[int]] = {
            s: frozenset(i for p in strings if s.startswith(p) for i in by_string[p])
            for s in strings
        }

    def search_any(self, lowered: str) -> bool:
        scan, of = self.scan, self.of
        chosen: set[int] = set(self.always)
        m = scan(lowered)
        while m is not None:
            chosen |= of[m.group()]
            m = scan(lowered, m.start() + 1)
        if not chosen:
            return False
        alts = self.alts
        return any(alts[i][0].search(lowered) is not None for i in sorted(chosen))


# rules of this many alternatives or more are searched through an ``_AltIndex`` (measured on the
# bench corpus: the person-hurt rule's 63 alternatives 17 -> 12 µs a post; for rules of 16-30 the
# index cost more than checking each alternative's strings)
_INDEX_MIN_ALTERNATIVES = 40


def _any_of(strings: tuple[str, ...] | None) -> re.Pattern[str] | None:
    """A pattern found in a text exactly when one of many ``strings`` is (the strings as a prefix
    tree: one scan of the text instead of one per string), or None for a few strings."""
    if strings is None or len(strings) <= _FEW_STRINGS:
        return None
    return re.compile(trie(strings))


_FEW_STRINGS = 8
# (name, required strings of the whole regex or None, the same as one pattern or None,
# alternatives) in rule order, as ``match_rules`` runs them
_RULE_PLAN: tuple[
    tuple[str, tuple[str, ...] | None, re.Pattern[str] | None, _Alternatives], ...
] = tuple(
    (name, strings, _any_of(strings), _alternatives(rx)) for name, rx, strings in _RULE_CHECKS
)
_INDEXES.update(
    (id(alts), _AltIndex(alts))
    for _, _, _, alts in _RULE_PLAN
    if len(alts) >= _INDEX_MIN_ALTERNATIVES
)
# an indexed rule's own scan finds its alternatives' strings: no whole-rule check before it
_RULE_PLAN = tuple(
    (name, None, None, alts) if id(alts) in _INDEXES else (name, strings, any_of, alts)
    for name, strings, any_of, alts in _RULE_PLAN
)
# life-safety patterns (IGNORECASE): required strings for lowercased ASCII text, and for any text
# when the pattern is case-sensitive
_LIFE_CHECKS: tuple[tuple[lx.Rule, tuple[str, ...] | None, bool], ...] = tuple(
    (r, required_strings(r.pattern, fold=True), True)
    if r.pattern.flags & re.IGNORECASE
    else (r, required_strings(r.pattern), False)
    for r in lx.LIFE_SAFETY
)
# the life-safety rules whose required strings are all ASCII: they hold in lowercased text without
# the characters of ``_FOLDS_TO_ASCII`` (see ``_LIFE_PARTS``)
_LIFE_ASCII_STRINGS = frozenset(
    r.name
    for r, strings, _ in _LIFE_CHECKS
    if strings is not None and all(map(str.isascii, strings))
)
# each life-safety pattern's top-level alternatives, each with its own required strings (as in
# ``_LIFE_CHECKS``): the first match of the pattern is the earliest of the alternatives' first
# matches, the lowest alternative first where two start at one place
# (when they hold: in any text for a case-sensitive pattern; for an ignore-case one, in lowercased
# ASCII text, and in other lowercased text without the characters of ``_FOLDS_TO_ASCII`` when the
# strings are all ASCII: their letters then match only ASCII letters there)
_LIFE_PARTS: dict[str, tuple[tuple[re.Pattern[str], tuple[str, ...] | None, bool, bool], ...]] = {
    r.name: tuple(
        (
            alt,
            strings,
            not alt.flags & re.IGNORECASE,
            strings is not None and all(x.isascii() for x in strings),
        )
        for alt in (re.compile(part, r.pattern.flags) for part in lx.top_parts(r.pattern.pattern))
        for strings in [required_strings(alt, fold=bool(alt.flags & re.IGNORECASE))]
    )
    for r in lx.LIFE_SAFETY
}


def _first_match(name: str, lowered: str, ascii_text: bool, plain: bool) -> re.Match[str] | None:
    """``pattern.search(lowered)`` of the life-safety rule ``name``, alternative by alternative
    (an alternative none of whose required strings is in the text cannot match).  ``plain``: the
    text holds none of ``_FOLDS_TO_ASCII``."""
    has = lowered.__contains__
    best: re.Match[str] | None = None
    for alt, strings, always, ascii_strings in _LIFE_PARTS[name]:
        if (
            strings is not None
            and (always or ascii_text or (plain and ascii_strings))
            and not any(map(has, strings))
        ):
            continue
        m = alt.search(lowered)
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best


_TRIGGER4: dict[str, set[str]] = {}
_TRIGGER5: dict[str, set[str]] = {}
for _name, _, _t4, _t5 in _RULES:
    for _p in _t4:
        _TRIGGER4.setdefault(_p, set()).add(_name)
    for _p in _t5:
        _TRIGGER5.setdefault(_p, set()).add(_name)


_WORD_TRIGGERS: dict[str, frozenset[str]] = {}  # word -> the rules its prefixes trigger
_WORDS_SEEN: set[str] = set()  # words whose triggers are known (most trigger nothing)


def _word_triggers(ws: set[str]) -> set[str]:
    """The rules triggered by the words' 4- and 5-letter prefixes (per-word results cached)."""
    known = _WORDS_SEEN
    new = ws - known
    if new:
        if len(known) > _CACHE_MAX:
            known.clear()
            _WORD_TRIGGERS.clear()
            new = ws
        t4, t5 = _TRIGGER4, _TRIGGER5
        for w in new:
            hit: set[str] = set(t4.get(w[:4], ()))
            if len(w) >= 5:
                hit |= t5.get(w[:5], set())
            if hit:
                _WORD_TRIGGERS[w] = frozenset(hit)
        known |= new
    candidates: set[str] = set()
    for w in _WORD_TRIGGERS.keys() & ws:
        candidates |= _WORD_TRIGGERS[w]
    return candidates


def match_rules(lowered: str, words: Iterable[str]) -> list[str]:
    """Names of the urgency rules that fire on a lowercased text (a rule's regex runs only when one
    of its trigger prefixes, 4 or 5 letters, starts a word of the text, and the text holds one of
    the strings the regex cannot match without)."""
    if not lowered.isascii() and _NON_LATIN.search(lowered):
        # scripts without spaces or Latin prefixes: every rule's regex runs
        candidates: set[str] | frozenset[str] = _ALL_RULES
    else:
        candidates = _word_triggers(set(words))
        t4 = _TRIGGER4
        for mark in ("?", "¿"):
            if mark in lowered:
                candidates |= t4.get(mark, set())
        if _has_emergency_number(lowered):  # a word's digits are all "0" by now
            candidates |= t4.get("911", set())
    if not candidates:
        return []
    has = lowered.__contains__
    return [
        name
        for name, strings, any_of, alts in _RULE_PLAN
        if name in candidates
        and (
            strings is None
            or (any_of.search(lowered) is not None if any_of else any(map(has, strings)))
        )
        and _search_any(alts, lowered)
    ]


# an emergency number, not part of a longer number ("$1,000", "1112"): it triggers the rules
# ``RULE_TRIGGERS`` gives "911"
_EMERGENCY_NUMBER = re.compile(lx.EMERGENCY_NUMBER + r"(?!\d)")


def _has_emergency_number(lowered: str) -> bool:
    """Whether an emergency number stands on its own in the text (the digits first: the pattern
    starts with them, which ``re`` finds fast; the character before is checked on each match)."""
    for m in _EMERGENCY_NUMBER.finditer(lowered):
        i = m.start()
        if i == 0 or lowered[i - 1] not in "0123456789,.":
            return True
    return False


HEDGE_WINDOW = 40  # characters before a life-safety match where a hedge word counts
_EMERGENCY_NAMES = frozenset(r.name for r in lx.EMERGENCY_RULES)
_ALL_RULES = frozenset(name for name, _, _, _ in _RULES)
# a letter of a script other than Latin: punctuation, symbols and emoji are not (no rule or
# keyword is written with them, and they add no word a trigger could miss)
_NON_LATIN = re.compile(
    r"[^\x00-\u024f\u1e00-\u1eff\u2000-\u2bff\ufe00-\ufe0f\U0001f000-\U0001faff]"
)
_SCRIPT_KW: dict[str, str] = {}  # keyword -> topic; a leading space: only at the start of a word
for _t, _ps in (*lx.CJK_TOPIC_KEYWORDS.items(), *lx.SCRIPT_TOPIC_KEYWORDS.items()):
    for _p in _ps:
        _SCRIPT_KW.setdefault(_p.lower(), _t)
# the scripts of these keywords, by character range: a keyword is searched for only in a text
# that holds a letter of its own script (most non-ASCII posts hold only accents or emoji)
_SCRIPT_RANGES: tuple[str, ...] = (
    "\u0400-\u052f",  # Cyrillic
    "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff",  # Arabic
    "\u0900-\u097f",  # Devanagari
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",  # Hangul
    "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff",  # Chinese characters and kana
)


def _script_searches() -> tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]:
    """(letter of the script, its keywords longest first) per script.  Every keyword is written in
    one script (spaces aside), so no two scripts' matches overlap: together, in text order, they
    are what one alternation of all the keywords finds."""
    letters = [re.compile(f"[{r}]") for r in _SCRIPT_RANGES]
    groups: list[list[str]] = [[] for _ in letters]
    for p in sorted(_SCRIPT_KW, key=lambda p: len(p.strip()), reverse=True):
        i = next(i for i, rx in enumerate(letters) if rx.match(p.strip()))  # one script each
        assert all(ch == " " or letters[i].match(ch) for ch in p), p
        groups[i].append(r"(?<!\w)" + re.escape(p[1:]) if p.startswith(" ") else re.escape(p))
    return tuple((rx, re.compile("|".join(g))) for rx, g in zip(letters, groups, strict=True) if g)


_SCRIPT_SEARCHES = _script_searches()
_SCRIPT_KW.update({p[1:]: t for p, t in _SCRIPT_KW.items() if p.startswith(" ")})


def match_script_keywords(lowered: str) -> list[tuple[str, str]]:
    """(topic, phrase) for the keywords of scripts without word boundaries or with attached
    particles and endings (Chinese, Japanese, Korean, Russian, Arabic, Devanagari), found as
    substrings of the lowercased text, longest first, in text order."""
    if lowered.isascii() or not _NON_LATIN.search(lowered):
        return []
    found = [
        m for letter, rx in _SCRIPT_SEARCHES if letter.search(lowered) for m in rx.finditer(lowered)
    ]
    if len(found) > 1:
        found.sort(key=lambda m: m.start())
    return [(_SCRIPT_KW[m.group(0)], m.group(0)) for m in found]


def life_safety(lowered: str) -> tuple[list[str], bool]:
    """The life-safety patterns found in a lowercased text, and whether one was set aside because
    the words just before it speak of harm as possible ("someone is going to get hit", "casi fue
    atropellado", ``lx.HEDGE``) or the words around it place the danger in the past ("the fire
    last week", "stabbed in 2021", ``lx.PAST``)."""
    found: list[str] = []
    hedged = False
    ascii_text = lowered.isascii()
    has = lowered.__contains__
    plain = ascii_text or _FOLDS_TO_ASCII.isdisjoint(lowered)
    for rule, strings, needs_ascii in _LIFE_CHECKS:
        if (
            strings is not None
            and (ascii_text or not needs_ascii or (plain and rule.name in _LIFE_ASCII_STRINGS))
            and not any(map(has, strings))
        ):
            continue  # none of the strings the pattern needs: it cannot match
        m = _first_match(rule.name, lowered, ascii_text, plain)
        if m is None:
            continue
        if rule.name in lx.HEDGEABLE and lx.HEDGE.search(
            lowered, max(0, m.start() - HEDGE_WINDOW), m.end()
        ):
            hedged = True
            continue
        if rule.name in lx.PAST_HEDGEABLE and lx.PAST.search(
            lowered, max(0, m.start() - lx.PAST_WINDOW), m.end() + lx.PAST_WINDOW
        ):
            hedged = True
            continue
        found.append(rule.name)
    return found, hedged


def match_keywords(words: Sequence[str]) -> list[tuple[str, str]]:
    """(topic, phrase) for every topic keyword among the words (longest phrase at each word).

    A keyword that starts inside a longer one of another topic is part of that one and does not
    count: "light is out" in "the traffic light is out" is no street light, "signal" in "jumping
    the signal" no signal fault. One that names a topic of the longer one counts ("sign" in "stop
    sign", "garbage" in "pile of garbage")."""
    if _KW_STARTS.isdisjoint(words):
        return []
    hits: list[tuple[str, str]] = []
    n = len(words)
    table, lengths = _KW_TABLE, _KW_LENGTHS
    span_end, span_topic = 0, ""
    for i, w in enumerate(words):
        ks = lengths.get(w)
        if ks is None:
            continue  # no keyword starts with this word
        for k in ks:  # only the lengths of the keywords that start with it, longest first
            if k > n - i:
                continue
            topic = table.get(tuple(words[i : i + k]))
            if topic is not None:
                if i < span_end and topic != span_topic and _KW_APART.get((topic, span_topic)):
                    break  # inside a longer keyword of another topic
                if i + k > span_end:
                    span_end, span_topic = i + k, topic
                if topic != _NOT_KEYWORD:
                    hits.append((topic, " ".join(words[i : i + k])))
                break
    return hits


def split_shared(hits: list[tuple[str, str]], collection: bool) -> list[tuple[str, str]]:
    """One hit per topic for the phrases of ``SHARED_TOPIC_KEYWORDS`` ("trash+dumping"); without
    ``collection`` (the post names no pickup, collector, truck or bin: ``COLLECTION_CUES``) a
    shared garbage word is litter and does not count for trash."""
    out: list[tuple[str, str]] = []
    for t, p in hits:
        if "+" in t:
            out.extend((x, p) for x in t.split("+") if collection or x != "trash")
        else:
            out.append((t, p))
    return out


_PLACE_PREPS = frozenset(lx.PLACE_PREPOSITIONS)
_PLACE_FILLERS = frozenset(lx.PLACE_FILLERS)
_PEOPLE = lx.PEOPLE_KEYWORDS


def drop_places(words: Sequence[str], hits: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Keywords that only say where the problem is ("graffiti on the stop sign", "a couch left
    on the sidewalk") do not count for their topic when another keyword names the problem.
    A keyword that names people (``PEOPLE_KEYWORDS``) is never a place: "left behind by unhoused
    residents" names who, not where."""
    if len(hits) < 2 or len({t for t, _ in hits}) < 2:
        return hits
    keep: list[tuple[str, str]] = []
    placed: list[tuple[str, str]] = []
    j, n = 0, len(words)
    span_end, span_topic, was_place = -1, "", False
    for t, p in hits:
        parts = p.split(" ")
        while j < n and words[j] != parts[0]:
            j += 1
        i = j
        j += 1
        k = i - 1
        while k >= 0 and i - k <= 5 and words[k] in _PLACE_FILLERS:
            k -= 1
        is_place = k >= 0 and i - k <= 5 and words[k] in _PLACE_PREPS and p not in _PEOPLE
        if i < span_end:  # inside a longer keyword: "sign" in "stop sign", "curb" in "red curb"
            is_place = was_place if t == span_topic else (was_place or is_place)
        else:
            span_end, span_topic, was_place = i + len(parts), t, is_place
        (placed if is_place else keep).append((t, p))
    if not keep or all(t in {pt for pt, _ in placed} for t, _ in keep):
        return hits
    return keep


# only ever asked whether a cue occurs: the cues as a prefix tree find the same posts, faster
_SARCASM_RX = re.compile(trie(lx.SARCASM_CUES))


@dataclass(slots=True)
class Analysis:
    """What the featuriser saw in one post: readable tokens (for evidence) and lexicon hits."""

    tokens: list[str] = field(
        default_factory=list
    )  # readable features: words, bigrams, lexicon tokens
    rules: list[str] = field(default_factory=list)  # urgency rules that fired
    keywords: list[tuple[str, str]] = field(default_factory=list)  # (topic, matched text)
    sentiment_hits: list[str] = field(default_factory=list)
    hedged: bool = False  # a life-safety match set aside: the harm is possible, or in the past
    life_safety: list[str] = field(
        default_factory=list
    )  # life-safety patterns that make it an emergency
    praise: bool = False  # thanks for a job done, asking for nothing more (lexicons.JOB_DONE)
    bulk: bool = False  # items put out for the bulk collection, not dumped (BULK_COLLECTION)


def normalise(text: str) -> tuple[str, list[str]]:
    """Lowercased, placeholder-substituted text plus the special tokens it produced."""
    t, extra, _ = _normalise(text)
    return t, extra


def _normalise(text: str) -> tuple[str, list[str], str]:
    """``normalise`` plus the text with its links blanked out (as ``_URL.sub(" ", text)``)."""
    extra: list[str] = []
    # every link has a "/" or "www." (any case): without them the URL pattern cannot match
    if "/" in text or ("." in text and "www." in text.lower()):
        text, n = _URL.subn(" ", text)
        if n:
            extra.append("_url")
    no_links = text
    if "@" in text:
        if _EMAIL_CORE.search(text):
            text = _EMAIL.sub(" ", text)
        text, n = _MENTION.subn(" ", text)
        if n:
            extra.append("_mention")
    if "#" in text and _HASHTAG.search(text):
        extra.append("_hashtag")
        text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)) + " ", text)
    if not text.islower() and len(_CAPS_WORD_FAST.findall(text)) >= 2:
        extra.append("_allcaps")
    if "!" in text:
        extra.append("_excl")
    if "?" in text:
        extra.append("_quest")
    t = text.lower()
    ascii_text = t.isascii()
    if not ascii_text or _ELONG_ASCII.search(t):
        t, n = _ELONG.subn(r"\1\1", t)
        if n:
            extra.append("_elong")
    t, n = (_DIGITS_ASCII if ascii_text else _DIGITS).subn("0", t)
    # a street or an address ends in a suffix word right after whitespace: without one, neither
    # pattern can match
    anchors = _suffix_anchors(t)
    if anchors:
        if n:
            t, replaced = _ADDRESS.subn(" _addr ", t)
            if replaced:
                anchors = _suffix_anchors(t)
        t = _anchored_sub(_STREET_FAST, " _street ", t, 1, anchors)
    if any(map(t.__contains__, _CITY_STRINGS)):
        t = _CITY_NAMES.sub(" _city ", t)
    return t, extra, no_links


def _emoji_tokens(text: str, extra: list[str], hits: list[str]) -> None:
    for ch in _EMOJI_CHAR.findall(text):
        o = ord(ch)
        if ch in lx.POSITIVE_EMOJI:
            extra.append("_emopos")
            hits.append("emoji+" + ch)
        elif ch in lx.NEGATIVE_EMOJI:
            extra.append("_emoneg")
            hits.append("emoji-" + ch)
        elif 0x1F300 <= o <= 0x1FAFF:
            extra.append("_emoji")


def _sentiment(ws: list[str], extra: list[str], hits: list[str]) -> list[str]:
    """Sentiment-word tokens with negation scope (three words after a negator, within a clause);
    returns the words in a negation scope, in order (each becomes a ``neg_<word>`` feature)."""
    negated: list[str] = []
    negate = 0
    for w in ws:
        if w in lx.NEGATORS:
            negate = 3
            continue
        if w in lx.POSITIVE_WORDS:
            extra.append("_neg" if negate else "_pos")
            hits.append(("not " + w + "-") if negate else (w + "+"))
        elif w in lx.NEGATIVE_WORDS:
            extra.append("_pos_negated" if negate else "_neg")
            hits.append(("not " + w + "+") if negate else (w + "-"))
        if negate:
            negated.append(w)
            negate -= 1
    return negated


def _scan(text: str) -> tuple[list[list[str]], dict[int, list[str]], list[str], Analysis] | None:
    """Everything a post's features are made of, in feature order: the words of each clause (the
    text between punctuation marks), the words in a negation scope per clause, the pseudo-tokens
    (``extra``) and the readable analysis.  None for an empty post."""
    if not text or text.isspace():
        return None
    an = Analysis()
    raw = text
    t, extra, no_links = _normalise(raw)
    if not raw.isascii():
        _emoji_tokens(raw, extra, an.sentiment_hits)
    if _EMOTICON_CHARS.search(raw):
        for m in _EMOTICON_RX.finditer(no_links if "/" in raw else raw):
            e = m.group(0).lower()
            if e in _POS_EMOTICONS:
                extra.append("_emopos")
                an.sentiment_hits.append("emoticon+" + e)
            else:
                extra.append("_emoneg")
                an.sentiment_hits.append("emoticon-" + e)
    lowered = raw.lower()
    ascii_text = lowered.isascii()
    if _SARCASM_RX.search(lowered):
        extra.append("_sarcasm")
        an.sentiment_hits.append("sarcasm cue")

    chunks: list[list[str]] = []
    negated: dict[int, list[str]] = {}
    words: list[str] = []
    word_rx = _WORD_ASCII if t.isascii() else _WORD
    for chunk in _CHUNK.split(t) if _HAS_BREAK.search(t) else (t,):
        ws = word_rx.findall(chunk)
        if not ws:
            continue
        if "'" in chunk:
            ws = [w.replace("'", "") for w in ws]
        words.extend(ws)
        if not _SENTIMENT_WORDS.isdisjoint(ws):
            neg = _sentiment(ws, extra, an.sentiment_hits)
            if neg:
                negated[len(chunks)] = neg
        chunks.append(ws)
    for name in match_rules(lowered, words):
        an.rules.append(name)
        extra.append("_rule_" + name)
        extra.append("_lvl_" + RULE_LEVEL[name])
    if an.rules and not _EMERGENCY_NAMES.isdisjoint(an.rules):
        an.life_safety, an.hedged = life_safety(lowered)
    if "thanks" in an.rules:
        an.praise = (
            lx.JOB_DONE.search(lowered) is not None and lx.STILL_WANTED.search(lowered) is None
        )
    # every match of BULK_COLLECTION names one of these three, so most posts skip both searches
    if ("bulk" in lowered or "rubbish" in lowered or "large item" in lowered) and (
        lx.BULK_COLLECTION.search(lowered) is not None
        and lx.NOT_BULK_COLLECTION.search(lowered) is None
    ):
        an.bulk = True
    hits = drop_places(words, match_keywords(words))
    if not ascii_text:
        hits += match_script_keywords(lowered)
    if hits and any("+" in t for t, _ in hits):
        hits = split_shared(
            hits,
            lx.COLLECTION_CUES.search(lowered) is not None
            or (not ascii_text and lx.SCRIPT_COLLECTION_CUES.search(lowered) is not None),
        )
    for topic, phrase in hits:
        an.keywords.append((topic, phrase))
        extra.append("_kw_" + topic)
    an.tokens = words + extra
    return chunks, negated, extra, an


def analyse(text: str) -> tuple[list[tuple[str, float]], Analysis]:
    """Feature (token, weight) pairs and the readable analysis of one post.

    Per clause: each word (1.0) followed by its character 4-grams (0.4), then the clause's word
    bigrams (1.0), then ``neg_<word>`` (0.5) for the words in a negation scope; after all clauses
    the pseudo-tokens (1.0).  ``Featurizer.transform`` hashes exactly these pairs, in this order
    (from cached columns instead of strings)."""
    scan = _scan(text)
    if scan is None:
        return [("_empty", 1.0)], Analysis()
    chunks, negated, extra, an = scan
    feats: list[tuple[str, float]] = []
    cache = _CHARGRAM_CACHE
    for j, ws in enumerate(chunks):
        for w in ws:
            feats.extend(cache.get(w) or _chargrams(w))
        if len(ws) > 1:
            feats.extend([(a + " " + b, 1.0) for a, b in zip(ws, ws[1:], strict=False)])
        if j in negated:
            feats.extend([("neg_" + w, 0.5) for w in negated[j]])
    feats.extend([(e, 1.0) for e in extra])
    if not feats:
        feats.append(("_empty", 1.0))
    return feats, an


# A hashed feature as one int: ``column << 3 | weight << 1 | negative`` (weight 0: 1.0, 1: 0.4,
# 2: 0.5); ``_VALUES[code & 7]`` is the signed value ``FeatureHasher`` would store.
_VALUES = np.array([1.0, -1.0, 0.4, -0.4, 0.5, -0.5, 0.0, 0.0], dtype=np.float64)
_W_GRAM = 1 << 1
_W_NEG = 2 << 1
_CACHE_MAX = 200_000  # entries per cache; a full cache starts again empty
_PACK = struct.Struct("=q").pack  # a code as 8 bytes, as ``np.frombuffer(..., np.int64)`` reads


def _code(h: int, n: int) -> int:
    """A signed 32-bit hash as a column code (weight 1.0): ``FeatureHasher``'s column and sign."""
    idx = (2147483647 - (n - 1)) % n if h == -2147483648 else abs(h) % n
    return idx << 3 | (1 if h < 0 else 0)


class _Packed(dict[Any, bytes]):
    """A cache of packed codes that computes what it lacks (``make``), so a row is collected with
    ``map(cache.__getitem__, keys)`` in one call; a full cache starts again empty."""

    def __init__(self, make: Callable[[Any], bytes]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> bytes:
        value = self.make(key)
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[key] = value
        return value


def _bigram_codes(ws: list[str], n: int) -> bytes:
    """Packed codes of a clause's word bigrams (weight 1.0), hashed every time: most bigrams of a
    new post are new (about seven a post), and looking them up in a large cache first cost twice
    as much as hashing them."""
    hs = [murmurhash3_32(a + " " + b) for a, b in zip(ws, ws[1:], strict=False)]
    # ``_code`` written out: a call per bigram would cost more than the hash
    return array(
        "q",
        [
            ((2147483647 - (n - 1)) % n if h == -2147483648 else abs(h) % n) << 3 | (h < 0)
            for h in hs
        ],
    ).tobytes()


class _HashSpace:
    """Columns and signs of tokens in one hashed space (the ``FeatureHasher`` formula), cached:
    ``cols`` maps a token to its code with weight 1.0.  For ``Featurizer.transform`` the codes
    are also kept packed as 8-byte integers, so a post's row is joined from cached bytes:
    ``words`` maps a word to the codes of the word and its character 4-grams, ``tokens`` a
    pseudo-token to its code (bigrams are hashed each time: ``_bigram_codes``)."""

    def __init__(self, n_features: int) -> None:
        self.n_features = n_features
        self.cols: dict[str, int] = {}
        self.words = _Packed(self._word)
        self.tokens = _Packed(self._token)

    def col(self, token: str) -> int:
        code = self.cols.get(token)
        if code is None:
            code = _code(murmurhash3_32(token), self.n_features)
            if len(self.cols) >= _CACHE_MAX:
                self.cols.clear()
            self.cols[token] = code
        return code

    def _word(self, w: str) -> bytes:
        """Packed codes of a word (weight 1.0) and its character 4-grams (0.4); the 4-grams of
        a new word are mostly known already."""
        col = self.col
        if len(w) <= 3:
            return _PACK(col(w))
        p = " " + w + " "
        grams = [p[i : i + 4] for i in range(len(p) - 3)]
        known = list(map(self.cols.get, grams))
        cs = [col(w)]
        if None in known:
            cs.extend(col(g) | _W_GRAM for g in grams)
        else:
            cs.extend(c | _W_GRAM for c in known if c is not None)
        return array("q", cs).tobytes()

    def _token(self, t: str) -> bytes:
        """Packed code of a pseudo-token (weight 1.0)."""
        return _PACK(self.col(t))


_SPACES: dict[int, _HashSpace] = {}


def _space(n_features: int) -> _HashSpace:
    space = _SPACES.get(n_features)
    if space is None:
        space = _SPACES[n_features] = _HashSpace(n_features)
    return space


class Featurizer:
    """Hashes analysed posts into a row-normalised sparse matrix.

    The matrix is the one ``FeatureHasher(n_features, input_type="pair", alternate_sign=True)``
    gives for ``analyse``'s pairs (same columns, values and summation order), cast to float32 and
    L2-normalised per row; columns come from per-token caches instead of hashing every string of
    every post."""

    def __init__(self, n_features: int = N_FEATURES) -> None:
        self.n_features = n_features
        self._space = _space(n_features)

    def transform(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[Analysis]]:
        space = self._space
        words, tokens = space.words.__getitem__, space.tokens.__getitem__
        n = space.n_features
        col = space.col
        empty = tokens("_empty")
        # the codes of all rows, 8 bytes each: a large batch (training) stays small in memory
        codes = bytearray()
        indptr = [0]
        analyses: list[Analysis] = []
        for text in texts:
            scan = _scan(text if isinstance(text, str) else "")
            if scan is None:
                codes += empty
                indptr.append(indptr[-1] + 1)
                analyses.append(Analysis())
                continue
            chunks, negated, extra, an = scan
            parts: list[bytes] = []
            for j, ws in enumerate(chunks):
                parts += map(words, ws)
                if len(ws) > 1:
                    parts.append(_bigram_codes(ws, n))
                if negated and j in negated:
                    parts += [_PACK(col("neg_" + w) | _W_NEG) for w in negated[j]]
            parts += map(tokens, extra)
            row = b"".join(parts) or empty
            codes += row
            indptr.append(indptr[-1] + len(row) // 8)
            analyses.append(an)
        return self._matrix(codes, indptr), analyses

    def _matrix(self, codes: bytearray, indptr: list[int]) -> sp.csr_matrix:
        """What ``FeatureHasher.transform`` + ``astype(float32)`` + ``normalize`` make of the rows."""
        c = np.frombuffer(codes, dtype=np.int64) if codes else np.zeros(0, dtype=np.int64)
        X = sp.csr_array(
            (_VALUES[c & 7], (c >> 3).astype(np.int32), np.array(indptr, dtype=np.int32)),
            dtype=np.float64,
            shape=(len(indptr) - 1, self.n_features),
        )
        X.sum_duplicates()  # also sorts the indices, as FeatureHasher does
        X32 = sp.csr_matrix(X).astype(np.float32)
        X32 = l2_normalize_rows(X32)
        return sp.csr_matrix(X32)

    def indices_of(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Columns and signs of many tokens at once (cached)."""
        cget, col = self._space.cols.get, self._space.col
        codes = list(map(cget, tokens))
        if None in codes:
            codes = [c if c is not None else col(t) for c, t in zip(codes, tokens, strict=True)]
        arr = np.array(codes, dtype=np.int64)
        return arr >> 3, np.where(arr & 1, -1.0, 1.0).astype(np.float32)

    def index_of(self, token: str) -> tuple[int, float]:
        """Column and sign a token hashes to (the same formula as ``FeatureHasher``)."""
        code = self._space.col(token)
        return code >> 3, -1.0 if code & 1 else 1.0


# How a post is written on its platform, not what it is about: an @mention, a link, a hashtag, "!",
# capitals, "soooo". In the training data the service requests are mostly 311 forms and the
# other posts mostly tweets, so these tokens teach "a tweet is not a request"; a city's own inbox
# is all tweets. The relevance and topic heads are trained without them (``token_columns``).
PLATFORM_STYLE_TOKENS: tuple[str, ...] = (
    "_mention",
    "_url",
    "_hashtag",
    "_excl",
    "_elong",
    "_allcaps",
)


def token_columns(tokens: Iterable[str], n_features: int = N_FEATURES) -> np.ndarray:
    """The hashed columns of pseudo-tokens (as ``Featurizer`` places them), sorted."""
    space = _HashSpace(n_features)
    return np.array(sorted({space.col(t) >> 3 for t in tokens}), dtype=np.int64)


@lru_cache(maxsize=4096)
def readable(token: str) -> str:
    """A token as shown to staff in the console."""
    if token.startswith("_kw_"):
        return "keyword:" + token[4:]
    if token.startswith("_rule_"):
        return "rule:" + token[6:]
    if token.startswith("_lvl_"):
        return "rule-level:" + token[5:]
    return {
        "_pos": "positive words",
        "_neg": "negative words",
        "_pos_negated": "negated negative word",
        "_emopos": "positive emoji",
        "_emoneg": "negative emoji",
        "_sarcasm": "sarcasm cue",
        "_excl": "exclamation",
        "_quest": "question",
        "_allcaps": "all caps",
        "_url": "link",
        "_mention": "@mention",
        "_hashtag": "hashtag",
        "_addr": "street address",
        "_street": "street name",
        "_city": "city name",
        "_elong": "elongated word",
        "_emoji": "emoji",
    }.get(token, token)


def iter_unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without duplicates."""
    return list(dict.fromkeys(items))
