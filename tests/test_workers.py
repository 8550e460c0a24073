"""Several workers on one database: ``civic-listener run --once`` processes started together,
sharing a replay, a fake Open311 server (automatic filing) and a fake Mastodon (replies the
auto-send rule approved), on PostgreSQL and on one SQLite file. Whatever the interleaving,
every post is stored and labelled once, every case filed once and every reply sent once:
checked on the database and on what the fakes recorded.

The workers use the keyword test classifier (a launcher swaps the factory before the CLI
runs), so the labels, and hence the expected cases and replies, are known in advance.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civic_listener.settings import load_settings
from civic_listener.wiring import build_services
from models.db import make_engine
from models.store import CLASSIFICATION, POST
from models.tables import Reply, ServiceRequest
from tests.fakes.classifier import KeywordClassifier
from tests.fakes.open311 import FakeOpen311
from tests.fakes.platform_writes import FakeMastodon
from tests.helpers import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
KEY = "k-workers-5e1d"
N = 400
WORKERS = 3
LAUNCH = (
    "import civic_listener.wiring as w; "
    "from tests.fakes.classifier import KeywordClassifier; "
    "w.default_classifier_factory = lambda settings: KeywordClassifier; "
    "from civic_listener.cli import main; "
    "raise SystemExit(main(['run', '--once']))"
)
CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
REPLY = Reply.__table__  # type: ignore[attr-defined]
TOPICS = {0: "pothole on {st}", 1: "trash not picked up on {st}", 2: "street light out on {st}"}


def _rows(n: int) -> list[dict[str, Any]]:
    """Mastodon posts on a grid ~400 m apart (no two are duplicates by place), a quarter
    chatter, and every 25th complaint repeated at the same spot (linked, not filed)."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        lat, lon = 42.25 + (i // 20) * 0.004, -71.15 + (i % 20) * 0.005
        kind = i % 4
        text = TOPICS[kind].format(st=f"Street {i}") if kind in TOPICS else f"go celtics {i}"
        rows.append(_row(len(rows), text, lat, lon))
        if kind in TOPICS and i % 25 == 0:
            rows.append(_row(len(rows), f"same: {text}", lat, lon))
    return rows


def _row(k: int, text: str, lat: float, lon: float) -> dict[str, Any]:
    sid = str(113_400_000_000_000_000 + k)
    return {
        "platform": "mastodon",
        "external_id": sid,
        "author": f"resident{k}@town.example",
        "text": text,
        "created_at": f"2026-11-20T10:{k // 60 % 60:02d}:{k % 60:02d}Z",
        "url": f"https://town.example/@resident{k}/{sid}",
        "lat": lat,
        "lon": lon,
    }


@pytest.fixture
def open311() -> Iterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


def _env(db_url: str, replay: Path, open311: FakeOpen311, mastodon: FakeMastodon) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CIVIC_DATABASE_URL=db_url,
        CIVIC_REPLAY_FILE=str(replay),
        CIVIC_BATCH_SIZE="40",
        CIVIC_HEALTH_PORT="0",
        CIVIC_LOG_LEVEL="WARNING",
        CIVIC_OPEN311_URL=open311.url,
        CIVIC_OPEN311_API_KEY=KEY,
        CIVIC_CASES_AUTO_FILE="true",
        CIVIC_DRY_RUN="false",
        CIVIC_MASTODON_API_BASE_URL=mastodon.base_url,
        CIVIC_MASTODON_ACCESS_TOKEN=FakeMastodon.TOKEN,
        CIVIC_REPLY_AUTO_SEND_TOPICS=json.dumps(["pothole", "trash", "streetlight"]),
    )
    return env


