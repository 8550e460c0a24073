"""The trigger words never hide a danger rule.

``match_rules`` runs a rule's regex only when a word of the post starts with one of the rule's
trigger prefixes (``lexicons.RULE_TRIGGERS``), and ``life_safety`` looks for the life-safety
patterns only once an emergency-level danger rule has fired.  Both are shortcuts: a pattern whose
words no trigger names, or a life-safety pattern no danger rule covers, is silently dead ("I heard
gunshots", "the apartment is burning", "cháy" were).  These tests write texts that each
alternative of each rule matches, from the pattern itself, and check that the post gets the rule.
"""

from __future__ import annotations

import random
import re
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest

from classifiers import lexicons as lx
from classifiers.features import Analysis, _scan

SAMPLES = 60
# a street suffix word lets the features take the words before it for a street's name ("blocked
# street" -> ``_street``): such texts test the normaliser, not the triggers
_SUFFIX = re.compile(r"\b(?:st|street|ave|av|avenue|rd|road|lane|ln|way|dr|drive|ct|pl|ter)\b")
_CATEGORY = {sre_c.CATEGORY_SPACE: " ", sre_c.CATEGORY_DIGIT: "5", sre_c.CATEGORY_WORD: "a"}


def _write(items: Any, rng: random.Random, out: list[str]) -> None:
    """One string the parsed pattern ``items`` can match (assertions are skipped; the caller
    keeps only strings the whole pattern matches)."""
    for op, av in items:
        if op is sre_c.LITERAL:
            out.append(chr(av))
        elif op is sre_c.NOT_LITERAL:
            out.append(" " if chr(av) != " " else "x")
        elif op is sre_c.ANY:
            out.append(" ")
        elif op in (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT):
            continue
        elif op is sre_c.SUBPATTERN:
            _write(av[3], rng, out)
        elif op is sre_c.BRANCH:
            _write(rng.choice(av[1]), rng, out)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            n = rng.randint(lo, min(hi, lo + 2))
            if lo == 0 and rng.random() < 0.5:
                n = 0
            for _ in range(n):
                _write(sub, rng, out)
        elif op is sre_c.CATEGORY:
            out.append(_CATEGORY.get(av, "x"))
        elif op is sre_c.IN:
            if any(o is sre_c.NEGATE for o, _ in av):
                out.append(" " if re.fullmatch(_class(av), " ") else "x")
                continue
            o, a = rng.choice(av)
            if o is sre_c.LITERAL:
                out.append(chr(a))
            elif o is sre_c.RANGE:
                out.append(chr(rng.randint(a[0], a[1])))
            else:
                out.append(_CATEGORY.get(a, "x"))
        else:  # pragma: no cover - a construct the rules do not use
            raise AssertionError(f"cannot write {op}")


def _class(av: Any) -> str:
    """A negated character class as a pattern (to test whether a space is allowed)."""
    parts = []
    for o, a in av:
        if o is sre_c.LITERAL:
            parts.append(re.escape(chr(a)))
        elif o is sre_c.RANGE:
            parts.append(f"{re.escape(chr(a[0]))}-{re.escape(chr(a[1]))}")
        elif o is sre_c.CATEGORY:
            parts.append({sre_c.CATEGORY_SPACE: r"\s", sre_c.CATEGORY_DIGIT: r"\d"}.get(a, r"\w"))
    return "[^" + "".join(parts) + "]"


def _alternatives(rx: re.Pattern[str]) -> list[Any]:
    """The pattern's alternatives as parsed items (the parser moves a prefix the alternatives
    share, such as ``\\b``, in front of the alternation: it is put back into each)."""
    parsed = list(sre_parse.parse(rx.pattern, rx.flags))
    for i, (op, av) in enumerate(parsed):
        if op is sre_c.BRANCH:
            return [parsed[:i] + list(b) + parsed[i + 1 :] for b in av[1]]
    return [parsed]


def _texts(rule: lx.Rule, rng: random.Random) -> list[str]:
    """Posts that ``rule``'s pattern matches, about ``SAMPLES`` per top-level alternative."""
    out = []
    for parsed in _alternatives(rule.pattern):
        for _ in range(SAMPLES):
            chars: list[str] = []
            _write(parsed, rng, chars)
            text = f"Hey, {''.join(chars)} today"
            lowered = text.lower()
            if rule.pattern.search(lowered) and not _SUFFIX.search(lowered):
                out.append(text)
    return out


def _analysis(text: str) -> Analysis:
    scan = _scan(text)
    assert scan is not None
    return scan[3]


@pytest.mark.parametrize("rule", lx.URGENCY_RULES, ids=lambda r: r.name)
def test_every_alternative_of_a_rule_is_triggered(rule: lx.Rule) -> None:
    texts = _texts(rule, random.Random(rule.name))
    assert len(texts) >= SAMPLES // 2  # the writer reaches the pattern
    hidden = [t for t in texts if rule.name not in _analysis(t).rules]
    assert not hidden, f"{rule.name}: no trigger word for {sorted(set(hidden))[:5]}"


@pytest.mark.parametrize("rule", lx.LIFE_SAFETY, ids=lambda r: r.name)
def test_every_life_safety_pattern_is_reached(rule: lx.Rule) -> None:
    texts = _texts(rule, random.Random("life " + rule.name))
    assert len(texts) >= SAMPLES // 2
    missed = []
    for text in texts:
        an = _analysis(text)
        if rule.name not in an.life_safety and not an.hedged:
            missed.append(text)
    assert not missed, f"{rule.name}: never looked for in {sorted(set(missed))[:5]}"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("I heard gunshots on my street", "violence"),
        ("the apartment is burning", "fire"),
        ("Cháy nhà ở hẻm 51", "fire"),
        ("Sewage backing up into the basement", "flooding"),
        ("no water at all since this morning", "utility_out"),
        ("the transformer blew and the pole is arcing", "live_wire"),
        ("loose dog just bit a mail carrier on Culebra", "person_hurt"),
    ],
)
def test_formerly_hidden_rules(text: str, rule: str) -> None:
    assert rule in _analysis(text).rules
