"""Print the held-out metrics of a trained artifact as the Markdown tables of classifiers/README.md.

.venv/bin/python scripts/metrics-table.py [classifiers/artifacts/metrics.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "classifiers" / "artifacts" / "metrics.json"


def main(path: Path) -> None:
    m = json.loads(path.read_text(encoding="utf-8"))
    rows = sum(m["data"]["rows_per_source"].values())
    print(
        f"From `artifacts/metrics.json` (protocol `{m['evaluation_protocol']}`, seed "
        f"{m['data']['seed']}, {rows:,} rows). Each row: trained without the held-out unit, "
        "tested on all of it.\n"
    )
    print("| task | held out | n | metric | value |")
    print("| --- | --- | --- | --- | --- |")
    loso = m["leave_one_source_out"]
    for name, r in loso.get("topic", {}).items():
        print(
            f"| topic | {name} | {r['n']} | macro-F1 (relevance gate included) / accuracy | "
            f"{r['macro_f1']:.3f} / {r['accuracy']:.3f} |"
        )
    for name, r in loso.get("sentiment", {}).items():
        print(
            f"| sentiment | {name} | {r['n']} | macro-recall / macro-F1 | "
            f"{r['macro_recall']:.3f} / {r['macro_f1']:.3f} |"
        )
    for name, r in loso.get("urgency", {}).items():
        for key, label in (("emergency", "emergency"), ("high_or_emergency", "high-or-emergency")):
            e = r[key]
            print(
                f"| urgency | {name} | {r['n']} | {label} R / P (support {e['support']}) | "
                f"{e['recall']:.3f} / {e['precision']:.3f} |"
            )
    print("\nHeadline (means over the held-out units; topic over San Rafael, Mumbai and NYC):\n")
    print("| metric | value |")
    print("| --- | --- |")
    for k, v in m["headline"].items():
        print(f"| {k} | {v:.3f} |")
    rs = m.get("random_split_10pct", {})
    parts = [f"{h} macro-F1 {r['macro_f1']:.3f}" for h, r in rs.items() if "macro_f1" in r]
    if parts:
        print(
            "\nFor comparison, a random 10 % split of the same sources (in-distribution, "
            "optimistic): " + ", ".join(parts) + "."
        )
    ic = m.get("in_city_sanrafael_20pct") or {}
    if ic:
        print(
            f"San Rafael seen in training (random 20 % of its reports held out, n={ic['n']}): "
            f"topic macro-F1 {ic['macro_f1']:.3f}, accuracy {ic['accuracy']:.3f}."
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
