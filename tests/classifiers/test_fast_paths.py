"""The classifier's fast paths give exactly what the plain computations give.

Featurisation hashes cached columns instead of strings, regexes are skipped when a text lacks the
strings they need, the cyclic garbage collector is paused during a batch, Lingua sees each distinct
text once, evidence ranks only the positive weights: each is checked here against the plain way.
"""

from __future__ import annotations

import gc
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction import FeatureHasher
from sklearn.preprocessing import normalize

from classifiers import lexicons as lx
from classifiers import load_classifier
from classifiers.features import (
    _LIFE_CHECKS,
    _RULE_CHECKS,
    _RULES,
    _TRIGGER4,
    _TRIGGER5,
    N_FEATURES,
    Featurizer,
    analyse,
    life_safety,
    match_rules,
    readable,
    required_strings,
)
from classifiers.language import LanguageDetectorOffline
from classifiers.location import Gazetteer, LocationExtractor
from classifiers.model import CivicClassifier, gc_paused

SEED_DIR = Path(__file__).resolve().parents[2] / "classifiers" / "seed"

TEXTS = [
    "",
    " ",
    "\n\t",
    "...",
    "!!!",
    "😍",
    "a",
    "Huge pothole on Main St, my tire blew out!!",
    "HUGE POTHOLE ON MASS AVE!!! FIX IT NOW",
    "I smell gas in the hallway of my building, called 911",
    "someone is going to get hit by a car at this crosswalk",
    "casi fue atropellado un niño en la esquina de Main y Elm",
    "Shots fired near Dudley Sq, someone is bleeding",
    "water pouring into our basement and it's up to the electrical panel",
    "sooooo coooold no heeeat in my apt at 45-47 N. Elm Street :( :-/ <3",
    "not bad at all, the crew was not unhelpful; never again though",
    "@CityHall thanks for nothing 🙄 https://t.co/abc123 www.Boston.gov/311 me@x.org",
    "#FixOurStreets #BostonStrong Dorchester and Roxbury need plows on Blue Hill Ave",
    "don't can't won't it's o'clock rock'n'roll ’curly’ quotes…",
    "Hay un bache enorme en la calle frente a mi casa, nadie hace nada",
    "Huele a gas en el edificio, por favor llamen al 911",
    "Mwen pa gen dlo nan kay la depi twa jou, tanpri ede nou",
    "Ngửi thấy mùi gas rất nặng ở Bowdoin St!! Đã gọi 911.",
    "我家门口的路灯坏了，晚上很危险 煤气泄漏！有人晕倒了",
    "Обогреватель не работает, в квартире холодно",
    "İstanbul ſtreet fıre KELVIN K ǅ ß ẞ",
    "\u200bzero\u200dwidth 👩‍👩‍👧 🇺🇸 👍🏽 ☀️ ☔",
    "42.3601, -71.0589 big sinkhole here",
    "a_b c__d __init__ _addr _street _kw_noise neg_bad",
    "word " * 200,
]


def _seed_texts() -> list[str]:
    out: list[str] = []
    for path in sorted(SEED_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("text"), str):
                out.append(row["text"])
    return out


CORPUS = TEXTS + _seed_texts()

# text that reaches the interesting branches: punctuation, emoticons, links, digits, case, scripts
_ALPHABET = st.sampled_from(
    list("abcdefgiklmnoprstuwyz ABCDEGKLST0123456789 .,!?;:'’-_#@/&()<=^*\n")
    + [
        "gas ",
        "fire ",
        "911 ",
        "hit by a car ",
        "st ",
        "ave ",
        "not ",
        "good ",
        "bad ",
        "http://x.co/a ",
    ]
    + list("éñüđơưạ我的路灯煤气泄漏😍😡🙄ıſKİ\u3000")
)
_TEXTS = st.lists(_ALPHABET, max_size=40).map("".join)


def _plain_matrix(texts: list[str]) -> tuple[sp.csr_matrix, list[object]]:
    """What the featuriser made before its fast path: FeatureHasher over ``analyse``'s pairs."""
    pairs, analyses = zip(*(analyse(t) for t in texts), strict=True)
    hasher = FeatureHasher(n_features=N_FEATURES, input_type="pair", alternate_sign=True)
    X = hasher.transform(pairs).astype(np.float32)
    return sp.csr_matrix(normalize(X, norm="l2", copy=False)), list(analyses)


def _assert_same(texts: list[str]) -> None:
    X, analyses = Featurizer().transform(texts)
    Y, plain = _plain_matrix(texts)
    assert X.dtype == Y.dtype == np.float32
    assert X.shape == Y.shape
    assert np.array_equal(X.indptr, Y.indptr)
    assert np.array_equal(X.indices, Y.indices)
    assert np.array_equal(X.data, Y.data)  # bit for bit, not just close
    assert [repr(a) for a in analyses] == [repr(a) for a in plain]


