"""Text normalisation and hashed features shared by every model head.

A post becomes: word unigrams and bigrams, character 4-grams inside words (robust to typos), and
pseudo-tokens for lexicon hits (topic keywords, danger rules, sentiment words, emoji, negation).
Everything is hashed into one fixed space with scikit-learn's ``FeatureHasher`` so no vocabulary
has to be stored, and every row is L2-normalised on its own, so a post's features never depend on
the other posts of its batch.

Normalisation removes what would tie a model to the cities it was trained on: URLs, @handles,
numbers, street addresses and the names of the training cities become placeholder tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.preprocessing import normalize
from sklearn.utils import murmurhash3_32

from classifiers import lexicons as lx

N_FEATURES = 2**18
FEATURE_VERSION = 1

_URL = re.compile(r"https?://\S+|www\.\S+|\S+\.(?:com|org|net|gov|ly|co)/\S*", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_ELONG = re.compile(r"(\w)\1{2,}")
_DIGITS = re.compile(r"\d+(?:[.,:]\d+)*")
_STREET_SUFFIX = (
    r"(?:st|street|ave|av|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|pl|place|ter|terrace|"
    r"pkwy|parkway|hwy|highway|cir|circle)"
)
_ADDRESS = re.compile(r"\b0\s+(?:[a-z][\w'-]*\s+){1,3}?" + _STREET_SUFFIX + r"\b\.?")
_STREET = re.compile(
    r"\b[a-z][\w'-]+\s+" + _STREET_SUFFIX + r"\b\.?(?!\s+(?:light|lamp|sign|sweep))"
)
_CITY_NAMES = re.compile(
    r"\b(?:san rafael|marin(?: county)?|mumbai|bombay|thane|navi mumbai|bengaluru|bangalore|bbmp|mcgm|bmc|"
    r"bwssb|boston|new york(?: city)?|nyc|brooklyn|queens|bronx|manhattan|staten island|dorchester|roxbury|"
    r"southie|california|karnataka|maharashtra)\b"
)
_HAS_DIGIT = re.compile(r"\d")
_PLAIN_WORD = re.compile(r"[a-z]+")
_SUFFIX_WORDS = frozenset(_STREET_SUFFIX.strip("(?:)").split("|"))
_CITY_FIRST = frozenset(
    [
        "san",
        "marin",
        "mumbai",
        "bombay",
        "thane",
        "navi",
        "bengaluru",
        "bangalore",
        "bbmp",
        "mcgm",
        "bmc",
        "bwssb",
        "boston",
        "new",
        "nyc",
        "brooklyn",
        "queens",
        "bronx",
        "manhattan",
        "staten",
        "dorchester",
        "roxbury",
        "southie",
        "california",
        "karnataka",
        "maharashtra",
    ]
)
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_EMOJI_CHAR = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_TOK = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[.,!?;:]")
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
                out.setdefault((words[0] + "es",), topic)
            else:
                out.setdefault(words[:-1] + (words[-1] + "s",), topic)
    return out


_KW_TABLE = _keyword_table(lx.TOPIC_KEYWORDS)
_KW_MAXLEN = max(len(k) for k in _KW_TABLE)
_KW_FIRST = frozenset(k[0] for k in _KW_TABLE if len(k) > 1)
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


_TRIGGER4: dict[str, set[str]] = {}
_TRIGGER5: dict[str, set[str]] = {}
for _name, _, _t4, _t5 in _RULES:
    for _p in _t4:
        _TRIGGER4.setdefault(_p, set()).add(_name)
    for _p in _t5:
        _TRIGGER5.setdefault(_p, set()).add(_name)


def match_rules(lowered: str, words: Iterable[str]) -> list[str]:
    """Names of the urgency rules that fire on a lowercased text (a rule's regex runs only when one
    of its trigger prefixes, 4 or 5 letters, starts a word of the text)."""
    candidates: set[str] = set()
    t4, t5 = _TRIGGER4, _TRIGGER5
    for w in set(words):
        hit = t4.get(w[:4])
        if hit:
            candidates |= hit
        if len(w) >= 5:
            hit = t5.get(w[:5])
            if hit:
                candidates |= hit
    for mark in ("911", "?", "¿"):
        if mark in lowered:
            candidates |= t4.get(mark, set())
    if not lowered.isascii() and _NON_LATIN.search(lowered):
        candidates = set(
            _ALL_RULES
        )  # scripts without spaces or Latin prefixes: every rule's regex runs
    if not candidates:
        return []
    return [name for name, rx, _, _ in _RULES if name in candidates and rx.search(lowered)]


HEDGE_WINDOW = 40  # characters before a life-safety match where a hedge word counts
_EMERGENCY_NAMES = frozenset(r.name for r in lx.EMERGENCY_RULES)
_ALL_RULES = frozenset(name for name, _, _, _ in _RULES)
_NON_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff]")
_CJK_KW = {p: t for t, ps in lx.CJK_TOPIC_KEYWORDS.items() for p in ps}
_CJK_RX = re.compile("|".join(re.escape(p) for p in sorted(_CJK_KW, key=len, reverse=True)))
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def match_cjk_keywords(text: str) -> list[tuple[str, str]]:
    """(topic, phrase) for the Chinese keywords found as substrings (no word boundaries there)."""
    if text.isascii() or not _CJK_CHAR.search(text):
        return []
    return [(_CJK_KW[m.group(0)], m.group(0)) for m in _CJK_RX.finditer(text)]


def life_safety(lowered: str) -> tuple[list[str], bool]:
    """The life-safety patterns found in a lowercased text, and whether one of the hedgeable ones
    was set aside because the words just before it speak of harm as possible ("someone is going
    to get hit", "casi fue atropellado")."""
    found: list[str] = []
    hedged = False
    for rule in lx.LIFE_SAFETY:
        m = rule.pattern.search(lowered)
        if m is None:
            continue
        if rule.name in lx.HEDGEABLE and lx.HEDGE.search(
            lowered, max(0, m.start() - HEDGE_WINDOW), m.end()
        ):
            hedged = True
            continue
        found.append(rule.name)
    return found, hedged


def match_keywords(words: Sequence[str]) -> list[tuple[str, str]]:
    """(topic, phrase) for every topic keyword among the words."""
    hits: list[tuple[str, str]] = []
    n = len(words)
    for i in range(n):
        top = min(_KW_MAXLEN, n - i) if words[i] in _KW_FIRST else 1
        for k in range(top, 0, -1):
            topic = _KW_TABLE.get(tuple(words[i : i + k]))
            if topic is not None:
                hits.append((topic, " ".join(words[i : i + k])))
                break
    return hits


_SARCASM_RX = re.compile("|".join(re.escape(s) for s in lx.SARCASM_CUES))


@dataclass(slots=True)
class Analysis:
    """What the featuriser saw in one post: readable tokens (for evidence) and lexicon hits."""

    tokens: list[str] = field(
        default_factory=list
    )  # readable features: words, bigrams, lexicon tokens
    rules: list[str] = field(default_factory=list)  # urgency rules that fired
    keywords: list[tuple[str, str]] = field(default_factory=list)  # (topic, matched text)
    sentiment_hits: list[str] = field(default_factory=list)
    hedged: bool = False  # a life-safety match set aside: the harm is spoken of as possible
    life_safety: list[str] = field(
        default_factory=list
    )  # life-safety patterns that make it an emergency


def normalise(text: str) -> tuple[str, list[str]]:
    """Lowercased, placeholder-substituted text plus the special tokens it produced."""
    extra: list[str] = []
    if _URL.search(text):
        text = _URL.sub(" ", text)
        extra.append("_url")
    if "@" in text:
        text = _EMAIL.sub(" ", text)
        n = len(_MENTION.findall(text))
        if n:
            text = _MENTION.sub(" ", text)
            extra.append("_mention")
    if "#" in text and _HASHTAG.search(text):
        extra.append("_hashtag")
        text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)) + " ", text)
    if not text.islower() and len(_CAPS_WORD.findall(text)) >= 2:
        extra.append("_allcaps")
    if "!" in text:
        extra.append("_excl")
    if "?" in text:
        extra.append("_quest")
    t = text.lower()
    if _ELONG.search(t):
        extra.append("_elong")
        t = _ELONG.sub(r"\1\1", t)
    if _HAS_DIGIT.search(t):
        t = _DIGITS.sub("0", t)
        t = _ADDRESS.sub(" _addr ", t)
    words = set(_PLAIN_WORD.findall(t))
    if not words.isdisjoint(_SUFFIX_WORDS):
        t = _STREET.sub(" _street ", t)
    if not words.isdisjoint(_CITY_FIRST):
        t = _CITY_NAMES.sub(" _city ", t)
    return t, extra


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


