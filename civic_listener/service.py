"""The service loop behind ``civic-listener run``.

``--once``: read every source to its end (a polling source makes one pass; a streaming
source makes its bounded ``one_pass``, see ``listener.platform``), store, label, run each job
once, exit. Otherwise each source runs in its own thread feeding a bounded
queue; the main loop stores in batches (by size or every half second), labels, and runs the
scheduled jobs, until SIGTERM or Ctrl-C sets ``stop``. A source that fails backs off and
resumes from its stored cursor; one that refuses credentials stops and says so.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from civic_listener import actions
from civic_listener.health import health_report, serve_health
from civic_listener.leases import SourceLease
from civic_listener.pipeline import IngestStats
from civic_listener.runtime import tune_garbage_collection
from civic_listener.scheduler import Scheduler
from civic_listener.wiring import Services
from listener.backoff import Backoff
from listener.base import AuthFailed, Item, RateLimited, Source, SourceError, SourceHealth
from listener.health import HealthMonitor
from listener.platform import OnePass
from listener.state import DatabaseState
from models.privacy import purge
from models.store import get_cursor, pending_count

log = logging.getLogger(__name__)
_DONE = object()


@dataclass
class RunReport:
    stats: IngestStats = field(default_factory=IngestStats)
    jobs: dict[str, bool] = field(default_factory=dict)
    health: dict[str, SourceHealth] = field(default_factory=dict)


def build_scheduler(services: Services, *, label_limit: int | None = None) -> Scheduler:
    """The scheduled jobs. ``label_limit``: the most one run of the ``classify_pending`` job
    labels (the service loop labels the rest; there the job only makes sure that a source
    keeping the loop busy never leaves posts waiting)."""
    sched = Scheduler(services.engine, services.cities.default.id, clock=services.clock)
    sched.add(
        "classify_pending",
        functools.partial(services.pipeline.classify_pending, limit=label_limit),
        every_seconds=services.settings.poll_interval_seconds,
    )
    retention = services.settings.retention
    sched.add(
        "purge",
        lambda: purge(
            services.engine,
            now=services.clock(),
            posts_days=retention.posts,
            quarantine_days=retention.quarantine,
            audit_days=retention.audit,
        ),
        every_seconds=6 * 3600,
    )
    sched.add(
        "actions_retry",  # acting hooks that failed or were cut short (civic_listener.actions)
        functools.partial(
            actions.retry_due, services.engine, services._after_classify, now=services.clock
        ),
        every_seconds=60,
    )
    for name, fn, every in services.extra_jobs:
        sched.add(name, fn, every_seconds=every)
    return sched


def _cursor(services: Services, source: Source) -> str | None:
    row = get_cursor(services.engine, city_id=services.cities.default.id, source_name=source.name)
    return row.cursor if row else None


def monitor_for(services: Services, source: Source) -> HealthMonitor:
    """The source's own health monitor, or one kept for it (replay and add-on sources)."""
    monitor = getattr(source, "monitor", None)
    if isinstance(monitor, HealthMonitor):
        return monitor
    monitor = HealthMonitor(
        source.name,
        kind=getattr(source, "kind", "") or type(source).__name__.removesuffix("Source").lower(),
        clock=services.clock,
        store=DatabaseState(services.engine, services.cities.default.id),
    )
    source.monitor = monitor  # type: ignore[attr-defined]
    return monitor


def _watched(items: Iterator[Item], monitor: HealthMonitor) -> Iterator[Item]:
    for item in items:
        monitor.on_item(item)
        yield item


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    """Batches of ``size``; when the source fails, what it yielded before is still stored."""
    batch: list[Item] = []
    try:
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
    except SourceError:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def run_once(services: Services, stop: threading.Event | None = None) -> RunReport:
    tune_garbage_collection()
    stop = stop or threading.Event()
    report = RunReport()
    pipeline = services.pipeline
    for source in services.sources:
        health = report.health.setdefault(source.name, SourceHealth(state="running"))
        lease = SourceLease(services.engine, source.name)
        if not lease.acquire():
            health.state = "leased_elsewhere"  # another worker reads this source
            continue
        monitor = monitor_for(services, source)
        monitor.set_state("running")
        try:
            # A streaming source makes one bounded pass instead of holding its stream open.
            cursor = _cursor(services, source)
            items = (
                source.one_pass(cursor, stop)
                if isinstance(source, OnePass)
                else source.iter_items(cursor, stop)
            )
            for batch in _batches(_watched(items, monitor), services.settings.batch_size):
                report.stats.add(pipeline.ingest(source.name, batch))
                health.items += len(batch)
                # with a background labeller the batch just stored is labelled while the
                # next one is read and stored; the call after the loop waits for it
                report.stats.classified += pipeline.classify_pending(leave_in_flight=True)
            health.state = "finished"
            monitor.set_state("idle")
        except SourceError as exc:
            health.state, health.last_error = "failed", str(exc)
            monitor.set_state("failed", str(exc))
            log.error("source %s failed: %s", source.name, exc)
        finally:
            lease.release()
    report.stats.classified += pipeline.classify_pending()
    report.jobs = build_scheduler(services).run_all()
    return report