def test_transform_is_feature_hasher_over_analyse() -> None:
    _assert_same(CORPUS)
    # again with warm caches, in batches of different sizes
    for size in (1, 7, 100):
        for i in range(0, 200, size):
            _assert_same(CORPUS[i : i + size])


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=5))
def test_transform_matches_on_generated_text(texts: list[str]) -> None:
    _assert_same(texts)


def test_index_of_is_the_hasher_column() -> None:
    fz = Featurizer()
    hasher = FeatureHasher(n_features=N_FEATURES, input_type="pair", alternate_sign=True)
    tokens = ["pothole", "_kw_pothole", "not good", " gas", "我的", "", "x" * 300]
    H = hasher.transform([[(t, 1.0)] for t in tokens])
    cols, signs = fz.indices_of(tokens)
    assert cols.tolist() == H.indices.tolist()
    assert signs.tolist() == np.sign(H.data).tolist()
    assert [fz.index_of(t) for t in tokens] == list(
        zip(H.indices.tolist(), np.sign(H.data).tolist(), strict=True)
    )


def _plain_rules(lowered: str, words: list[str]) -> list[str]:
    """The urgency rules without the literal prefilter (trigger prefixes only)."""
    candidates: set[str] = set()
    for w in set(words):
        candidates |= _TRIGGER4.get(w[:4], set())
        if len(w) >= 5:
            candidates |= _TRIGGER5.get(w[:5], set())
    for mark in ("?", "¿"):
        if mark in lowered:
            candidates |= _TRIGGER4.get(mark, set())
    if re.search(r"(?<![\d,.])" + lx.EMERGENCY_NUMBER + r"(?!\d)", lowered):
        candidates |= _TRIGGER4.get("911", set())
    if not lowered.isascii() and re.search(r"[^\x00-\u024f\u1e00-\u1eff]", lowered):
        candidates = {name for name, _, _, _ in _RULES}
    return [name for name, rx, _, _ in _RULES if name in candidates and rx.search(lowered)]


def _plain_life_safety(lowered: str) -> tuple[list[str], bool]:
    found, hedged = [], False
    for rule in lx.LIFE_SAFETY:
        m = rule.pattern.search(lowered)
        if m is None:
            continue
        if rule.name in lx.HEDGEABLE and lx.HEDGE.search(lowered, max(0, m.start() - 40), m.end()):
            hedged = True
            continue
        if rule.name in lx.PAST_HEDGEABLE and lx.PAST.search(
            lowered, max(0, m.start() - 80), m.end() + 80
        ):
            hedged = True
            continue
        found.append(rule.name)
    return found, hedged


def _check_rules(text: str) -> None:
    lowered = text.lower()
    words = [w.replace("'", "") for w in re.findall(r"[^\W_]+(?:'[^\W_]+)?", lowered)]
    assert match_rules(lowered, words) == _plain_rules(lowered, words)
    assert life_safety(lowered) == _plain_life_safety(lowered)
    # the required strings are necessary: every text a regex matches holds one of them
    for _name, rx, strings in _RULE_CHECKS:
        if strings is not None and rx.search(lowered):
            assert any(s in lowered for s in strings), (rx.pattern, text)
    for rule, strings, needs_ascii in _LIFE_CHECKS:
        usable = strings is not None and (lowered.isascii() or not needs_ascii)
        if usable and strings is not None and rule.pattern.search(lowered):
            assert any(s in lowered for s in strings), (rule.name, text)


def test_rule_prefilters_change_nothing() -> None:
    for text in CORPUS:
        _check_rules(text)
    # every rule fires somewhere in the corpus, so the check above is not vacuous
    fired = {name for t in CORPUS for name in match_rules(t.lower(), t.lower().split())}
    assert {"fire", "gas_leak", "person_hurt", "call_911"} <= fired


@settings(max_examples=200, deadline=None)
@given(_TEXTS)
def test_rule_prefilters_on_generated_text(text: str) -> None:
    _check_rules(text)


@pytest.mark.parametrize(
    ("pattern", "flags", "fold", "text_hit", "text_miss"),
    [
        (r"\b(?:smells?|odou?r) (?:of )?gas\b", 0, False, "it smells of gas", "gas smell"),
        (r"\bcall(?:ed)? 911\b", 0, False, "we called 911", "call 9-1-1"),
        (r"[a-c]x", 0, False, "bx", "dx"),
        (r"GAS\s+LEAK", re.IGNORECASE, True, "gas   leak", "gas"),
        (r"(?:water|agua) (?:\w+ ){0,4}panel", 0, False, "water near the panel", "panel water"),
    ],
)
def test_required_strings(
    pattern: str, flags: int, fold: bool, text_hit: str, text_miss: str
) -> None:
    rx = re.compile(pattern, flags)
    strings = required_strings(rx, fold=fold)
    assert strings is not None
    assert rx.search(text_hit) and any(s in text_hit for s in strings)
    assert not rx.search(text_miss)


