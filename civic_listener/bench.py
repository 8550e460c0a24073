"""``civic-listener bench``: throughput and memory figures, one benchmark per subprocess so
each reports its own peak memory.

Benchmarks live beside the code they measure and are named here as ``module:function``; each
function returns a dict of figures.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from civic_listener.settings import DEMO_CORPUS

BENCHMARKS: dict[str, str] = {
    "replay": "civic_listener.bench:bench_replay",
    "classify": "civic_listener.bench:bench_classify",
    "prefilter": "listener.bench:bench_prefilter",
    "console": "models.bench:bench_console",
}


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def demo_texts() -> list[dict[str, Any]]:
    rows = []
    with DEMO_CORPUS.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                rows.append(obj)
    return rows


def synthetic_posts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` distinct posts made by varying the demo corpus (ids, numbers, times)."""
    rng = random.Random(seed)
    base = demo_texts()
    out = []
    for i in range(n):
        src = base[i % len(base)]
        text = src["text"]
        if i >= len(base):
            text = f"{text} #{rng.randint(1, 999)}"
        out.append(
            {
                "platform": src.get("platform", "x"),
                "external_id": f"b{i}",
                "author": f"resident{rng.randint(1, 50_000)}",
                "text": text,
                "created_at": f"2026-11-{14 + i % 14:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "lat": src.get("lat"),
                "lon": src.get("lon"),
            }
        )
    return out


def bench_replay(posts: int = 50_000) -> dict[str, Any]:
    """JSON Lines -> stored and classified rows, SQLite, one process."""
    from civic_listener.service import run_once
    from civic_listener.settings import load_settings
    from civic_listener.wiring import build_services

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in synthetic_posts(posts):
                fh.write(json.dumps(row) + "\n")
        settings = load_settings(
            database_url=f"sqlite:///{tmp}/bench.db", replay_file=path, batch_size=2000
        )
        services = build_services(settings)
        services.classifier  # load before timing  # noqa: B018
        started = time.perf_counter()
        report = run_once(services)
        elapsed = time.perf_counter() - started
        services.close()
    stored = report.stats.stored
    return {
        "posts": posts,
        "stored": stored,
        "classified": report.stats.classified,
        "seconds": round(elapsed, 2),
        "posts_per_s": round(stored / elapsed),
    }


def bench_classify(posts: int = 50_000) -> dict[str, Any]:
    """All labels together, batches of 1,000, no database."""
    from classifiers import load_classifier

    started = time.perf_counter()
    clf = load_classifier()
    load_s = time.perf_counter() - started
    texts = [p["text"] for p in synthetic_posts(posts)]
    started = time.perf_counter()
    for i in range(0, len(texts), 1000):
        clf.predict(texts[i : i + 1000])
    elapsed = time.perf_counter() - started
    return {
        "posts": posts,
        "load_seconds": round(load_s, 2),
        "seconds": round(elapsed, 2),
        "posts_per_s": round(posts / elapsed),
    }


def run_one(name: str, posts: int) -> dict[str, Any]:
    module, func = BENCHMARKS[name].split(":")
    fn = getattr(importlib.import_module(module), func)
    figures = dict(fn(posts) if name in ("replay", "classify") else fn())
    figures["peak_memory_mb"] = _peak_rss_mb()
    return figures


def run_benchmarks(*, posts: int = 50_000, only: list[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in only or list(BENCHMARKS):
        if name not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
        module = BENCHMARKS[name].split(":")[0]
        if importlib.util.find_spec(module) is None:
            results[name] = {"skipped": f"{module} is not available"}
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "civic_listener.bench", name, str(posts)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            results[name] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    print(json.dumps(run_one(sys.argv[1], int(sys.argv[2]))))
