"""``civic-listener bench``: throughput and memory figures, one benchmark per subprocess so
each reports its own peak memory.

Benchmarks live beside the code they measure and are named here as ``module:function``; each
function returns a dict of figures.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civic_listener.settings import DEMO_CORPUS

BENCHMARKS: dict[str, str] = {
    "replay": "civic_listener.bench:bench_replay",
    "replay_core": "civic_listener.bench:bench_replay_core",
    "workers": "civic_listener.bench:bench_workers",
    "classify": "civic_listener.bench:bench_classify",
    "prefilter": "listener.bench:bench_prefilter",
    "console": "models.bench:bench_console",
    "cities": "models.bench:bench_cities",
}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process plus its largest child (the classifier's worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + child) / 1024, 1)


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


def write_replay(path: Path, posts: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in synthetic_posts(posts):
            fh.write(json.dumps(row) + "\n")
    return path


def bench_replay_core(posts: int = 50_000) -> dict[str, Any]:
    """:func:`bench_replay` without the acting hooks (cases, replies): store and classify."""
    return bench_replay(posts, with_responders=False)


def bench_replay(posts: int = 50_000, *, with_responders: bool = True) -> dict[str, Any]:
    """JSON Lines -> stored and classified rows, SQLite, one process (the real service:
    triage and reply drafting run after each labelled batch)."""
    from civic_listener.service import run_once
    from civic_listener.settings import load_settings
    from civic_listener.wiring import build_services

    with tempfile.TemporaryDirectory() as tmp:
        path = write_replay(Path(tmp) / "replay.jsonl", posts)
        # one service alone on the machine: the classifier uses both cores
        settings = load_settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            replay_file=path,
            batch_size=2000,
            classifier_jobs=2,
            health_port=0,
        )
        services = build_services(settings, with_responders=with_responders)
        services.warm_up()  # load the classifier (and its worker) before timing
        children = _cpu(resource.RUSAGE_CHILDREN)
        own = _cpu(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = run_once(services)
        elapsed = time.perf_counter() - started
        own = _cpu(resource.RUSAGE_SELF) - own
        services.close()  # the labeller's worker exits: its CPU time is counted below
        children = _cpu(resource.RUSAGE_CHILDREN) - children
    stored = report.stats.stored
    return {
        "posts": posts,
        "responders": with_responders,
        "stored": stored,
        "classified": report.stats.classified,
        "seconds": round(elapsed, 2),
        "posts_per_s": round(stored / elapsed),
        # CPU time, whatever else runs on the machine: the service's main process, and its
        # labelling worker (the worker's includes loading the classifier, about a second)
        "main_cpu_ms_per_post": round(own * 1000 / max(stored, 1), 3),
        "worker_cpu_ms_per_post": round(children * 1000 / max(stored, 1), 3),
    }


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def bench_classify(posts: int = 50_000) -> dict[str, Any]:
    """All labels together, batches of 1,000, no database."""
    from classifiers import load_classifier

    started = time.perf_counter()
    clf = load_classifier()
    load_s = time.perf_counter() - started
    texts = [p["text"] for p in synthetic_posts(posts)]
    started = time.perf_counter()
    clf.predict(texts[:1000])  # starts the classifier's worker process: a one-off cost
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(texts), 1000):
        clf.predict(texts[i : i + 1000])
    elapsed = time.perf_counter() - started
    return {
        "posts": posts,
        "load_seconds": round(load_s, 2),
        "worker_start_seconds": round(warm_s, 2),
        "seconds": round(elapsed, 2),
        "posts_per_s": round(posts / elapsed),
    }


# --------------------------------------------------------------------------- several workers

WORKERS_MAX_POSTS = 20_000  # per run; the workers bench makes four runs
_POLL = 0.2


@dataclass
class _Postgres:
    """A PostgreSQL server to bench on: the one named in the environment, or a throwaway
    cluster in a temporary folder (as ``scripts/run-tests.sh`` starts for the tests)."""

    base_url: str
    stop: Callable[[], None] = lambda: None

    @classmethod
    def start(cls) -> _Postgres | str:
        """The server, or why there is none."""
        for var in ("CIVIC_BENCH_POSTGRES_URL", "CIVIC_TEST_POSTGRES_URL"):
            if os.environ.get(var):
                return cls(os.environ[var])
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version_key)
        found = shutil.which("initdb")
        initdb = bins[-1] if bins else (Path(found) if found else None)
        if initdb is None:
            return "no PostgreSQL server binaries (install Debian's postgresql, or set CIVIC_BENCH_POSTGRES_URL)"
        pg_ctl = initdb.with_name("pg_ctl")
        data = Path(tempfile.mkdtemp(prefix="civic-bench-pg."))  # not under a private folder
        as_pg: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(data, "postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
        port = _free_port()
        run = functools.partial(subprocess.run, check=True, capture_output=True, text=True)
        try:
            run(
                [
                    *as_pg,
                    str(initdb),
                    "-D",
                    str(data / "data"),
                    "-U",
                    "civic",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ]
            )
            opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
            run(
                [
                    *as_pg,
                    str(pg_ctl),
                    "-D",
                    str(data / "data"),
                    "-l",
                    str(data / "log"),
                    "-w",
                    "-o",
                    opts,
                    "start",
                ]
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            shutil.rmtree(data, ignore_errors=True)
            return f"could not start a PostgreSQL server: {getattr(exc, 'stderr', '') or exc}"

        def stop() -> None:
            subprocess.run(
                [*as_pg, str(pg_ctl), "-D", str(data / "data"), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
            shutil.rmtree(data, ignore_errors=True)

        return cls(f"postgresql+psycopg://civic@127.0.0.1:{port}/postgres", stop)

    def fresh_database(self) -> str:
        import sqlalchemy as sa

        name = f"civic_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(self.base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return sa.engine.make_url(self.base_url).set(database=name).render_as_string(False)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in path.parent.parent.name.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _labelled(engine: Any) -> tuple[int, int]:
    """(posts stored, posts labelled) so far; (0, 0) before the schema exists. ``engine``
    is kept for the whole run: a poll costs one query, not a new connection."""
    import sqlalchemy as sa

    from models.store import POST

    try:
        with engine.connect() as conn:
            stored, done = conn.execute(
                sa.select(sa.func.count(), sa.func.count(POST.c.classified_at))
            ).one()
            return int(stored), int(done)
    except sa.exc.SQLAlchemyError:
        return 0, 0


def run_workers(url: str, replay: Path, posts: int, workers: int, tmp: Path) -> dict[str, Any]:
    """``workers`` ``civic-listener run`` processes on one database until every post of the
    replay is stored and labelled; then SIGTERM. Seconds from their start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    env.update(
        CIVIC_DATABASE_URL=url,
        CIVIC_REPLAY_FILE=str(replay),
        CIVIC_BATCH_SIZE="1000",
        CIVIC_HEALTH_PORT="0",
        CIVIC_LOG_LEVEL="WARNING",
        CIVIC_CLASSIFIER_JOBS="1",  # one process per worker: the workers are the parallelism
    )
    logs = [(tmp / f"worker{i}.log").open("w") for i in range(workers)]
    from models.db import make_engine

    probe = make_engine(url)
    server = _ServerCpu.find(url)
    server_before = server.seconds() if server else None
    started = time.perf_counter()
    first_stored: float | None = None
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "civic_listener.cli", "run"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for log in logs
    ]
    try:
        stored = done = 0
        while done < posts:
            if any(p.poll() is not None for p in procs):
                for log in logs:
                    log.flush()
                tails = [(tmp / f"worker{i}.log").read_text()[-2000:] for i in range(workers)]
                raise RuntimeError(f"a worker exited early: {tails}")
            time.sleep(_POLL)
            stored, done = _labelled(probe)
            if first_stored is None and stored:
                first_stored = time.perf_counter() - started
        elapsed = time.perf_counter() - started
        cpu = [_cpu_seconds(p.pid) for p in procs]
        waited = [_runqueue_seconds(p.pid) for p in procs]
        server_cpu = (
            round(server.seconds() - server_before, 1)
            if server is not None and server_before is not None
            else None
        )
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        probe.dispose()
    return {
        "workers": workers,
        "stored": stored,
        "classified": done,
        "seconds": round(elapsed, 2),
        "posts_per_s": round(done / elapsed),
        # start-up (migrations, loading the classifier) is in ``seconds``, alike for any count
        "first_stored_seconds": None if first_stored is None else round(first_stored, 2),
        # CPU time of each worker: how the work was shared, whatever else ran on the machine
        "cpu_seconds": cpu,
        # time each worker was ready to run but waited for a core: the machine was full
        "cpu_wait_seconds": waited,
        # the database server's CPU time during the run (a local PostgreSQL only)
        "server_cpu_seconds": server_cpu,
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }


def _runqueue_seconds(pid: int) -> float | None:
    """Seconds the threads of a running process waited on a run queue (Linux schedstat)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(total / 1e9, 1)


@dataclass
class _ServerCpu:
    """CPU time of a PostgreSQL server on this machine: the postmaster, its live children
    and the children it has reaped (``/proc``)."""

    postmaster: int

    @classmethod
    def find(cls, url: str) -> _ServerCpu | None:
        import sqlalchemy as sa

        if not url.startswith("postgresql"):
            return None
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                backend = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            found = cls(_parent(backend))
            found.seconds()
            return found
        except (sa.exc.SQLAlchemyError, OSError, ValueError):
            return None  # a remote server, or one this user cannot see
        finally:
            engine.dispose()

    def seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = _stat(self.postmaster)
        total = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                child = _stat(int(entry.name))
            except OSError:
                continue
            if int(child[1]) == self.postmaster:
                total += int(child[11]) + int(child[12])
        return total / ticks


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (``state`` first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _parent(pid: int) -> int:
    return int(_stat(pid)[1])


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process (Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return round((int(fields[11]) + int(fields[12])) / ticks, 1)


def bench_workers(posts: int = WORKERS_MAX_POSTS) -> dict[str, Any]:
    """End-to-end throughput (JSON Lines -> stored and labelled rows, acting hooks on) with
    one and with two ``civic-listener run`` processes, on SQLite and on PostgreSQL.

    One worker holds the replay's lease and ingests; every worker labels (``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL; SQLite has one writer, so there the second worker mostly waits).
    Each worker runs its classifier in one process (``CIVIC_CLASSIFIER_JOBS=1``).
    """
    out: dict[str, Any] = {
        "posts": posts,
        "cores": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),  # other work on the machine
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        replay = write_replay(tmp / "replay.jsonl", posts)
        engines: dict[str, Callable[[int], str] | str] = {
            "sqlite": lambda n: f"sqlite:///{tmp}/workers{n}.db"
        }
        server = _Postgres.start()
        engines["postgresql"] = (
            server
            if isinstance(server, str)
            else (
                lambda _n: server.fresh_database()  # type: ignore[union-attr]
            )
        )
        try:
            for name, make_url in engines.items():
                if isinstance(make_url, str):
                    out[name] = {"skipped": make_url}
                    continue
                runs = {n: run_workers(make_url(n), replay, posts, n, tmp) for n in (1, 2)}
                out[name] = {
                    "one_worker": runs[1],
                    "two_workers": runs[2],
                    "speedup": round(runs[1]["seconds"] / runs[2]["seconds"], 2),
                }
        finally:
            if not isinstance(server, str):
                server.stop()
    return out


def run_one(name: str, posts: int) -> dict[str, Any]:
    module, func = BENCHMARKS[name].split(":")
    fn = getattr(importlib.import_module(module), func)
    if name in ("replay", "replay_core", "classify"):
        figures = dict(fn(posts))
    elif name == "workers":
        figures = dict(fn(min(posts, WORKERS_MAX_POSTS)))
    else:
        figures = dict(fn())
    figures["peak_memory_mb"] = _peak_rss_mb()
    return figures


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(loop: int = 10_000_000) -> dict[str, Any]:
    """What the figures were measured on, and a reference to scale them between machines: the
    best of three runs of a fixed pure-Python loop (the classifier's per-post work is mostly
    interpreted Python and regular expressions, so its throughput moves with this figure)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(loop):
            total += i
        best = min(best, time.perf_counter() - t0)
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "python_loop_10m_seconds": round(best * 10_000_000 / loop, 3),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def run_benchmarks(*, posts: int = 50_000, only: list[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
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
