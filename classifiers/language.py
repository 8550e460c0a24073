"""Offline language identification, so replies can be drafted in the resident's language.

Lingua (``lingua-language-detector``) ships its models inside the package; it is restricted to the
languages a US city most often hears from residents.  Two fast paths keep throughput high: text
that is plainly English (words in ASCII letters, English function words and no other language's) is
answered without Lingua, and Haitian Creole, which Lingua does not cover, is recognised from a
small function-word lexicon.  Texts that reach Lingua are identified once per batch however often
they repeat (reposts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from lingua import ConfidenceValue, Language, LanguageDetector, LanguageDetectorBuilder

LANGUAGES: dict[Language, str] = {
    Language.ENGLISH: "en",
    Language.SPANISH: "es",
    Language.PORTUGUESE: "pt",
    Language.FRENCH: "fr",
    Language.CHINESE: "zh",
    Language.VIETNAMESE: "vi",
    Language.ARABIC: "ar",
    Language.RUSSIAN: "ru",
    Language.KOREAN: "ko",
    Language.SOMALI: "so",
    Language.TAGALOG: "tl",
    Language.HINDI: "hi",
    Language.ITALIAN: "it",
    Language.GERMAN: "de",
    Language.JAPANESE: "ja",
    Language.POLISH: "pl",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and or but is are was were be been to of in on at for with this that it its my our your "
        "there their they we i you he she have has had not do does did will would can could should from "
        "by as if so just very all about what when where who why how please thanks street"
    ),
    "es": _words(
        "el la los las del que y en es por para una un con se lo su al como pero muy está esta hay "
        "calle nadie mi nuestra nuestro desde hace no tiene gracias favor cuando donde"
    ),
    "pt": _words(
        "o os as do da dos das em um uma não nao com mais na no rua é está tem muito obrigado você "
        "ninguém nossa nosso"
    ),
    "fr": _words(
        "le les des et est une dans pour pas avec sur qui ce il elle ne ma mon rue depuis nous vous "
        "merci très"
    ),
    "ht": _words(
        "mwen nou yo pa gen ki pou nan sa li ak kay lari tanpri mèsi mesi genyen bezwen kounye tout "
        "moun anpil lapli dlo yon gwo ede ap nèt toupre depi jodi ankò èske lavil deja chak atè twò "
        "kounyea fè vini pase semèn lè kote avèk sou"
    ),
    # Italian and Tagalog: without them, posts in either that hold a word of the lists above
    # ("i", "in", "la", "at") were called English or Spanish without reaching Lingua
    "it": _words(
        "di che sono della delle dello degli gli alla alle nel nella questo questa anche ancora "
        "perché molto"
    ),
    "tl": _words("ang ng mga po ay nang kung yung naman lang ako siya hindi ito dito talaga"),
    # romanised Hindi, as residents of Indian cities write it (Devanagari goes to Lingua)
    "hi": _words(
        "hai hain ka ki ke ko se mein nahi nahin bhi aur kya raha rahi rahe gaya gayi hota tha thi "
        "kar karo kuch yeh woh abhi phir bahut kab kaise kyun humare hamare mera meri mere hoti "
        "diya liye wala wali gaadi sadak paani"
    ),
}
_WORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _words_of in FUNCTION_WORDS.items():
    for _w in _words_of:
        _WORD_LANGS[_w] = (*_WORD_LANGS.get(_w, ()), _lang)
_FUNCTION_WORD_SET = frozenset(_WORD_LANGS)
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_WORD = re.compile(r"[a-z]+")  # ``_WORD`` in lowercased ASCII text, found faster
_LAST_LANG = max(FUNCTION_WORDS)  # the language ranked first when no function word counts
_STRIP = re.compile(r"https?://\S+|@\w+|#")


class LanguageDetectorOffline:
    """Batch language identification returning ``(iso_639_1, confidence)`` per text."""

    def __init__(self, low_accuracy: bool = True, english_vocab: Iterable[str] = ()) -> None:
        self.english_vocab = frozenset(english_vocab)
        builder = LanguageDetectorBuilder.from_languages(*LANGUAGES)
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        self._detector: LanguageDetector = builder.build()

    def detect(self, texts: Sequence[str]) -> list[tuple[str, float, str]]:
        """(language, score, rule) per text; rule says which path decided, for the evidence."""
        out: list[tuple[str, float, str] | None] = []
        pending: list[int] = []
        for i, text in enumerate(texts):
            fast = self._fast(text)
            out.append(fast)
            if fast is None:
                pending.append(i)
        if pending:
            stripped = [_STRIP.sub(" ", texts[i]) for i in pending]
            unique = list(dict.fromkeys(stripped))  # a repost is identified once
            values = self._detector.compute_language_confidence_values_in_parallel(unique)
            best = {u: self._best(v) for u, v in zip(unique, values, strict=True)}
            for i, s in zip(pending, stripped, strict=True):
                out[i] = best[s]
        return [o if o is not None else ("und", 0.0, "none") for o in out]

    def _fast(self, text: str) -> tuple[str, float, str] | None:
        if not isinstance(text, str):
            return ("und", 0.0, "empty")
        clean = _STRIP.sub(" ", text) if ("@" in text or "http" in text or "#" in text) else text
        low = clean.lower()
        words = (_ASCII_WORD if low.isascii() else _WORD).findall(low)
        if not words:
            return ("und", 0.0, "empty")
        # the largest count (ties: the language last in name order) and the second largest
        found = _FUNCTION_WORD_SET.intersection(words)
        if found:
            tally = dict.fromkeys(FUNCTION_WORDS, 0)
            langs_of = _WORD_LANGS
            for w in found:
                n = words.count(w)
                for lang in langs_of[w]:
                    tally[lang] += n
            best, lang = max(zip(tally.values(), tally.keys(), strict=True))
            second = sorted(tally.values())[-2]
        else:
            best, lang, second = 0, _LAST_LANG, 0
        if lang == "ht" and best >= 2 and best >= 0.25 * len(words):
            return ("ht", min(0.95, 0.5 + 0.1 * best), "kreyol-function-words")
        # the words decide, not the punctuation: curly quotes, an ellipsis or an emoji leave an
        # English post English (a word with an accent or in another script is not ASCII)
        is_ascii = clean.isascii() or "".join(words).isascii()
        if lang == "en" and not is_ascii:
            return None
        if lang == "en" and best >= 1 and second == 0 and is_ascii:
            return ("en", 0.7 if best == 1 else 0.8, "function-words")
        if second == 0 and self.english_vocab and is_ascii:
            known = sum(map(self.english_vocab.__contains__, words)) / len(words)
            if known >= 0.6:
                return ("en", round(0.5 + 0.4 * known, 4), "english-vocabulary")
        if lang != "ht" and best >= 2 and best >= 2 * second + 1 and best >= 0.15 * len(words):
            return (lang, min(0.99, 0.6 + 0.05 * (best - second)), "function-words")
        return None

    @staticmethod
    def _best(values: Sequence[ConfidenceValue]) -> tuple[str, float, str]:
        if not values:
            return ("und", 0.0, "lingua")
        best = values[0]
        return (LANGUAGES.get(best.language, "und"), round(float(best.value), 6), "lingua")
