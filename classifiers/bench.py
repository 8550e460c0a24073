"""Classify throughput and peak memory: ``python -m classifiers.bench [--n 20000] [--batch 1000]
[--jobs N]``.

Posts are drawn from the shared data when it is there (tweets, 311 reports, crisis tweets mixed),
otherwise from a built-in sample; every post gets every label.  Prints one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import time
from pathlib import Path

from classifiers.training import DEFAULT_DATA_DIR

_SAMPLE = [
    "Huge pothole on Main St near the school, my tire blew out",
    "Street light out at the corner of Tremont and Boylston for a week",
    "I smell gas in the hallway of my building",
    "Loud music next door every night until 3am #cantsleep",
    "Best concert ever!!! 😍😍",
    "Hay un bache enorme en la calle frente a mi casa",
    "@CityHall thanks for nothing, still waiting on my trash pickup 🙄",
    "Tree down blocking both lanes on Centre St / Green St",
    "rats all over the alley behind the restaurant",
    "Praying for everyone affected by the flood",
]


def load_posts(data_dir: Path, n: int, seed: int = 0) -> list[str]:
    files = [
        (data_dir / "sentiment_tweets" / "semeval2013_2016_task4A_train.csv", "text"),
        (data_dir / "sanrafael_311_seeclickfix" / "sanrafael_311_2022_2026.csv", "description"),
        (data_dir / "crisislex_t26" / "crisislex_t26_labeled.csv", "tweet_text"),
        (data_dir / "mumbai_civic_tweets" / "mumbai_civic_tweets_train.csv", "tweet"),
    ]
    pool: list[str] = []
    for path, column in files:
        if path.exists():
            with path.open(encoding="utf-8", errors="replace", newline="") as fh:
                pool.extend(row.get(column) or "" for row in csv.DictReader(fh))
    if not pool:
        pool = list(_SAMPLE)
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(n)]


def _tree_rss() -> int:
    import psutil

    me = psutil.Process()
    return me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifiers.bench")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--jobs", type=int, default=None, help="processes (default: up to 2; 1 = this one only)"
    )
    args = parser.parse_args(argv)
    from classifiers import load_classifier

    t0 = time.perf_counter()
    clf = load_classifier(jobs=args.jobs)
    load_s = time.perf_counter() - t0
    posts = load_posts(args.data, args.n)
    clf.predict(posts[: args.batch])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(posts), args.batch):
        clf.predict(posts[i : i + args.batch])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        json.dumps(
            {
                "posts": len(posts),
                "batch": args.batch,
                "posts_per_s": round(len(posts) / wall),
                "posts_per_cpu_s": round(len(posts) / cpu),
                "load_s": round(load_s, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "rss_with_workers_mb": round(_tree_rss() / 2**20),
                "jobs": clf.jobs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
