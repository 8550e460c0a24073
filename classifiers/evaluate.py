"""Evaluate: metrics per task and per class, and the comparison that guards against regressions.

Headline numbers are measured on whole held-out sources (leave-one-source-out), because the model
is judged on other cities' text: a random split of the same sources flatters it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Topic labels given blind against TAXONOMY.md to a sample of shared-data rows: each text was read
# alone, without the dataset's label or any model's output. Rows are named by a hash of their
# normalised text (``judged_key``), so no text of the shared data is kept here.
JUDGED_PATH = Path(__file__).resolve().parent / "judged" / "topics.jsonl"


def per_class(
    gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]
) -> dict[str, dict[str, float]]:
    g = np.asarray(gold, dtype=object)
    p = np.asarray(pred, dtype=object)
    out: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = int(np.sum((g == c) & (p == c)))
        fp = int(np.sum((g != c) & (p == c)))
        fn = int(np.sum((g == c) & (p != c)))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[c] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    return out


def classification_report(
    gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """Macro-F1 and macro-recall over the classes present in the gold labels, plus accuracy."""
    pc = per_class(gold, pred, classes)
    present = [c for c in classes if pc[c]["support"] > 0]
    macro_f1 = float(np.mean([pc[c]["f1"] for c in present])) if present else 0.0
    macro_recall = float(np.mean([pc[c]["recall"] for c in present])) if present else 0.0
    acc = (
        float(np.mean(np.asarray(gold, dtype=object) == np.asarray(pred, dtype=object)))
        if len(gold)
        else 0.0
    )
    return {
        "n": len(gold),
        "accuracy": round(acc, 4),
        "macro_f1": round(macro_f1, 4),
        "macro_recall": round(macro_recall, 4),
        "per_class": {c: pc[c] for c in present},
    }


def judged_key(text_key: str) -> str:
    """The name of a row in the judged sample: a hash of its normalised text."""
    return hashlib.sha256(text_key.encode("utf-8")).hexdigest()[:16]


def load_judged(path: Path = JUDGED_PATH) -> dict[str, tuple[str, bool]]:
    """``{key: (topic, sure)}`` from a JSONL file of ``{"source", "key", "topic", "sure"}``."""
    if not path.exists():
        return {}
    out: dict[str, tuple[str, bool]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        if not isinstance(d, dict) or not {"key", "topic"} <= d.keys():
            raise ValueError(f"{path}:{n}: each line needs a key and a topic")
        out[str(d["key"])] = (str(d["topic"]), bool(d.get("sure", True)))
    return out


def judged_report(
    judged: Sequence[tuple[str, bool]],
    pred: Sequence[str],
    city: Sequence[str] | None,
    classes: Sequence[str],
    min_rows: int = 20,
) -> dict[str, Any] | None:
    """Predictions scored against the blind TAXONOMY.md judgement (all rows, and the rows the
    judgement was sure of), and the dataset's own labels (``city``) scored the same way: where the
    city's filing conventions and the taxonomy part, they show by how much."""
    if len(judged) < min_rows:
        return None
    gold = [t for t, _ in judged]
    sure = [i for i, (_, s) in enumerate(judged) if s]

    def score(p: Sequence[str], idx: Sequence[int] | None = None) -> dict[str, Any]:
        g = gold if idx is None else [gold[i] for i in idx]
        q = list(p) if idx is None else [p[i] for i in idx]
        rep = classification_report(g, q, classes)
        return {k: rep[k] for k in ("n", "accuracy", "macro_f1")}

    out = {"model": score(pred), "model_sure": score(pred, sure)}
    if city is not None:
        out["city_labels"] = score(city)
        out["city_labels_sure"] = score(city, sure)
    return out


def binary_pr(gold: Sequence[bool], pred: Sequence[bool]) -> dict[str, float]:
    g = np.asarray(gold, dtype=bool)
    p = np.asarray(pred, dtype=bool)
    tp = int(np.sum(g & p))
    prec = tp / int(p.sum()) if p.sum() else 0.0
    rec = tp / int(g.sum()) if g.sum() else 0.0
    return {
        "precision": round(prec, 4),
        "recall": round(rec, 4),
        "support": int(g.sum()),
        "predicted": int(p.sum()),
    }


def urgency_report(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    rep = classification_report(gold, pred, ("emergency", "high", "normal", "low"))
    rep["emergency"] = binary_pr([g == "emergency" for g in gold], [p == "emergency" for p in pred])
    urgent = ("emergency", "high")
    rep["high_or_emergency"] = binary_pr([g in urgent for g in gold], [p in urgent for p in pred])
    return rep


# Metrics whose drop blocks an artifact from being replaced (path into the metrics JSON).
GUARDED: tuple[tuple[str, ...], ...] = (
    ("headline", "topic_macro_f1"),
    ("headline", "sentiment_macro_recall"),
    ("headline", "emergency_recall"),
    ("headline", "high_or_emergency_recall"),
    ("headline", "high_or_emergency_precision"),
    # reading by TAXONOMY.md itself, where a city's labels follow its own conventions
    ("leave_one_source_out", "topic", "sanrafael", "taxonomy_judged", "model", "accuracy"),
)


def _get(d: dict[str, Any], path: tuple[str, ...]) -> float | None:
    cur: Any = d
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return float(cur) if isinstance(cur, int | float) else None


def regressions(old: dict[str, Any], new: dict[str, Any], tolerance: float = 0.01) -> list[str]:
    """Guarded metrics that fell by more than ``tolerance`` (only when measured the same way)."""
    if old.get("evaluation_protocol") != new.get("evaluation_protocol"):
        return []
    out = []
    for path in GUARDED:
        a, b = _get(old, path), _get(new, path)
        if a is not None and b is not None and b < a - tolerance:
            out.append(f"{'.'.join(path)}: {a:.4f} -> {b:.4f}")
    return out