@pytest.mark.parametrize(
    ("pattern", "flags", "fold"),
    [
        (r"\w+", 0, False),  # nothing literal
        (r"(?:gas)?", 0, False),  # may match the empty string
        (r"gas|\d+", 0, False),  # one branch without a literal
        (r"(?i:gas)", 0, False),  # case folded in a group
        (r"gas", re.IGNORECASE, False),  # a folded pattern needs fold=True
        (r"fıre", re.IGNORECASE, True),  # dotless i matches an ASCII i under IGNORECASE
    ],
)
def test_required_strings_declines(pattern: str, flags: int, fold: bool) -> None:
    strings = required_strings(re.compile(pattern, flags), fold=fold)
    if strings is not None:  # only a set that is still necessary would do
        assert re.search(pattern, "fire", flags) and any(s in "fire" for s in strings)
    assert strings is None or pattern.startswith("f")


def test_gc_pause_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left off when it was off
    finally:
        gc.enable()

    seen: list[bool] = []
    started, release = threading.Barrier(2), threading.Event()

    def batch() -> None:
        with gc_paused():
            started.wait()
            release.wait(5)

    worker = threading.Thread(target=batch)
    worker.start()
    started.wait()
    with gc_paused():
        pass
    seen.append(gc.isenabled())  # the other thread's batch is still running
    release.set()
    worker.join()
    assert seen == [False]
    assert gc.isenabled()


def test_predict_leaves_gc_enabled() -> None:
    clf = load_classifier(jobs=1)
    clf.predict(TEXTS)
    assert gc.isenabled()


def test_language_sees_each_text_once() -> None:
    det = LanguageDetectorOffline()
    texts = ["Bonjour, la rue est fermée", "Bonjour, la rue est fermée", "Hola", "#Hola", "@x Hola"]
    assert det.detect(texts) == [det.detect([t])[0] for t in texts]


def test_gazetteer_tokens_that_are_not_plain_words() -> None:
    gz = Gazetteer.from_dict(
        {
            "city": "Testville",
            "neighborhoods": [{"name": "Old Town", "lat": 1.0, "lon": 2.0, "aliases": ["OT"]}],
            "streets": [{"name": "Main", "aliases": ["Main St"]}],
            "landmarks": [{"name": "O'Brien Park", "aliases": ["St.Mary", "obp"]}],
        }
    )
    assert gz.odd_first
    found = LocationExtractor(gz).extract_one(
        "Flooding at O'Brien Park and St.Mary, ot is fine, OT is not, obp, Main St."
    )
    assert [(loc.text, loc.kind) for loc in found] == [
        ("O'Brien Park", "landmark"),
        ("St.Mary", "landmark"),
        ("OT", "neighborhood"),
        ("Main St", "street"),
    ]


def test_evidence_is_the_top_positive_weights(clf_fixture: CivicClassifier) -> None:
    clf = clf_fixture
    texts = CORPUS[:120]
    probs, analyses = clf.probabilities(texts)
    chosen = {h: probs[h].argmax(axis=1) for h in probs}
    got = clf._evidence(analyses, chosen)
    for i, an in enumerate(analyses):
        toks = list(dict.fromkeys(an.tokens))
        if not toks:
            assert all(v == [] for v in got[i].values())
            continue
        cols, signs = clf.featurizer.indices_of(toks)
        for h in probs:
            c = clf._centered[h][cols, chosen[h][i]] * signs
            order = sorted(range(len(toks)), key=lambda j: -c[j])  # stable: ties in token order
            top = [j for j in order if c[j] > 0][:4]
            expected = [toks[j] if toks[j][0] != "_" else readable(toks[j]) for j in top]
            assert got[i][h] == expected


@pytest.fixture(scope="module")
def clf_fixture() -> CivicClassifier:
    return load_classifier(jobs=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 Main ſt is flooded", [("12 Main ſt", "address")]),  # ſ ~ s under IGNORECASE
        ("12 Main St is flooded", [("12 Main St", "address")]),
        ("across the street 12 Tremont", [("12 Tremont", "address")]),  # no suffix word
        ("walked across 5 blocks, crossing of the river", []),
        ("42.3601, -71.0589 sinkhole", [("42.3601, -71.0589", "coordinates")]),
    ],
)
def test_location_shortcuts_keep_every_place(text: str, expected: list[tuple[str, str]]) -> None:
    found = LocationExtractor().extract_one(text)
    assert [(loc.text, loc.kind) for loc in found] == expected


def test_worker_transport_round_trip(clf_fixture: CivicClassifier) -> None:
    from classifiers.model import _pack, _unpack

    preds = clf_fixture.predict(CORPUS[:80] + ["Flooding at 12 Main St, corner of Elm and Oak"])
    assert any(p.locations for p in preds)
    back = _unpack(_pack(preds))
    assert back == preds
    assert repr(back) == repr(preds)
