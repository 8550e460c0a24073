"""Print the held-out metrics of a trained artifact as the Markdown tables of classifiers/README.md.

.venv/bin/python scripts/metrics-table.py [classifiers/artifacts/metrics.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "classifiers" / "artifacts" / "metrics.json"


def _pair(rep: dict, a: str, b: str) -> str:
    return f"{rep[a]:.3f} / {rep[b]:.3f}" if a in rep and b in rep else "-"


def main(path: Path) -> None:
    m = json.loads(path.read_text(encoding="utf-8"))
    rows = sum(m["data"]["rows_per_source"].values())
    print(
        f"From `artifacts/metrics.json` (protocol `{m['evaluation_protocol']}`, seed "
        f"{m['data']['seed']}, {rows:,} rows). Each row: trained without the held-out unit, "
        "tested on all of it. The last column is the naive reference (`baseline.py`: TF-IDF + "
        "logistic regression on the same fold's shared-data rows, no relevance gate).\n"
    )
    print("| task | held out | n | metric | value | naive TF-IDF |")
    print("| --- | --- | --- | --- | --- | --- |")
    loso = m["leave_one_source_out"]
    for name, r in loso.get("topic", {}).items():
        b = r.get("naive_tfidf") or {}
        print(
            f"| topic | {name} | {r['n']} | macro-F1 (relevance gate included) / accuracy | "
            f"{r['macro_f1']:.3f} / {r['accuracy']:.3f} | {_pair(b, 'macro_f1', 'accuracy')} |"
        )
    for name, r in loso.get("sentiment", {}).items():
        b = r.get("naive_tfidf") or {}
        print(
            f"| sentiment | {name} | {r['n']} | macro-recall / macro-F1 | "
            f"{r['macro_recall']:.3f} / {r['macro_f1']:.3f} | "
            f"{_pair(b, 'macro_recall', 'macro_f1')} |"
        )
    for name, r in loso.get("urgency", {}).items():
        for key, label in (("emergency", "emergency"), ("high_or_emergency", "high-or-emergency")):
            e = r[key]
            b = (r.get("naive_tfidf") or {}).get(key, {})
            print(
                f"| urgency | {name} | {r['n']} | {label} R / P (support {e['support']}) | "
                f"{e['recall']:.3f} / {e['precision']:.3f} | {_pair(b, 'recall', 'precision')} |"
            )
    print("\nHeadline (means over the held-out units; topic over San Rafael, Mumbai and NYC):\n")
    naive = m.get("naive_tfidf_headline") or {}
    print("| metric | value | naive TF-IDF |")
    print("| --- | --- | --- |")
    for k, v in m["headline"].items():
        nv = f"{naive[k]:.3f}" if k in naive else "-"
        print(f"| {k} | {v:.3f} | {nv} |")
    rs = m.get("random_split_10pct", {})
    parts = [f"{h} macro-F1 {r['macro_f1']:.3f}" for h, r in rs.items() if "macro_f1" in r]
    if parts:
        print(
            "\nFor comparison, a random 10 % split of the same sources (in-distribution, "
            "optimistic): " + ", ".join(parts) + "."
        )
    ic = m.get("in_city_sanrafael_20pct") or {}
    if ic:
        b = ic.get("naive_tfidf") or {}
        print(
            f"San Rafael seen in training (random 20 % of its reports held out, n={ic['n']}): "
            f"topic macro-F1 {ic['macro_f1']:.3f}, accuracy {ic['accuracy']:.3f} "
            f"(naive TF-IDF {_pair(b, 'macro_f1', 'accuracy')})."
        )
    tj = m.get("taxonomy_judged") or {}
    if tj:
        print(
            "\nTopic against a blind judgement by TAXONOMY.md (`judged/topics.jsonl`; accuracy / "
            "macro-F1; the last column scores the dataset's own labels against the same "
            "judgement):\n"
        )
        print("| unit | n (sure) | model | model, sure rows | naive TF-IDF | dataset labels |")
        print("| --- | --- | --- | --- | --- | --- |")

        def fmt(v: list[float] | None) -> str:
            return f"{v[0]:.3f} / {v[1]:.3f}" if v else "-"

        for unit, r in tj.items():
            print(
                f"| {unit} | {r['n']} ({r['n_sure']}) | {fmt(r['model'])} | "
                f"{fmt(r['model_sure'])} | {fmt(r.get('naive_tfidf'))} | "
                f"{fmt(r.get('city_labels'))} |"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
