"""The shipped classifier: linear heads over hashed features, lexicon rules, language, location.

Artifacts are plain data — ``model.npz`` (weights, loaded with ``allow_pickle=False``) and
``meta.json`` (classes, calibration temperatures, thresholds) — so loading never executes code.
All four heads (relevance, topic, urgency, sentiment) share one feature matrix and are scored with a
single sparse-dense product per batch.  Every row is computed on its own, so a batch gives exactly
the same result as the same posts one at a time.  Python's cyclic garbage collector is paused while
a batch runs (``gc_paused``): a batch makes no reference cycles, and the collector's walks over the
heap cost more than a fifth of the time otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import multiprocessing as mp
import os
import threading
import weakref
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.api import Location, Prediction
from classifiers.features import FEATURE_VERSION, RULE_LEVEL, Analysis, Featurizer, readable
from classifiers.language import LanguageDetectorOffline
from classifiers.lexicons import EMERGENCY_RULES
from classifiers.location import Gazetteer, LocationExtractor

NAME = "civic-classifier"
VERSION = "1.0.0"
ARTIFACT_FILES = ("model.npz", "meta.json")
HEADS = ("relevance", "topic", "urgency", "sentiment")
DEFAULT_ARTIFACT_DIR = Path(__file__).parent / "artifacts"
PARALLEL_MIN_BATCH = 256


_GC_LOCK = threading.Lock()
_GC_PAUSES = 0  # batches running with the cyclic collector paused (any thread)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch runs.

    A batch allocates tens of thousands of small containers that live until it ends (analyses,
    evidence, predictions); each time enough of them have piled up the collector walks the whole
    heap, which cost more than a fifth of the classifier's time.  None of them form reference
    cycles, so reference counting frees them all the same.  The collector is turned back on when
    the last batch (of any thread) ends, and left alone if it was already off."""
    global _GC_PAUSES
    with _GC_LOCK:
        if _GC_PAUSES == 0 and not gc.isenabled():
            owner = False
        else:
            owner = True
            _GC_PAUSES += 1
            gc.disable()
    try:
        yield
    finally:
        if owner:
            with _GC_LOCK:
                _GC_PAUSES -= 1
                if _GC_PAUSES == 0:
                    gc.enable()


class ArtifactError(RuntimeError):
    """The artifact directory is missing, incomplete or from an incompatible version."""