def _sentiment(
    ws: list[str], feats: list[tuple[str, float]], extra: list[str], hits: list[str]
) -> None:
    """Sentiment-word tokens with negation scope (three words after a negator, within a clause)."""
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
            feats.append(("neg_" + w, 0.5))
            negate -= 1


def analyse(text: str) -> tuple[list[tuple[str, float]], Analysis]:
    """Feature (token, weight) pairs and the readable analysis of one post."""
    an = Analysis()
    if not text or text.isspace():
        return [("_empty", 1.0)], an
    raw = text
    t, extra = normalise(raw)
    if not raw.isascii():
        _emoji_tokens(raw, extra, an.sentiment_hits)
    if _EMOTICON_CHARS.search(raw):
        for m in _EMOTICON_RX.finditer(_URL.sub(" ", raw) if "/" in raw else raw):
            e = m.group(0).lower()
            if e in _POS_EMOTICONS:
                extra.append("_emopos")
                an.sentiment_hits.append("emoticon+" + e)
            else:
                extra.append("_emoneg")
                an.sentiment_hits.append("emoticon-" + e)
    lowered = raw.lower()
    if _SARCASM_RX.search(lowered):
        extra.append("_sarcasm")
        an.sentiment_hits.append("sarcasm cue")

    feats: list[tuple[str, float]] = []
    words: list[str] = []
    cache = _CHARGRAM_CACHE
    for chunk in _CHUNK.split(t) if _HAS_BREAK.search(t) else (t,):
        ws = _WORD.findall(chunk)
        if not ws:
            continue
        if "'" in chunk:
            ws = [w.replace("'", "") for w in ws]
        words.extend(ws)
        for w in ws:
            feats.extend(cache.get(w) or _chargrams(w))
        if len(ws) > 1:
            feats.extend([(a + " " + b, 1.0) for a, b in zip(ws, ws[1:], strict=False)])
        wset = set(ws)
        if not (
            wset.isdisjoint(lx.POSITIVE_WORDS)
            and wset.isdisjoint(lx.NEGATIVE_WORDS)
            and wset.isdisjoint(lx.NEGATORS)
        ):
            _sentiment(ws, feats, extra, an.sentiment_hits)
    for name in match_rules(lowered, words):
        an.rules.append(name)
        extra.append("_rule_" + name)
        extra.append("_lvl_" + RULE_LEVEL[name])
    if an.rules and not _EMERGENCY_NAMES.isdisjoint(an.rules):
        an.life_safety, an.hedged = life_safety(lowered)
    for topic, phrase in match_keywords(words) + match_cjk_keywords(lowered):
        an.keywords.append((topic, phrase))
        extra.append("_kw_" + topic)
    feats.extend([(e, 1.0) for e in extra])
    an.tokens = words + extra
    if not feats:
        feats.append(("_empty", 1.0))
    return feats, an


