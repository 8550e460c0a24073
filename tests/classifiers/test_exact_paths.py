"""Each faster way of finding something in a post finds exactly what the plain pattern finds.

Street and address patterns searched from their suffix words (``anchored_finditer``), prefix-tree
alternations, ASCII-only character classes, literal prefilters, rules split into their
alternatives, the one-pass gazetteer lookup and the batch urgency decision are compared here
with the plain computation on generated text.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import features as F
from classifiers import load_classifier
from classifiers import location as L
from classifiers.language import FUNCTION_WORDS, LanguageDetectorOffline
from classifiers.location import Gazetteer, LocationExtractor
from classifiers.model import CivicClassifier, urgency_decision
from classifiers.scanning import anchored_finditer, trie

_PIECES = st.sampled_from(
    list("abcdekmnrstwxyz ABEKMST0123456789 .,!?;:'-_#@/&\t\n")
    + ["st", "St", "ST", "ſt", "street", "ave", "Ave.", "av", "sq", "row", "plaza", "blvd"]
    + ["12 ", "45-47 ", "0 ", "N. ", "north ", "main ", "Main ", "Elm ", "o'neil ", "st.john "]
    + ["corner of ", " and ", " & ", "the ", "Tremont ", "Mass Ave ", "Dorchester ", "JP ", "jp "]
    + ["Boston ", "new york city ", "Marin County ", "navi mumbai"]
    + ["aaa", "sooo", "HELP", "NOW", "me@x.org ", "@bob ", "#FixIt ", "42.3601, -71.0589 "]
    + list("éñüđ我路😍İıK\u3000\u2028")
)
_TEXT = st.lists(_PIECES, max_size=30).map("".join)


def _spans(matches: object) -> list[tuple[tuple[int, int], tuple[str | None, ...]]]:
    return [(m.span(), m.groups()) for m in matches]  # type: ignore[attr-defined]


def _suffix_places(text: str) -> list[int]:
    return [m.start() + 1 for m in L._SUFFIX_AT.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_anchored_search_finds_every_street_and_address(text: str) -> None:
    places = _suffix_places(text)
    fast = anchored_finditer(L._GENERIC_STREET_FAST, places, text, 3)
    assert _spans(fast) == _spans(L._GENERIC_STREET.finditer(text))
    fast = anchored_finditer(L._ADDRESS_FAST, places, text, 5)
    assert _spans(fast) == _spans(L._ADDRESS.finditer(text))
    if text.isascii():
        lowered = text.lower()
        assert [m.start() + 1 for m in L._SUFFIX_AT_LOWER.finditer(lowered)] == places


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_faster_feature_patterns_match_the_plain_ones(text: str) -> None:
    assert F._CAPS_WORD_FAST.findall(text) == F._CAPS_WORD.findall(text)
    if F._EMAIL.search(text):
        assert F._EMAIL_CORE.search(text)
    lowered = text.lower()
    assert bool(F._SARCASM_RX.search(lowered)) == any(c in lowered for c in F.lx.SARCASM_CUES)
    assert F._STREET_FAST.sub(" _street ", lowered) == F._STREET.sub(" _street ", lowered)
    anchors = F._suffix_anchors(lowered)
    street = F._anchored_sub(F._STREET_FAST, " _street ", lowered, 1, anchors)
    assert street == F._STREET.sub(" _street ", lowered)
    digits = F._DIGITS.sub("0", lowered)
    anchors = F._suffix_anchors(digits)
    address = F._anchored_sub(F._ADDRESS, " _addr ", digits, 4, anchors)
    assert address == F._ADDRESS.sub(" _addr ", digits)
    if F._ADDRESS.search(digits) or F._STREET.search(digits):
        assert F._suffix_anchors(digits)  # the gate before both substitutions
    if F._CITY_NAMES.search(lowered):
        assert any(c in lowered for c in F._CITY_STRINGS)
    if lowered.isascii():
        assert bool(F._ELONG_ASCII.search(lowered)) == bool(F._ELONG.search(lowered))
        assert F._DIGITS_ASCII.sub("0", lowered) == F._DIGITS.sub("0", lowered)
        assert F._WORD_ASCII.findall(lowered) == F._WORD.findall(lowered)
        assert L._TOKEN_ASCII.findall(lowered) == L._TOKEN.findall(lowered)
    if L._COORDS.search(text):
        assert L._COORDS_CORE.search(text)


def test_trie_alternation_matches_the_plain_alternation() -> None:
    words = ["st", "street", "sq", "square", "ave", "av", "avenue", "a"]
    rx = re.compile(r"\b(?:" + trie(words) + r")\b")
    plain = re.compile(r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")\b")
    for text in ["st street sq squares av ave avenue avenues a", "xst st. sqs", ""]:
        assert [m.span() for m in rx.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_top_alternatives() -> None:
    assert F.top_alternatives(re.compile(r"a[|]b|(c|d)|[]|]x|\|y")) == [
        "a[|]b",
        "(c|d)",
        "[]|]x",
        r"\|y",
    ]
    assert F.top_alternatives(re.compile(r"(a)|\1b")) is None  # parts refer to each other
    assert F.top_alternatives(re.compile(r"(?:a|b)")) is None  # not split at the top
    assert F.top_alternatives(re.compile(r"a|b", re.VERBOSE)) is None


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_rules_split_into_alternatives_find_the_same(text: str) -> None:
    lowered = text.lower()
    for name, rx, _strings in F._RULE_CHECKS:
        plan = next(p for p in F._RULE_PLAN if p[0] == name)
        assert F._search_any(plan[3], lowered) == (rx.search(lowered) is not None)
        parts = F.top_alternatives(rx)
        if parts is not None:
            found = any(re.compile(p, rx.flags).search(lowered) for p in parts)
            assert found == (rx.search(lowered) is not None)


def _plain_keywords(words: list[str]) -> list[tuple[str, str]]:
    counted: list[tuple[int, int, str]] = []  # (start, end, topic) of the keywords that count
    hits = []
    for i in range(len(words)):
        for k in range(min(F._KW_MAXLEN, len(words) - i), 0, -1):
            topic = F._KW_TABLE.get(tuple(words[i : i + k]))
            if topic is None:
                continue
            covering = [c for c in counted if c[0] < i < c[1]]
            # inside a longer keyword of another topic (the one reaching furthest, first if tied)
            outer = max(covering, key=lambda c: (c[1], -c[0]))[2] if covering else topic
            if not set(outer.split("+")) & set(topic.split("+")):
                break
            counted.append((i, i + k, topic))
            if topic != F._NOT_KEYWORD:  # matched, then dropped ("a waste of money")
                hits.append((topic, " ".join(words[i : i + k])))
            break
    return hits


def test_keywords_by_length_index() -> None:
    phrases = [" ".join(k) for k in F._KW_TABLE]
    for start in range(0, len(phrases), 7):
        words = " ".join(phrases[start : start + 9] + ["and", "the", "x"]).split()
        assert F.match_keywords(words) == _plain_keywords(words)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_one_pass_gazetteer_lookup(text: str) -> None:
    ex = LocationExtractor()
    lowered = text.lower()
    if len(lowered) != len(text):
        return
    words = set(L._PLAIN.findall(lowered))
    low = L._TOKEN.findall(lowered)
    plain = ex._gazetteer_mentions(text, lowered, words)
    fast = (
        [] if ex.gazetteer.first_words.isdisjoint(words) else ex._ascii_mentions(text, lowered, low)
    )
    assert [(m.start, m.end, m.place, m.text) for m in fast] == [
        (m.start, m.end, m.place, m.text) for m in plain
    ]
    joined = " ".join(low)
    derived = set(L._PLAIN.findall(joined)) if "." in joined or "'" in joined else set(low)
    assert derived == words


def test_alias_lengths_follow_added_aliases() -> None:
    gz = Gazetteer.load_default()
    ex = LocationExtractor(gz)
    assert ex.extract_one("Flooding in Dorchester")  # the alias index is built here
    text = "Flooding on Zorblax Fen Glade Meadow now"
    assert ("Zorblax Fen Glade Meadow", "landmark") not in [
        (x.text, x.kind) for x in ex.extract_one(text)
    ]
    gz.add(L.Place("Zorblax Fen Glade Meadow", "landmark", 1.0, 2.0, "Downtown"), ["QMSL"])
    assert ("Zorblax Fen Glade Meadow", "landmark") in [
        (x.text, x.kind) for x in ex.extract_one(text)
    ]


@pytest.fixture(scope="module")
def clf() -> CivicClassifier:
    return load_classifier(jobs=1)


def test_batch_urgency_is_the_row_decision(clf: CivicClassifier) -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4) * 0.3, size=3000).astype(np.float32)
    p[:20] = np.float32(0.25)  # ties
    analyses = [F.Analysis() for _ in range(len(p))]
    analyses[5].rules = ["fire"]
    analyses[6].life_safety = ["gas_leak"]
    got = clf._urgency_batch(p, analyses)
    classes = clf.heads["urgency"].classes
    want = [
        urgency_decision(row.tolist(), an.rules, classes, clf.thresholds, an.life_safety)
        for row, an in zip(p, analyses, strict=True)
    ]
    assert got == want


def _plain_fast(det: LanguageDetectorOffline, text: str) -> tuple[str, float, str] | None:
    """The function-word tally as first written: every language counted, then sorted."""
    clean = re.sub(r"https?://\S+|@\w+|#", " ", text)
    words = re.findall(r"[^\W\d_]+", clean.lower())
    if not words:
        return ("und", 0.0, "empty")
    tally = dict.fromkeys(FUNCTION_WORDS, 0)
    for w in words:
        for lang, fw in FUNCTION_WORDS.items():
            if w in fw:
                tally[lang] += 1
    counts = sorted(((c, lang) for lang, c in tally.items()), reverse=True)
    (best, lang), (second, _) = counts[0], counts[1]
    if lang == "ht" and best >= 2 and best >= 0.25 * len(words):
        return ("ht", min(0.95, 0.5 + 0.1 * best), "kreyol-function-words")
    is_ascii = all(w.isascii() for w in words)
    if lang == "en" and not is_ascii:
        return None
    if lang == "en" and best >= 1 and second == 0 and is_ascii:
        return ("en", 0.7 if best == 1 else 0.8, "function-words")
    if second == 0 and det.english_vocab and is_ascii:
        known = sum(w in det.english_vocab for w in words) / len(words)
        if known >= 0.6:
            return ("en", round(0.5 + 0.4 * known, 4), "english-vocabulary")
    if lang != "ht" and best >= 2 and best >= 2 * second + 1 and best >= 0.15 * len(words):
        return (lang, min(0.99, 0.6 + 0.05 * (best - second)), "function-words")
    return None


_WORDY = st.lists(
    st.sampled_from(sorted({w for ws in FUNCTION_WORDS.values() for w in ws}))
    | st.sampled_from(
        ["pothole", "luz", "rua", "dlo", "ÀÉ", "42", "@bob", "#tag", "x", " ", ".", "“", "’s", "😀"]
    ),
    max_size=12,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(_WORDY | _TEXT)
def test_language_fast_path(text: str) -> None:
    det = LanguageDetectorOffline(english_vocab=["pothole", "street", "light", "x"])
    assert det._fast(text) == _plain_fast(det, text)