@dataclass(slots=True)
class Head:
    """One linear softmax head: ``softmax((x @ W + b) / temperature + bias)``."""

    name: str
    classes: list[str]
    W: np.ndarray  # (n_features, k) float32
    b: np.ndarray  # (k,)
    temperature: float = 1.0
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    # weight of the hand-written topic keywords, added to the logits (0 = model only)
    kw_boost: float = 0.0
    # decision thresholds (urgency: "emergency", "urgent", "emergency_rule")
    thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.bias.size == 0:
            self.bias = np.zeros(len(self.classes), dtype=np.float32)

    def proba_from_logits(
        self, logits: np.ndarray, keywords: np.ndarray | None = None
    ) -> np.ndarray:
        z = logits / self.temperature + self.bias
        if keywords is not None and self.kw_boost:
            z = z + self.kw_boost * keywords
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def artifact_hash(artifact_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ARTIFACT_FILES:
        h.update(name.encode())
        h.update((artifact_dir / name).read_bytes())
    return h.hexdigest()


def save_heads(heads: dict[str, Head], meta: dict[str, Any], out_dir: Path) -> str:
    """Write ``model.npz`` + ``meta.json``; returns the artifact hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    meta = dict(meta)
    meta["heads"] = {}
    for name, head in heads.items():
        W = head.W.astype(np.float32)
        scale = float(np.abs(W).max()) or 1.0
        W[np.abs(W) < 2e-3 * scale] = 0.0  # prune the noise floor: smaller artifact, same decisions
        arrays[f"{name}__W"] = W.astype(np.float16)
        arrays[f"{name}__b"] = head.b.astype(np.float32)
        arrays[f"{name}__bias"] = head.bias.astype(np.float32)
        meta["heads"][name] = {
            "classes": head.classes,
            "temperature": float(head.temperature),
            "kw_boost": float(head.kw_boost),
            "thresholds": head.thresholds,
        }
    np.savez_compressed(out_dir / "model.npz", **arrays)  # type: ignore[arg-type]
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    return artifact_hash(out_dir)


def load_heads(artifact_dir: Path) -> tuple[dict[str, Head], dict[str, Any]]:
    for name in ARTIFACT_FILES:
        if not (artifact_dir / name).exists():
            raise ArtifactError(
                f"missing {name} in {artifact_dir}: run `civic-listener train` first"
            )
    meta = json.loads((artifact_dir / "meta.json").read_text(encoding="utf-8"))
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ArtifactError(
            f"artifact built with feature version {meta.get('feature_version')}, code has {FEATURE_VERSION}"
        )
    heads: dict[str, Head] = {}
    with np.load(artifact_dir / "model.npz", allow_pickle=False) as npz:
        for name, hm in meta["heads"].items():
            heads[name] = Head(
                name,
                list(hm["classes"]),
                npz[f"{name}__W"].astype(np.float32),
                npz[f"{name}__b"].astype(np.float32),
                float(hm["temperature"]),
                npz[f"{name}__bias"].astype(np.float32),
                float(hm.get("kw_boost", 0.0)),
                dict(hm.get("thresholds", {})),
            )
    return heads, meta


class CivicClassifier:
    """Implements :class:`classifiers.api.Classifier`."""

    name = NAME

    def __init__(
        self,
        heads: dict[str, Head],
        meta: dict[str, Any],
        *,
        artifact_hash: str = "",
        gazetteer: Gazetteer | None = None,
        review_threshold: float = 0.5,
        geocoder: Any = None,
        jobs: int | None = 1,
        artifact_dir: Path | None = None,
    ) -> None:
        missing = [h for h in HEADS if h not in heads]
        if missing:
            raise ArtifactError(f"artifact lacks heads {missing}")
        self.heads = heads
        self.meta = meta
        self.version = str(meta.get("version", VERSION))
        self.artifact_hash = artifact_hash
        self.review_threshold = review_threshold
        self.thresholds: dict[str, float] = dict(DEFAULT_THRESHOLDS)
        self.thresholds.update(meta.get("thresholds", {}))
        self.thresholds.update(heads["urgency"].thresholds)
        self.featurizer = Featurizer(int(meta.get("n_features", 2**18)))
        self._order = list(HEADS)
        self._W = np.hstack([heads[h].W for h in self._order]).astype(np.float32)
        self._b = np.concatenate([heads[h].b for h in self._order]).astype(np.float32)
        sizes = [len(heads[h].classes) for h in self._order]
        self._slices = {}
        start = 0
        for h, k in zip(self._order, sizes, strict=True):
            self._slices[h] = slice(start, start + k)
            start += k
        self._centered = {
            h: heads[h].W - heads[h].W.mean(axis=1, keepdims=True) for h in self._order
        }
        # large batches are split over ``jobs`` processes (each loads the same artifact once)
        self.jobs = max(1, jobs if jobs is not None else min(2, os.cpu_count() or 1))
        self._artifact_dir = artifact_dir
        self._gazetteer = gazetteer
        self._geocoder = geocoder
        self._pool: ProcessPoolExecutor | None = None
        self.language = LanguageDetectorOffline(english_vocab=meta.get("english_vocab", ()))
        self.locations = LocationExtractor(gazetteer, geocoder)

    @classmethod
    def load(cls, artifact_dir: Path | None = None, **kwargs: Any) -> CivicClassifier:
        d = Path(artifact_dir) if artifact_dir is not None else DEFAULT_ARTIFACT_DIR
        heads, meta = load_heads(d)
        return cls(heads, meta, artifact_hash=artifact_hash(d), artifact_dir=d, **kwargs)

    # -- parallel batches ----------------------------------------------------------------------
    def _parallel(self, n: int) -> bool:
        return self.jobs > 1 and n >= PARALLEL_MIN_BATCH and self._artifact_dir is not None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            args = (str(self._artifact_dir), self._gazetteer, self.review_threshold, self._geocoder)
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs - 1,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=args,
            )
            weakref.finalize(self, self._pool.shutdown, wait=True, cancel_futures=True)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return self._run(texts, None)

    def with_gazetteer(self, gazetteer: Gazetteer, geocoder: Any = None) -> GazetteerView:
        """A view of this classifier that finds places with another city's gazetteer: it shares
        the heads and the worker processes (nothing is loaded again); its location extraction
        runs in the calling process, so workers never need the gazetteer."""
        return GazetteerView(
            self, LocationExtractor(gazetteer, geocoder if geocoder is not None else self._geocoder)
        )

    def _run(self, texts: Sequence[str], extractor: LocationExtractor | None) -> list[Prediction]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not self._parallel(len(texts)):
            return self._predict(texts, extractor)
        pool = self._get_pool()
        size = -(-len(texts) // self.jobs)
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        futures = [pool.submit(_worker_predict, c, extractor is None) for c in chunks[1:]]
        out = self._predict(chunks[0], extractor)
        places = [extractor.extract(c) for c in chunks[1:]] if extractor is not None else []
        for j, f in enumerate(futures):
            preds = _unpack(f.result())
            if extractor is not None:
                preds = [
                    dataclasses.replace(p, locations=loc)
                    for p, loc in zip(preds, places[j], strict=True)
                ]
            out.extend(preds)
        return out

    # -- scoring -------------------------------------------------------------------------------
    def probabilities(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], list[Analysis]]:
        """Calibrated class probabilities per head (model only, before rules)."""
        X, analyses = self.featurizer.transform(texts)
        logits = np.asarray(X @ self._W) + self._b
        probs = {
            h: self.heads[h].proba_from_logits(
                logits[:, self._slices[h]], lexicon_matrix(analyses, h, self.heads[h].classes)
            )
            for h in self._order
        }
        return probs, analyses

    def urgency_decision(self, p: Sequence[float], an: Analysis) -> tuple[int, float, list[str]]:
        """Model probabilities + danger rules -> (class index, score, rules used)."""
        return urgency_decision(
            p, an.rules, self.heads["urgency"].classes, self.thresholds, an.life_safety, an.praise
        )

    def _urgency_batch(
        self, p: np.ndarray, analyses: Sequence[Analysis]
    ) -> list[tuple[int, float, list[str]]]:
        """``urgency_decision`` for every row.  A post without danger rules is decided on its
        probabilities alone, for all such posts at once: the same double-precision sums and
        comparisons as ``urgency_decision`` makes of the float32 probabilities."""
        classes = self.heads["urgency"].classes
        em, hi = classes.index("emergency"), classes.index("high")
        others = [i for i in range(len(classes)) if i not in (em, hi)]
        if not others:
            return [
                self.urgency_decision(row.tolist(), an) for row, an in zip(p, analyses, strict=True)
            ]
        q = p.astype(np.float64)
        q_em = q[:, em]
        q_urgent = q_em + q[:, hi]
        is_em = q_em >= self.thresholds["emergency"]
        is_hi = q_urgent >= self.thresholds["urgent"]
        rest = q[:, others]
        best = rest.argmax(axis=1)
        idx = np.where(is_em, em, np.where(is_hi, hi, np.asarray(others)[best]))
        score = np.where(is_em, q_em, np.where(is_hi, q_urgent, rest[np.arange(len(q)), best]))
        out: list[tuple[int, float, list[str]]] = [
            (j, sc, []) for j, sc in zip(idx.tolist(), score.tolist(), strict=True)
        ]
        for i, an in enumerate(analyses):
            if an.rules or an.life_safety or an.praise:
                out[i] = self.urgency_decision(p[i].tolist(), an)
        return out

    def _predict(
        self, texts: list[str], extractor: LocationExtractor | None = None, *, places: bool = True
    ) -> list[Prediction]:
        if not texts:
            return []
        with gc_paused():
            return self._predict_batch(texts, extractor, places)

    def _predict_batch(
        self, texts: list[str], extractor: LocationExtractor | None, places: bool
    ) -> list[Prediction]:
        probs, analyses = self.probabilities(texts)
        langs = self.language.detect(texts)
        locs = (extractor or self.locations).extract(texts) if places else [[] for _ in texts]
        topics = self.heads["topic"].classes
        sentiments = self.heads["sentiment"].classes
        yes = self.heads["relevance"].classes.index("yes")
        urg_classes = self.heads["urgency"].classes
        n = len(texts)
        p_rel = probs["relevance"][:, yes]
        p_rel_l = p_rel.tolist()
        rel_l = [relevance_decision(p, an) for p, an in zip(p_rel_l, analyses, strict=True)]
        relevant = np.array(rel_l, dtype=bool)
        t_idx = probs["topic"].argmax(axis=1)
        rows = np.arange(n)
        t_score = probs["topic"][rows, t_idx]
        trash = topics.index("trash") if "trash" in topics else -1
        litter: set[int] = set()
        bulk: set[int] = set()
        ruled = {i for i, an in enumerate(analyses) if an.life_safety or an.bulk}
        ruled.update(np.flatnonzero(t_idx == trash).tolist())
        for i in sorted(ruled):
            picked = topics[t_idx[i]]
            forced_topic = topic_override(analyses[i], picked)
            if forced_topic is None:
                continue
            j = topics.index(forced_topic)
            if {picked, forced_topic} == {"trash", "dumping"}:
                # the rule only chooses between the two: its confidence is the pair's
                t_score[i] = probs["topic"][i, j] + t_score[i]
                (litter if forced_topic == "dumping" else bulk).add(i)
            else:
                # the rule's confidence is what the model leaves to "none of the topics it chose":
                # overruling a model that was sure of a service topic stays below review
                t_score[i] = max(probs["topic"][i, j], 1.0 - t_score[i])
            t_idx[i] = j
        s_idx = probs["sentiment"].argmax(axis=1)
        t_idx_l, t_score_l = t_idx.tolist(), t_score.tolist()
        s_idx_l, s_score_l = s_idx.tolist(), probs["sentiment"][rows, s_idx].tolist()
        urg = self._urgency_batch(probs["urgency"], analyses)
        chosen = {
            "relevance": np.where(relevant, yes, 1 - yes),
            "topic": t_idx,
            "urgency": np.array([u[0] for u in urg], dtype=np.int64),
            "sentiment": s_idx,
        }
        evidence = self._evidence(analyses, chosen)
        review = self.review_threshold
        out: list[Prediction] = []
        for i, an in enumerate(analyses):
            pr = p_rel_l[i]
            is_rel = rel_l[i]
            ti, si = t_idx_l[i], s_idx_l[i]
            topic, topic_score = (topics[ti], t_score_l[i]) if is_rel else ("none", 1.0 - pr)
            u_idx, u_score, used_rules = urg[i]
            s_score = s_score_l[i]
            lang, lang_score, lang_rule = langs[i]
            ev = evidence[i]
            if is_rel:
                kw = [f"keyword:{p}" for t, p in an.keywords if t == topics[ti]]
                if i in litter:
                    kw.insert(0, "rule:no pickup, collector or bin named (litter, not trash)")
                elif i in bulk:
                    kw.insert(0, BULK_EVIDENCE)
                ev["topic"] = list(dict.fromkeys(kw[:2] + ev["topic"]))
                if an.life_safety and pr < 0.5:
                    ev["relevance"] = [LIFE_SAFETY_EVIDENCE, *ev["relevance"]]
            else:
                if an.praise:
                    ev["relevance"] = [PRAISE_EVIDENCE, *ev["relevance"]]
                ev["topic"] = list(ev["relevance"])
            if used_rules:
                fired = [
                    ("life-safety rule:" + r[12:]) if r.startswith("life_safety:") else "rule:" + r
                    for r in used_rules
                ]
                if used_rules[0].startswith("life_safety:"):
                    fired.insert(1, "emergency by life-safety rule (recall first)")
                ev["urgency"] = fired + [e for e in ev["urgency"] if e not in fired]
            if an.sentiment_hits:
                ev["sentiment"] = list(
                    dict.fromkeys(ev["sentiment"] + ["lexicon:" + h for h in an.sentiment_hits[:3]])
                )
            ev["language"] = [lang_rule]
            needs_review = [
                task
                for task, score in (
                    ("relevance", pr if is_rel else 1.0 - pr),
                    ("topic", topic_score),
                    ("urgency", u_score),
                    ("sentiment", s_score),
                    ("language", lang_score),
                )
                if score < review
            ]
            out.append(
                Prediction(
                    relevant=is_rel,
                    relevance_score=pr,
                    topic=topic,
                    topic_score=topic_score,
                    urgency=urg_classes[u_idx],
                    urgency_score=u_score,
                    sentiment=sentiments[si],
                    sentiment_score=s_score,
                    language=lang,
                    language_score=lang_score,
                    locations=locs[i],
                    evidence=ev,
                    needs_review=needs_review,
                )
            )
        return out

    def _evidence(
        self, analyses: Sequence[Analysis], chosen: dict[str, np.ndarray], k: int = 4
    ) -> list[dict[str, list[str]]]:
        """Per post and head: the readable tokens that pushed most towards the chosen class."""
        n = len(analyses)
        toks: list[str] = []
        lens = array("q")
        for an in analyses:
            ts = dict.fromkeys(an.tokens)
            toks.extend(ts)
            lens.append(len(ts))
        if not toks:
            return [{h: [] for h in HEADS} for _ in analyses]
        doc_a = np.repeat(np.arange(n, dtype=np.int64), np.frombuffer(lens, dtype=np.int64))
        idx_a, sign_a = self.featurizer.indices_of(toks)
        per_head = [self._top_tokens(h, toks, doc_a, idx_a, sign_a, chosen[h], n, k) for h in HEADS]
        return [dict(zip(HEADS, lists, strict=True)) for lists in zip(*per_head, strict=True)]

    def _top_tokens(
        self,
        head: str,
        toks: list[str],
        doc_a: np.ndarray,
        idx_a: np.ndarray,
        sign_a: np.ndarray,
        chosen: np.ndarray,
        n: int,
        k: int,
    ) -> list[list[str]]:
        """For one head, per post: the (readable) tokens with the largest positive weight towards
        the chosen class, at most ``k``, by falling weight, ties in token order."""
        c = self._centered[head][idx_a, chosen[doc_a]] * sign_a
        # only tokens that push towards the class count, so rank those alone
        pos = np.flatnonzero(c > 0)
        if not pos.size:
            return [[] for _ in range(n)]
        d = doc_a[pos]
        cp = c[pos]
        if cp.dtype == np.float32:
            # one stable sort by (post, falling weight): a positive float32's bits, read as an
            # integer, grow with its value, so the key orders exactly as the two-key sort would
            falling = 0x7FFFFFFF - cp.view(np.int32).astype(np.int64)
            sorter = np.argsort((d << 31) | falling, kind="stable")
        else:
            sorter = np.lexsort((-cp, d))
        order, d = pos[sorter], d[sorter]
        keep = (np.arange(len(order)) - np.searchsorted(d, d)) < k
        words = [
            t if t[0] != "_" else readable(t) for t in map(toks.__getitem__, order[keep].tolist())
        ]
        bounds = np.searchsorted(d[keep], np.arange(n + 1)).tolist()
        return [words[bounds[i] : bounds[i + 1]] for i in range(n)]


_WORKER: CivicClassifier | None = None


def _init_worker(
    artifact_dir: str, gazetteer: Gazetteer | None, review_threshold: float, geocoder: Any
) -> None:
    global _WORKER
    _WORKER = CivicClassifier.load(
        Path(artifact_dir),
        gazetteer=gazetteer,
        review_threshold=review_threshold,
        geocoder=geocoder,
        jobs=1,
    )


def _worker_predict(texts: list[str], places: bool = True) -> list[tuple[Any, ...]]:
    assert _WORKER is not None
    return _pack(_WORKER._predict(texts, places=places))


# Predictions cross the process boundary as plain tuples: pickling them as dataclasses costs about
# twice as much, and the calling process pays for it on top of its own half of the batch.
_PRED_FIELDS = tuple(f.name for f in dataclasses.fields(Prediction))
_LOCATIONS = _PRED_FIELDS.index("locations")
_LOC_FIELDS = tuple(f.name for f in dataclasses.fields(Location))


def _pack(preds: list[Prediction]) -> list[tuple[Any, ...]]:
    rows = []
    for p in preds:
        row = [getattr(p, name) for name in _PRED_FIELDS]
        row[_LOCATIONS] = [tuple([getattr(loc, f) for f in _LOC_FIELDS]) for loc in p.locations]
        rows.append(tuple(row))
    return rows


def _unpack(rows: list[tuple[Any, ...]]) -> list[Prediction]:
    out = []
    for row in rows:
        fields = list(row)
        fields[_LOCATIONS] = [Location(*loc) for loc in row[_LOCATIONS]]
        out.append(Prediction(*fields))
    return out


class GazetteerView:
    """:class:`CivicClassifier` with another city's gazetteer (see ``with_gazetteer``)."""

    def __init__(self, base: CivicClassifier, locations: LocationExtractor) -> None:
        self.base = base
        self.locations = locations
        self.name = base.name
        self.version = base.version
        self.artifact_hash = base.artifact_hash

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return self.base._run(texts, self.locations)


def lexicon_matrix(
    analyses: Sequence[Analysis], head: str, classes: Sequence[str]
) -> np.ndarray | None:
    """Per post and class, how many hand-written lexicon entries point at the class (capped at 2):
    topic keywords for the topic head (any of them for relevance), danger-rule levels for urgency."""
    if head not in ("topic", "urgency", "relevance"):
        return None
    col = {c: j for j, c in enumerate(classes)}
    K = np.zeros((len(analyses), len(classes)), dtype=np.float32)
    if head == "relevance":  # any service keyword is evidence of a service request
        # (a word that names two topics, "garbage", is one piece of evidence)
        K[:, col["yes"]] = [min(2, len({p for _, p in an.keywords})) for an in analyses]
        return K
    topic = head == "topic"
    for i, an in enumerate(analyses):
        hits = [t for t, _ in an.keywords] if topic else [RULE_LEVEL[r] for r in an.rules]
        if not hits:
            continue
        counts: dict[int, int] = {}  # counted here: a numpy element costs more to read and write
        for c in hits:
            j = col.get(c)
            if j is not None:
                counts[j] = min(2, counts.get(j, 0) + 1)
        for j, v in counts.items():
            K[i, j] = v
    return K


# relevance: a topic keyword makes a post relevant when the model is unsure (``REL_KW_FLOOR``), or
# barely leaning either way when the post also names a street or address (``REL_KW_PLACE_FLOOR``)
REL_KW_FLOOR = 0.2
REL_KW_PLACE_FLOOR = 0.05
# why items the model took for dumping are trash: they were put out for the bulk collection
BULK_EVIDENCE = "rule:put out for the bulk collection, not dumped (trash)"
# why a post that names a service is no request: it only thanks for a job done
PRAISE_EVIDENCE = "rule:thanks for a job done, nothing more asked (praise)"
LIFE_SAFETY_EVIDENCE = "rule:a person in danger now (life-safety) asks for help"


def relevance_decision(p_rel: float, an: Analysis) -> bool:
    """Relevant when the model says so, when a topic keyword fires and the model is unsure, or
    when a life-safety rule fired (a resident telling of a fire, a gas smell or a person hurt now
    is asking the city for help, whatever the words); never for thanks for a job done that asks
    for nothing more (``Analysis.praise``) unless a life-safety rule fired."""
    if an.life_safety:
        return True
    if an.praise:
        return False
    if p_rel >= 0.5:
        return True
    if an.keywords:
        if p_rel >= REL_KW_FLOOR:
            return True
        if p_rel >= REL_KW_PLACE_FLOOR and ("_addr" in an.tokens or "_street" in an.tokens):
            return True
    return False


def topic_override(an: Analysis, chosen: str = "") -> str | None:
    """The topic a rule puts in place of the model's ``chosen`` one, or None.

    * A life-safety post that names no service topic (a gas leak, a fire) is ``other_service``
      rather than whichever service topic its words lean to.
    * ``trash`` is the collection service (TAXONOMY.md: pickup, public bins, bulk items): a post
      the model puts there that names nothing of it ("garbage thrown on the road": no trash
      keyword, see ``features.split_shared``) but names litter or dumping is ``dumping``.  The
      trained model learns "garbage" from cities that file all of it under one category.
    * Items the model puts under ``dumping`` that were put out for the bulk collection ("need a
      bulk pickup for an old couch", ``Analysis.bulk``) are ``trash``, which TAXONOMY.md gives
      bulk items: the cities of the shared data file every couch on a curb as dumping."""
    if an.life_safety and not an.keywords:
        return "other_service"
    if chosen == "dumping" and an.bulk:
        return "trash"
    if (
        chosen == "trash"
        and any(t == "dumping" for t, _ in an.keywords)
        and not any(t == "trash" for t, _ in an.keywords)
    ):
        return "dumping"
    return None


def urgency_decision(
    p: Sequence[float] | np.ndarray,
    rules: Sequence[str],
    classes: Sequence[str],
    thresholds: dict[str, float],
    life_safety: Sequence[str] = (),
    praise: bool = False,
) -> tuple[int, float, list[str]]:
    """Emergency first: a life-safety rule makes the post an emergency outright; another danger rule
    lifts the model's emergency probability unless the model is sure there is no urgency at all
    (and then too when an ``AID_PLEA_RULES`` plea fired with it);
    then emergency and high are decided on their own thresholds, and a rule of
    ``HIGH_FLOOR_RULES`` (a plea for food, water or shelter, a person put at risk by a hazard)
    keeps the post at least high.
    Thanks for a job done that asks for nothing more (``praise``) is low, unless a life-safety
    rule fired."""
    em, hi = classes.index("emergency"), classes.index("high")
    q = p.tolist() if isinstance(p, np.ndarray) else [float(x) for x in p]
    if life_safety:
        fired = [r for r in rules if r in _EMERGENCY_RULE_NAMES]
        return (
            em,
            max(0.8, min(0.99, q[em] + 0.5)),
            ["life_safety:" + r for r in life_safety] + fired,
        )
    if praise and "low" in classes:
        # thanks for a job done asks for nothing (TAXONOMY.md: praise is low); the model's own
        # share for low is the score, below review when it saw urgency
        low = classes.index("low")
        return low, q[low], ["praise"]
    fired_em = [r for r in rules if r in _EMERGENCY_RULE_NAMES]
    floor = [r for r in rules if r in HIGH_FLOOR_RULES]
    used: list[str] = []
    # a plea for food, water or shelter has already overruled a model sure of no urgency, so a
    # danger rule beside it ("we are dying of hunger") lifts the post whatever the model said
    plea = not AID_PLEA_RULES.isdisjoint(rules)
    if fired_em and (plea or q[em] + q[hi] >= thresholds["emergency_rule"]):
        used = fired_em
        q[em] = max(q[em], 0.5 + 0.1 * len(fired_em))
        total = sum(q)
        q = [x / total for x in q]
    if q[em] >= thresholds["emergency"]:
        return em, q[em], used
    if q[em] + q[hi] >= thresholds["urgent"]:
        return hi, q[em] + q[hi], used
    if floor:
        # the model's own urgent mass is the score: below review when it disagreed
        return hi, q[em] + q[hi], used + floor
    j = max((i for i in range(len(classes)) if i not in (em, hi)), key=lambda i: q[i])
    return j, q[j], used


# rules that make a post at least ``high`` whatever the model says: a person asking for food,
# water, shelter or a doctor, or saying they have none (held out, the disaster-response messages
# went 0.350 -> 0.410 high-or-emergency recall at precision 0.246 -> 0.275; the CrisisLex event
# families and TREC-IS did not change). Broader floors (every high-level rule, or the 911 and
# "please help" cues) cost precision on CrisisLex or would lift ordinary complaints.
#
# A hazard that puts people at risk (``person_at_risk``: "it could fall on someone waiting",
# "storm drain grate missing", "signal stuck on red") is high too: the model, taught by 311 forms
# that are all "normal", reads such reports as ordinary ones.
AID_PLEA_RULES: frozenset[str] = frozenset(["aid_request"])
HIGH_FLOOR_RULES: frozenset[str] = AID_PLEA_RULES | {"person_at_risk"}

# "urgent" (high-or-emergency) was chosen on the leave-one-source-out crisis folds: recall first
DEFAULT_THRESHOLDS: dict[str, float] = {"emergency": 0.35, "urgent": 0.15, "emergency_rule": 0.05}


def _emergency_rule_names() -> frozenset[str]:
    return frozenset(r.name for r in EMERGENCY_RULES)


_EMERGENCY_RULE_NAMES = _emergency_rule_names()
