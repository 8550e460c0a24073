"""Evaluate: metrics per task and per class, and the comparison that guards against regressions.

Headline numbers are measured on whole held-out sources (leave-one-source-out), because the model
is judged on other cities' text: a random split of the same sources flatters it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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