class _SourceThread(threading.Thread):
    def __init__(self, services: Services, source: Source, out: queue.Queue, stop: threading.Event):
        super().__init__(name=f"source-{source.name}", daemon=True)
        self.services, self.source, self.out, self.stop = services, source, out, stop
        self.health = SourceHealth()
        self.backoff = Backoff()
        self.monitor = monitor_for(services, source)
        # set by the main loop once everything this thread queued is stored with its cursor
        self.drained = threading.Event()

    def _state(self, state: str, error: str | None = None) -> None:
        self.health.state = state
        if error is not None:
            self.health.last_error = error
        self.monitor.set_state(state, error)

    def run(self) -> None:
        lease = SourceLease(self.services.engine, self.source.name)
        try:
            self._run(lease)
        finally:
            self.out.put((self.source.name, _DONE))
            # keep the lease until what was read ahead is stored (and the cursor with it):
            # a worker taking the source over earlier would read those items again
            self.drained.wait(timeout=600)
            lease.release()

    def _run(self, lease: SourceLease) -> None:
        while not self.stop.is_set():
            if not lease.acquire():
                self.health.state = "leased_elsewhere"  # another worker reads it; take over later
                self.stop.wait(self.services.settings.poll_interval_seconds)
                continue
            if self.backoff.attempt:
                self.monitor.on_reconnect()  # resuming after an error
            self._state("running")
            try:
                for item in self.source.iter_items(_cursor(self.services, self.source), self.stop):
                    self.out.put((self.source.name, item))
                    self.health.items += 1
                    self.monitor.on_item(item)
                    self.backoff.reset()
                if self.source.finite:
                    self._state("finished")
                    break
                delay = self.services.settings.poll_interval_seconds
            except AuthFailed as exc:
                self._state("failed", str(exc))
                log.error("source %s: credentials refused, stopping it: %s", self.source.name, exc)
                break
            except RateLimited as exc:
                delay = self.backoff.next_delay(exc.retry_after)
                self._state("backing_off", str(exc))
                log.warning("source %s: %s; retrying in %.0f s", self.source.name, exc, delay)
            except SourceError as exc:
                delay = self.backoff.next_delay()
                self._state("backing_off", str(exc))
                log.warning("source %s: %s; retrying in %.1f s", self.source.name, exc, delay)
            except Exception as exc:  # a bug in a source must not kill the service
                log.exception("source %s crashed", self.source.name)
                delay = self.backoff.next_delay()
                self._state("backing_off", repr(exc))
            self.stop.wait(delay)
        if self.stop.is_set() and self.health.state not in ("failed", "finished"):
            self._state("stopped")


def run_forever(
    services: Services, stop: threading.Event, *, flush_seconds: float = 0.5
) -> RunReport:
    tune_garbage_collection()
    report = RunReport()
    pipeline = services.pipeline
    size = services.settings.batch_size
    scheduler = build_scheduler(services, label_limit=size)
    inbox: queue.Queue = queue.Queue(maxsize=services.settings.batch_size * 10)
    threads = [_SourceThread(services, s, inbox, stop) for s in services.sources]
    by_name = {t.source.name: t for t in threads}
    for t in threads:
        t.start()
        report.health[t.source.name] = t.health
    health_server = None
    if services.settings.health_port:
        live = report.health
        health_server = serve_health(
            services.settings.health_host,
            services.settings.health_port,
            lambda: health_report(services.engine, live={k: asdict(v) for k, v in live.items()}),
        )
    pending: dict[str, list[Item]] = {}
    last_flush = time.monotonic()
    city_ids = [city.id for city in services.cities]

    def flush(*, everything: bool = True) -> int:
        """Store what the sources sent, then label. While a source keeps the inbox full,
        reading comes first (only the lease holder reads a source; every worker labels):
        this worker labels one batch only when more than two are waiting, claimed or not,
        i.e. when the other workers (claiming with SKIP LOCKED) do not keep up or there are
        none. It labels everything when the source is quiet."""
        for name, items in pending.items():
            if items:
                report.stats.add(pipeline.ingest(name, items))
        pending.clear()
        if not everything:
            with services.engine.connect() as conn:
                waiting = pending_count(conn, city_ids=city_ids, cap=2 * size + 1)
            if waiting <= 2 * size:
                return 0
        done = pipeline.classify_pending(limit=None if everything else size)
        report.stats.classified += done
        return done

    busy = False  # the last round labelled something: look again soon
    while not stop.is_set():
        try:
            name, item = inbox.get(timeout=0.05 if busy else flush_seconds)
            if item is not _DONE:
                pending.setdefault(name, []).append(item)
            else:  # the source stopped: store what it read, then let it give up its lease
                flush()
                by_name[name].drained.set()
        except queue.Empty:
            pass
        full = any(len(v) >= size for v in pending.values())
        quiet = inbox.empty()
        if full or (busy and quiet) or time.monotonic() - last_flush >= flush_seconds:
            busy = flush(everything=quiet) > 0
            last_flush = time.monotonic()
            scheduler.run_pending()
    flush()
    for t in threads:
        t.drained.set()
    for t in threads:
        t.join(timeout=5)
    if health_server is not None:
        health_server.shutdown()
        health_server.server_close()
    return report