def _round(env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """``WORKERS`` processes started together; waits for all; returns their reports."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LAUNCH],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    done = [proc.communicate(timeout=120) for proc in procs]  # every one, before judging
    reports = []
    for proc, (out, err) in zip(procs, done, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _left(engine: sa.Engine) -> dict[str, int]:
    """Work still due: unlabelled posts, cases waiting to be filed, replies waiting to go."""
    with engine.connect() as conn:
        return {
            "unlabelled": conn.execute(
                sa.select(sa.func.count()).where(POST.c.classified_at.is_(None))
            ).scalar_one(),
            "cases": conn.execute(
                sa.select(sa.func.count()).where(CASES.c.status.in_(("queued", "filing")))
            ).scalar_one(),
            "replies": conn.execute(
                sa.select(sa.func.count()).where(REPLY.c.state.in_(("approved", "sending")))
            ).scalar_one(),
        }


def _run_workers(db_url: str, tmp_path: Path, open311: FakeOpen311, mastodon: FakeMastodon) -> None:
    rows = _rows(N)
    replay = write_jsonl(tmp_path / "shared.jsonl", rows)
    env = _env(db_url, replay, open311, mastodon)
    started = time.monotonic()
    first = _round(env, tmp_path)
    # the replay is read by exactly one worker (its lease); the others found it taken
    assert sorted(r["stats"]["received"] for r in first) == [0] * (WORKERS - 1) + [len(rows)]
    engine = make_engine(db_url)
    try:
        rounds = 1
        while any(_left(engine).values()):  # each pass files or sends at most 100 per city
            assert rounds < 6, f"work left after {rounds} rounds: {_left(engine)}"
            _round(env, tmp_path)
            rounds += 1
        _check(engine, rows, open311, mastodon)
    finally:
        engine.dispose()
    assert time.monotonic() - started < 90


def _check(
    engine: sa.Engine, rows: list[dict[str, Any]], open311: FakeOpen311, mastodon: FakeMastodon
) -> None:
    n = len(rows)
    with engine.connect() as conn:
        # every post stored once and labelled once
        assert conn.execute(sa.select(sa.func.count()).select_from(POST)).scalar_one() == n
        assert (
            conn.execute(sa.select(sa.func.count(sa.distinct(POST.c.external_id)))).scalar_one()
            == n
        )
        topics = Counter(
            conn.execute(
                sa.select(CLASSIFICATION.c.post_id).where(CLASSIFICATION.c.task == "topic")
            ).scalars()
        )
        assert len(topics) == n and set(topics.values()) == {1}, "a post was labelled twice"
        cases = conn.execute(
            sa.select(CASES.c.id, CASES.c.status, CASES.c.open311_id, CASES.c.idempotency_key)
        ).all()
        replies = conn.execute(
            sa.select(
                REPLY.c.post_id,
                REPLY.c.kind,
                REPLY.c.state,
                REPLY.c.idempotency_key,
                REPLY.c.platform_reply_id,
            )
        ).all()
        external = dict(conn.execute(sa.select(POST.c.id, POST.c.external_id)).all())
    complaints = sum(1 for r in rows if not r["text"].startswith("go celtics"))
    repeats = sum(1 for r in rows if r["text"].startswith("same: "))

    # every case filed exactly once: one POST to the fake per case (a case whose twin was
    # filed a moment earlier by another worker is linked to that request instead)
    tracked = [c for c in cases if c.open311_id is not None]
    assert len(tracked) == len(cases) >= complaints - repeats
    posts = open311.posts()
    sent_keys = Counter(
        m.group(0)
        for p in posts
        for m in [re.search(r"cl-[0-9a-f]{20}", p.field("description") or "")]
        if m
    )
    assert len(posts) == len(open311.requests) == len(sent_keys)
    assert set(sent_keys.values()) == {1}, "a case was filed twice"
    filed = {c.open311_id for c in tracked if c.idempotency_key in sent_keys}
    assert len(filed) == len(sent_keys) == len(open311.requests)
    assert {c.open311_id for c in tracked} == filed

    # every approved reply sent exactly once, each to its own post
    initial = [r for r in replies if r.kind == "reply"]
    assert len(initial) == complaints
    assert len({r.post_id for r in initial}) == complaints, "a post got two replies"
    sent = [r for r in initial if r.state == "sent"]
    # the auto-send rule approves drafts made after labelling; when a repeat is linked to
    # a case in the same batch, the "linked" event drafts both posts' replies first, and
    # those wait for a person
    drafts = {external[r.post_id] for r in initial if r.state == "draft"}
    assert len(sent) + len(drafts) == len(initial)
    spots = {(r["lat"], r["lon"]) for r in rows if r["text"].startswith("same: ")}
    assert drafts <= {r["external_id"] for r in rows if (r["lat"], r["lon"]) in spots}
    statuses = mastodon.statuses
    assert len(statuses) == len(sent), "a reply was sent twice"
    assert Counter(s["in_reply_to_id"] for s in statuses) == Counter(
        external[r.post_id] for r in sent
    )
    assert {s["id"] for s in statuses} == {r.platform_reply_id for r in sent}
    creates = mastodon.calls("POST", "/api/v1/statuses")
    assert len(creates) == len(statuses)
    assert len({c.headers["idempotency-key"] for c in creates}) == len(creates)


@pytest.mark.postgres
def test_workers_share_the_work_on_postgresql(
    pg_url: str, tmp_path: Path, open311: FakeOpen311, mastodon: FakeMastodon
) -> None:
    _run_workers(pg_url, tmp_path, open311, mastodon)


def test_workers_share_the_work_on_one_sqlite_file(
    tmp_path: Path, open311: FakeOpen311, mastodon: FakeMastodon
) -> None:
    _run_workers(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path, open311, mastodon)


# --------------------------------------------------------------------------- claims, in-process


def _claims_race(db_url: str) -> None:
    """Three threads claim due cases and replies in small batches as fast as they can: the
    claims are disjoint and together cover every row once."""
    from datetime import UTC, datetime

    from responders.open311 import cases_of
    from responders.replies import desk_for
    from responders.replies.outbox import claim_due

    services = build_services(
        load_settings(database_url=db_url, replay_file=None, cases_auto_file=True),
        classifier=KeywordClassifier(),
        with_sources=False,
    )
    try:
        city = services.cities.default.id
        now = datetime.now(UTC)
        n = 150
        with services.engine.begin() as conn:
            post_ids = (
                conn.execute(
                    POST.insert().returning(POST.c.id, sort_by_parameter_order=True),
                    [
                        {
                            "city_id": city,
                            "platform": "mastodon",
                            "external_id": str(i),
                            "text": "pothole",
                            "created_at": now,
                            "ingested_at": now,
                            "source_name": "t",
                        }
                        for i in range(n)
                    ],
                )
                .scalars()
                .all()
            )
            conn.execute(
                CASES.insert(),
                [
                    {
                        "city_id": city,
                        "post_id": pid,
                        "service_code": "REQPOTHL",
                        "status": "queued",
                        "idempotency_key": f"cl-{pid:020d}",
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for pid in post_ids
                ],
            )
            conn.execute(
                REPLY.insert(),
                [
                    {
                        "city_id": city,
                        "post_id": pid,
                        "platform": "mastodon",
                        "text": "thanks",
                        "state": "approved",
                        "idempotency_key": f"r-{pid}",
                        "attempts": 0,
                        "approved_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for pid in post_ids
                ],
            )
        outbox = cases_of(services).outbox
        city_desk = outbox.desk.city(city)
        desk = desk_for(services)
        barrier = threading.Barrier(3)
        # every thread makes its first claims before any goes on: on SQLite the lock's holder
        # can otherwise take every batch while the others back off, and the race is not tested
        first_round = threading.Barrier(3)
        got: list[tuple[list[int], list[int]]] = [([], []) for _ in range(3)]
        errors: list[BaseException] = []

        def worker(k: int) -> None:
            try:
                barrier.wait(timeout=30)
                first = True
                while True:
                    cases = outbox._claim_batch(city_desk, "queued", 3)
                    replies, _ = claim_due(desk, now=now, limit=3)
                    got[k][0].extend(cases)
                    got[k][1].extend(r.id for r in replies)
                    if first:
                        first = False
                        first_round.wait(timeout=60)
                    if not cases and not replies:
                        return
            except BaseException as exc:  # a dead thread would otherwise pass unseen
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        for which in (0, 1):
            claimed = [i for g in got for i in g[which]]
            assert len(claimed) == len(set(claimed)) == n, "a row was claimed twice"
            assert all(g[which] for g in got)  # the work was shared
        with services.engine.connect() as conn:
            assert set(conn.execute(sa.select(CASES.c.status)).scalars()) == {"filing"}
            assert set(conn.execute(sa.select(REPLY.c.state)).scalars()) == {"sending"}
            assert set(conn.execute(sa.select(REPLY.c.attempts)).scalars()) == {1}
    finally:
        services.close()


@pytest.mark.postgres
def test_claims_are_disjoint_on_postgresql(pg_url: str) -> None:
    _claims_race(pg_url)


def test_claims_are_disjoint_on_sqlite(db_url: str) -> None:
    _claims_race(db_url)
