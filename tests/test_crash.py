"""Crash safety: SIGKILL in the middle of a large replay, restart, and nothing is lost or
done twice: no post stored or labelled twice, and (second test) no case filed twice and no
reply sent twice, checked on what the fake Open311 server and the fake Mastodon recorded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civic_listener.bench import synthetic_posts
from models.db import make_engine
from models.store import CLASSIFICATION, POST
from models.tables import ActionOutbox, Reply, ServiceRequest
from tests.fakes.open311 import FakeOpen311
from tests.fakes.platform_writes import FakeMastodon

N = 100_000
# the service with the keyword classifier of the tests: what a crash tests is the transactions
# that store posts, labels, cases and replies, not the model (whose labels take ~10 times as long)
LAUNCH = (
    "import sys; import civic_listener.wiring as w; "
    "from tests.fakes.classifier import KeywordClassifier; "
    "w.default_classifier_factory = lambda settings: KeywordClassifier; "
    "from civic_listener.cli import main; "
    "raise SystemExit(main(sys.argv[1:]))"
)


def _env(db: Path, replay: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        CIVIC_DATABASE_URL=f"sqlite:///{db}",
        CIVIC_REPLAY_FILE=str(replay),
        CIVIC_HEALTH_PORT="0",
        CIVIC_BATCH_SIZE="2000",
        CIVIC_LOG_LEVEL="WARNING",
        # the classifier in the service's own process: a SIGKILL then leaves nothing behind
        CIVIC_CLASSIFIER_JOBS="1",
    )
    return env


def _count(engine: sa.Engine, q: sa.Select) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
    except sa.exc.OperationalError:  # schema not there yet
        return 0


@pytest.mark.slow
def test_sigkill_mid_replay_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    replay = tmp_path / "big.jsonl"
    rows = synthetic_posts(N)
    with replay.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            fh.write(json.dumps(row) + "\n")
            if i % 10_000 == 0:
                fh.write(json.dumps(row) + "\n")  # exact duplicates
                fh.write("{not json\n")  # malformed
    db = tmp_path / "crash.db"
    cmd = [sys.executable, "-c", LAUNCH, "run", "--once"]
    # the service's log goes to a file: a pipe nobody reads would fill and stall it
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(cmd, env=_env(db, replay), stdout=subprocess.DEVNULL, stderr=log)
    engine = make_engine(f"sqlite:///{db}")
    total = sa.select(sa.func.count()).select_from(POST)
    deadline = time.monotonic() + 240
    try:
        while _count(engine, total) < N // 4:
            assert proc.poll() is None, (tmp_path / "service.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the replay did not progress"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)  # also when the wait failed: leave nothing running
        proc.wait()
        log.close()
    stored_at_kill = _count(engine, total)
    assert N // 4 <= stored_at_kill < N, "killed too late to test anything"

    done = subprocess.run(cmd, env=_env(db, replay), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        assert conn.execute(total).scalar_one() == N
        distinct = conn.execute(
            sa.select(sa.func.count(sa.distinct(POST.c.external_id)))
        ).scalar_one()
        assert distinct == N
        assert conn.execute(total.where(POST.c.classified_at.is_(None))).scalar_one() == 0
        dupes = conn.execute(
            sa.select(CLASSIFICATION.c.post_id, CLASSIFICATION.c.task)
            .where(CLASSIFICATION.c.task == "topic")
            .group_by(CLASSIFICATION.c.post_id, CLASSIFICATION.c.task)
            .having(sa.func.count() > 1)
            .limit(5)
        ).all()
        assert dupes == [], "a post was labelled twice"
        topic_rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(CLASSIFICATION)
            .where(CLASSIFICATION.c.task == "topic")
        ).scalar_one()
        assert topic_rows == N
        quarantined = conn.execute(sa.text("SELECT count(*) FROM quarantinedpayload")).scalar_one()
        # every malformed line quarantined once: a batch and its cursor commit together
        assert quarantined == N // 10_000
    engine.dispose()


# --------------------------------------------------------------------------- acting too

ACTING_N = 20_000
KEY = "k-crash-77aa"
CASES = ServiceRequest.__table__  # type: ignore[attr-defined]
REPLY = Reply.__table__  # type: ignore[attr-defined]
ACTIONS = ActionOutbox.__table__  # type: ignore[attr-defined]


def _acting_rows(n: int) -> list[dict[str, Any]]:
    """Mastodon posts: one in 50 a complaint on its own spot of a grid (~400 m apart), the
    rest chatter, so the run files a few hundred cases and sends as many replies."""
    rows = []
    for i in range(n):
        sid = str(113_500_000_000_000_000 + i)
        k = i // 50
        complaint = i % 50 == 0
        rows.append(
            {
                "platform": "mastodon",
                "external_id": sid,
                "author": f"resident{i}@town.example",
                "text": f"pothole on Street {k}" if complaint else f"lovely day {i}",
                "created_at": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "url": f"https://town.example/@resident{i}/{sid}",
                "lat": 42.25 + (k // 20) * 0.004 if complaint else None,
                "lon": -71.15 + (k % 20) * 0.005 if complaint else None,
            }
        )
    return rows


def _acting_env(db: Path, replay: Path, open311: FakeOpen311, mastodon: FakeMastodon) -> dict:
    env = _env(db, replay)
    env.update(
        CIVIC_BATCH_SIZE="500",
        CIVIC_OPEN311_URL=open311.url,
        CIVIC_OPEN311_API_KEY=KEY,
        CIVIC_CASES_AUTO_FILE="true",
        CIVIC_CASES_OUTBOX_INTERVAL_SECONDS="1",
        CIVIC_REPLY_SEND_INTERVAL_SECONDS="1",
        CIVIC_DRY_RUN="false",
        CIVIC_MASTODON_API_BASE_URL=mastodon.base_url,
        CIVIC_MASTODON_ACCESS_TOKEN=FakeMastodon.TOKEN,
        CIVIC_REPLY_AUTO_SEND_TOPICS=json.dumps(["pothole"]),
    )
    return env


def _acting_left(engine: sa.Engine) -> int:
    q = [
        sa.select(sa.func.count()).where(POST.c.classified_at.is_(None)),
        sa.select(sa.func.count()).where(CASES.c.status.in_(("queued", "filing"))),
        sa.select(sa.func.count()).where(REPLY.c.state.in_(("approved", "sending"))),
        # labelled posts whose acting hooks have not run yet: their cases are still to come
        sa.select(sa.func.count()).select_from(ACTIONS),
    ]
    try:
        with engine.connect() as conn:
            return sum(int(conn.execute(x).scalar_one()) for x in q)
    except sa.exc.OperationalError:
        return 1


@pytest.mark.slow
def test_sigkill_while_filing_and_replying_files_and_sends_once(tmp_path: Path) -> None:
    rows = _acting_rows(ACTING_N)
    complaints = ACTING_N // 50
    replay = tmp_path / "acting.jsonl"
    with replay.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    db = tmp_path / "acting.db"
    open311 = FakeOpen311(api_key=KEY).start()
    mastodon = FakeMastodon().start()
    engine = make_engine(f"sqlite:///{db}")
    try:
        env = _acting_env(db, replay, open311, mastodon)
        cmd = [sys.executable, "-c", LAUNCH, "run"]
        log = (tmp_path / "service.log").open("wb")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 90
        total = sa.select(sa.func.count()).select_from(POST)
        # kill while the replay is still being read and both outboxes are at work
        try:
            while not (
                _count(engine, total) >= ACTING_N // 4
                and len(open311.posts()) >= 20
                and len(mastodon.statuses) >= 20
            ):
                assert proc.poll() is None, (tmp_path / "service.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the run did not progress"
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            log.close()
        assert _count(engine, total) < ACTING_N, "killed too late to test anything"
        filed_at_kill, sent_at_kill = len(open311.posts()), len(mastodon.statuses)
        assert filed_at_kill < complaints and sent_at_kill < complaints

        # the restart comes after the claim leases ran out (time passes; the test does not
        # wait): rows the killed process held are checked against the fakes, not redone
        with engine.begin() as conn:
            # (table, the time its claim or retry is due by, the rows the killed process held);
            # the acting hooks it did not finish count too
            held = (
                (CASES, CASES.c.updated_at, CASES.c.status == "filing"),
                (REPLY, REPLY.c.updated_at, REPLY.c.state == "sending"),
                (ACTIONS, ACTIONS.c.next_attempt_at, sa.true()),
            )
            for table, at_col, where in held:
                for rid, at in conn.execute(sa.select(table.c.id, at_col).where(where)).all():
                    conn.execute(
                        table.update()
                        .where(table.c.id == rid)
                        .values({at_col.name: at - timedelta(minutes=11)})
                    )
        restarted = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        try:
            while _count(engine, total) < len(rows) or _acting_left(engine):
                assert restarted.poll() is None, restarted.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the restart did not finish the work"
                time.sleep(0.2)
        finally:
            restarted.send_signal(signal.SIGTERM)
            _, err = restarted.communicate(timeout=60)
        assert restarted.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]

        with engine.connect() as conn:
            assert conn.execute(total).scalar_one() == ACTING_N
            assert conn.execute(total.where(POST.c.classified_at.is_(None))).scalar_one() == 0
            cases = conn.execute(sa.select(CASES.c.idempotency_key, CASES.c.open311_id)).all()
            replies = conn.execute(
                sa.select(REPLY.c.post_id, REPLY.c.state, REPLY.c.platform_reply_id)
            ).all()
        # no case filed twice: each case's reference reached the 311 server once
        keys = Counter(
            m.group(0)
            for p in open311.posts()
            for m in [re.search(r"cl-[0-9a-f]{20}", p.field("description") or "")]
            if m
        )
        assert len(cases) == complaints
        assert set(keys.values()) == {1}, "a case was filed twice"
        assert set(keys) == {c.idempotency_key for c in cases}
        assert len(open311.requests) == complaints
        assert sorted(c.open311_id for c in cases) == sorted(open311.requests)
        # no reply sent twice: one status per post, each recorded on its reply
        assert len(replies) == complaints and {r.state for r in replies} == {"sent"}
        statuses = mastodon.statuses
        assert len(statuses) == complaints, "a reply was sent twice"
        assert len({s["in_reply_to_id"] for s in statuses}) == complaints
        assert {s["id"] for s in statuses} == {r.platform_reply_id for r in replies}
    finally:
        engine.dispose()
        open311.stop()
        mastodon.stop()
