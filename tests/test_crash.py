"""Crash safety: SIGKILL in the middle of a large replay, restart, and nothing is lost or
done twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener.bench import synthetic_posts
from models.db import make_engine
from models.store import CLASSIFICATION, POST

N = 100_000


def _env(db: Path, replay: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    env.update(
        CIVIC_DATABASE_URL=f"sqlite:///{db}",
        CIVIC_REPLAY_FILE=str(replay),
        CIVIC_HEALTH_PORT="0",
        CIVIC_BATCH_SIZE="2000",
        CIVIC_LOG_LEVEL="WARNING",
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
    cmd = [sys.executable, "-m", "civic_listener.cli", "run", "--once"]
    proc = subprocess.Popen(
        cmd, env=_env(db, replay), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    engine = make_engine(f"sqlite:///{db}")
    total = sa.select(sa.func.count()).select_from(POST)
    deadline = time.monotonic() + 240
    while _count(engine, total) < N // 4:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        assert time.monotonic() < deadline, "the replay did not progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
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