class Featurizer:
    """Hashes analysed posts into a row-normalised sparse matrix."""

    def __init__(self, n_features: int = N_FEATURES) -> None:
        self.n_features = n_features
        self._hasher = FeatureHasher(n_features=n_features, input_type="pair", alternate_sign=True)
        self._index_cache: dict[str, tuple[int, float]] = {}
        self._code_cache: dict[str, int] = {}  # token -> column * 2 + (1 if the sign is negative)

    def transform(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[Analysis]]:
        pairs: list[list[tuple[str, float]]] = []
        analyses: list[Analysis] = []
        for text in texts:
            f, a = analyse(text if isinstance(text, str) else "")
            pairs.append(f)
            analyses.append(a)
        X = self._hasher.transform(pairs).astype(np.float32)
        X = normalize(X, norm="l2", copy=False)
        return sp.csr_matrix(X), analyses

    def indices_of(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Columns and signs of many tokens at once (cached; misses hashed in one call)."""
        cache = self._code_cache
        codes = [cache.get(t, -1) for t in tokens]
        missing = [j for j, c in enumerate(codes) if c < 0]
        if missing:
            H = self._hasher.transform([[(tokens[j], 1.0)] for j in missing])
            for j, col, val in zip(missing, H.indices.tolist(), H.data.tolist(), strict=True):
                code = col * 2 + (1 if val < 0 else 0)
                codes[j] = code
                if len(cache) < 500_000:
                    cache[tokens[j]] = code
        arr = np.asarray(codes, dtype=np.int64)
        return arr >> 1, np.where(arr & 1, -1.0, 1.0).astype(np.float32)

    def index_of(self, token: str) -> tuple[int, float]:
        """Column and sign a token hashes to (the same formula as ``FeatureHasher``)."""
        hit = self._index_cache.get(token)
        if hit is not None:
            return hit
        h = murmurhash3_32(token, seed=0, positive=False)
        idx = (
            (2147483647 - (self.n_features - 1)) % self.n_features
            if h == -2147483648
            else abs(h) % self.n_features
        )
        out = (idx, -1.0 if h < 0 else 1.0)
        if len(self._index_cache) < 500_000:
            self._index_cache[token] = out
        return out


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
