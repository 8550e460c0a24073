"""ingest -> deduplicate -> store -> classify in batches -> store labels.

Posts are stored first, in one transaction with the source's cursor; classification is a
second step over whatever is stored and unlabelled. A crash between the two loses nothing:
the next run labels what is pending. A malformed payload is quarantined with its reason and
the batch goes on.

With a background labeller (``classifier_jobs`` >= 2, :mod:`civic_listener.labeller`) a batch
of pending posts is only *read* and sent to the worker process; its labels are stored later in
a transaction that claims the posts again (:func:`models.store.still_pending`): a post
labelled or claimed elsewhere meanwhile is skipped, one whose text changed (its author
deleted it) is read again. Nothing is written while a batch is in flight, so a crash then
loses nothing either, and no post is labelled twice. The posts in flight are claimed
(:class:`civic_listener.leases.LabelClaims`, locks that die with the process), so another
worker's labeller reads the next ones instead of computing the same labels again.
"""

from __future__ import annotations

import logging
import operator
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from civic_listener import __version__, actions
from civic_listener.cities import CityDirectory, CityInfo
from civic_listener.labeller import Labelled, Labeller, restart_after_failure
from civic_listener.leases import LabelClaims
from civic_listener.routing import STATE_QUEUE
from classifiers.api import Classifier, Prediction
from listener.base import Deletion, Item, PostIn, Quarantined
from models import rollup
from models.store import (
    POST,
    bump_reposts,
    insert_posts,
    lock_for_write,
    pending_posts,
    quarantine,
    save_cursor,
    sent_reply_ids,
    still_pending,
    store_labels,
)
from models.types import utcnow

log = logging.getLogger(__name__)
_MENTION = re.compile(r"(?<![\w@])@([\w.\-]+(?:@[\w.\-]+)?)")


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    reposts: int = 0
    own: int = 0
    quarantined: int = 0
    deleted: int = 0
    classified: int = 0

    def add(self, other: IngestStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


Router = Callable[[PostIn], list[CityInfo]]


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        classifier: Classifier,
        cities: CityDirectory,
        *,
        repost_policy: str = "link",
        batch_size: int = 1000,
        router: Router | None = None,
        clock: Callable[[], datetime] = utcnow,
        after_classify: Callable[[int, Sequence[int]], None] | None = None,
        classifier_for: Callable[[CityInfo], Classifier] | None = None,
        background: Labeller | None = None,
    ) -> None:
        self.engine = engine
        self.classifier = classifier
        # the classifier as each city sees it (its own gazetteer); default: the one above
        self.classifier_for = classifier_for or (lambda _city: classifier)
        self.cities = cities
        self.repost_policy = repost_policy
        self.batch_size = batch_size
        self.router = router or self._default_route
        self.clock = clock
        # called with (city_id, post ids) after labels are stored: triage hooks in here
        self.after_classify = after_classify
        # labels the shared classifier's batches in another process while this one stores
        self.background = background
        self._inflight: dict[int, _InFlight] = {}
        # the posts in flight, claimed so that other workers' labellers do not take them too
        self.claims = LabelClaims(engine)
        self._own_share = 0.0  # of each batch labelled here, not in the background
        self._last_wait: float | None = None

    def _default_route(self, post: PostIn) -> list[CityInfo]:
        if post.city:
            return [self.cities.get(post.city)]
        return [self.cities.default]

    # ------------------------------------------------------------------ ingest

    def ingest(
        self, source_name: str, items: Iterable[Item], *, city_id: int | None = None
    ) -> IngestStats:
        """Store a batch of items from one source and its last cursor, in one transaction."""
        stats = IngestStats()
        now = self.clock()
        rows: dict[int, list[tuple[Any, ...]]] = {}
        reposts: dict[tuple[int, str], Counter[str]] = {}
        deletions: list[Deletion] = []
        quarantined: list[Quarantined] = []
        last_cursor: str | None = None
        seen: set[tuple[int, str, str]] = set()
        cursor_city = city_id if city_id is not None else self.cities.default.id
        # A payload that could not be read cannot be routed: from a shared source it waits in
        # the state-level queue (state admins), not in the default city's quarantine.
        state = self.cities.by_slug.get(STATE_QUEUE)
        quarantine_city = cursor_city if city_id is not None or state is None else state.id
        routed: list[tuple[PostIn, list[CityInfo]]] = []
        read_ids: dict[tuple[int, str], set[str]] = {}  # (city, platform) -> ids in the batch
        for item in items:
            stats.received += 1
            if item.cursor is not None:
                last_cursor = item.cursor
            if isinstance(item, Quarantined):
                quarantined.append(item)
                continue
            if isinstance(item, Deletion):
                deletions.append(item)
                continue
            if not item.mentions and "@" in item.text:
                item.mentions = tuple(m.lower() for m in _MENTION.findall(item.text))
            targets = [self.cities.by_id[city_id]] if city_id is not None else self.router(item)
            routed.append((item, targets))
            for city in targets:
                read_ids.setdefault((city.id, item.platform), set()).add(item.external_id)
        own_reply_ids: dict[tuple[int, str], set[str]] = {}
        if read_ids:
            with self.engine.connect() as conn:
                for (cid, platform), ids in read_ids.items():
                    own_reply_ids[(cid, platform)] = sent_reply_ids(
                        conn, city_id=cid, platform=platform, among=ids
                    )
        for item, targets in routed:
            for city in targets:
                if city.is_own(item.platform, item.author):
                    stats.own += 1
                    continue
                key = (city.id, item.platform)
                if item.external_id in own_reply_ids[key]:
                    stats.own += 1
                    continue
                if item.repost_of_id:
                    stats.reposts += 1
                    if self.repost_policy == "link":
                        reposts.setdefault(key, Counter())[item.repost_of_id] += 1
                    continue
                ident = (city.id, item.platform, item.external_id)
                if ident in seen:
                    stats.duplicates += 1
                    continue
                seen.add(ident)
                rows.setdefault(city.id, []).append(_post_values(item))
        with self.engine.begin() as conn:
            for cid, city_rows in rows.items():
                shared = {
                    "city_id": cid,
                    "source_name": source_name,
                    "collector_version": __version__,
                    "ingested_at": now,
                }
                for i in range(0, len(city_rows), self.batch_size):
                    chunk = city_rows[i : i + self.batch_size]
                    new = insert_posts(conn, _POST_KEYS, chunk, constants=shared)
                    stats.stored += new
                    stats.duplicates += len(chunk) - new
            for (cid, platform), counts in reposts.items():
                bump_reposts(conn, city_id=cid, platform=platform, counts=dict(counts))
            for q in quarantined:
                quarantine(
                    conn,
                    city_id=quarantine_city,
                    source_name=source_name,
                    raw=q.raw,
                    reason=q.reason,
                    platform=q.platform,
                )
                stats.quarantined += 1
            for d in deletions:
                stats.deleted += self._tombstone(conn, d, now)
            if last_cursor is not None:
                save_cursor(conn, city_id=cursor_city, source_name=source_name, cursor=last_cursor)
        return stats

    @staticmethod
    def _tombstone(conn: sa.Connection, d: Deletion, now: datetime) -> int:
        """The author deleted it: drop its content, keep a tombstone so it is not re-imported."""
        match = (
            POST.c.platform == d.platform,
            POST.c.external_id == d.external_id,
            POST.c.deleted_at.is_(None),
        )
        ids = conn.execute(sa.select(POST.c.id).where(*match)).scalars().all()
        if not ids:
            return 0
        with rollup.kept_current(conn, ids):  # a deleted post leaves the dashboard's counts
            res = conn.execute(
                POST.update()
                .where(*match)
                .values(
                    text="",
                    author="",
                    raw=None,
                    url=None,
                    lat=None,
                    lon=None,
                    location_text=None,
                    deleted_at=now,
                    status="deleted",
                )
            )
        return res.rowcount

    # ------------------------------------------------------------------ classify

    def classify_pending(self, *, limit: int | None = None, leave_in_flight: bool = False) -> int:
        """Label every stored, unlabelled post in batches; returns how many were labelled.

        With a background labeller (see :mod:`civic_listener.labeller`) the next batch is
        classified in the worker while this process stores the previous one and runs the
        hooks. ``leave_in_flight=True`` returns without waiting for the last batch sent: the
        next call stores it (the replay loop ingests meanwhile); any other call waits.
        """
        done = 0
        for city in self.cities:
            classifier = self.classifier_for(city)
            budget = None if limit is None else limit - done
            if budget is not None and budget <= 0:
                break
            if self.background is not None and classifier is self.classifier:
                done += self._label_overlapped(city, classifier, budget, leave_in_flight)
            else:
                done += self._label_inline(city, classifier, budget)
        return done

    def _label_inline(self, city: CityInfo, classifier: Classifier, budget: int | None) -> int:
        """Claim, classify and store in one transaction per batch, in this process. Posts that
        another worker's background labeller has in flight (its claims) are left to it."""
        done = 0
        busy: set[int] = set()  # in flight elsewhere: not read again this call
        while budget is None or done < budget:
            n = self.batch_size if budget is None else min(self.batch_size, budget - done)
            ids: list[int] = []
            try:
                with self.engine.begin() as conn:
                    lock_for_write(conn)
                    # read without row locks, claim, then lock only the posts claimed: a row
                    # lock on a post another worker has in flight would make that worker take
                    # it for labelled elsewhere when it stores, and neither would label it
                    batch = pending_posts(conn, city_id=city.id, limit=n, exclude=busy, lock=False)
                    if not batch:
                        break
                    got = self.claims.claim([pid for pid, _ in batch])
                    busy.update(pid for pid, _ in batch if pid not in got)
                    ids = [pid for pid, _ in batch if pid in got]
                    current = still_pending(conn, city_id=city.id, post_ids=ids) if ids else {}
                    busy.update(pid for pid in ids if pid not in current)
                    batch = [(pid, current[pid]) for pid in ids if pid in current]
                    self.claims.release(pid for pid in ids if pid not in current)
                    ids = [pid for pid, _ in batch]
                    if not batch:
                        continue
                    predictions = classifier.predict([text for _, text in batch])
                    self._store(conn, city, classifier, ids, predictions)
                    outbox = self._record_actions(conn, city, ids)
            finally:
                self.claims.release(ids)
            done += len(batch)
            self._act(city, ids, outbox)
        return done

    def _record_actions(
        self, conn: sa.Connection, city: CityInfo, ids: Sequence[int]
    ) -> int | None:
        """With the labels: note that the posts wait for the acting hooks (:mod:`actions`)."""
        if self.after_classify is None or not ids:
            return None
        return actions.record(conn, city_id=city.id, post_ids=ids, now=self.clock())

    def _act(self, city: CityInfo, ids: Sequence[int], outbox: int | None) -> None:
        """Run the acting hooks on posts just labelled; a failure is kept for a retry."""
        if self.after_classify is None or outbox is None:
            return
        actions.run_hooks(
            self.engine,
            self.after_classify,
            row_id=outbox,
            city_id=city.id,
            post_ids=ids,
            attempts=1,
            now=self.clock,
        )

    def _store(
        self,
        conn: sa.Connection,
        city: CityInfo,
        classifier: Classifier,
        ids: Sequence[int],
        predictions: Sequence[Prediction],
    ) -> None:
        store_labels(
            conn,
            city_id=city.id,
            post_ids=ids,
            predictions=predictions,
            component=classifier.name,
            version=classifier.version,
            artifact_hash=classifier.artifact_hash,
            now=self.clock(),
            unlabelled=True,  # both callers claim pending posts in the same transaction
        )

    def _label_overlapped(
        self, city: CityInfo, classifier: Classifier, budget: int | None, leave: bool
    ) -> int:
        """Read a batch and send it to the background labeller, then store the batch sent
        before it (claimed again in the storing transaction: posts labelled or changed
        meanwhile are skipped and stay pending), and so on."""
        assert self.background is not None
        done = 0
        inflight = self._inflight.pop(city.id, None)
        skipped: set[int] = set()  # labelled or claimed elsewhere: not read again this call
        while True:
            sent = None
            wanted = self.batch_size
            if budget is not None:
                wanted = min(wanted, budget - done - (len(inflight.batch) if inflight else 0))
            if wanted > 0:
                batch = self._claim_pending(city, wanted, inflight, skipped)
                if batch:
                    sent = self._send(batch)
            changed = 0
            if inflight is not None:
                stored, gone = self._store_inflight(city, classifier, inflight)
                done += len(stored)
                skipped.update(gone)
                changed = len(inflight.batch) - len(stored) - len(gone)
            inflight = sent
            if inflight is None:
                if changed:  # read those again, with their new text
                    continue
                return done
            if leave:
                self._inflight[city.id] = inflight
                return done

    def _claim_pending(
        self, city: CityInfo, wanted: int, inflight: _InFlight | None, skipped: set[int]
    ) -> list[tuple[int, str]]:
        """Read up to ``wanted`` pending posts and claim them for this worker
        (:class:`~civic_listener.leases.LabelClaims`); those another worker has in flight
        join ``skipped`` and the next ones are read instead."""
        held = set(inflight.ids) if inflight else set()
        while True:
            with self.engine.connect() as conn:
                batch = pending_posts(
                    conn, city_id=city.id, limit=wanted, exclude=skipped | held, lock=False
                )
            if not batch:
                return []
            got = self.claims.claim([pid for pid, _ in batch])
            skipped.update(pid for pid, _ in batch if pid not in got)
            if got:
                return [(pid, text) for pid, text in batch if pid in got]

    def _send(self, batch: list[tuple[int, str]]) -> _InFlight:
        """Send the batch to the background labeller, but for the share this process labels
        itself when storing it (see :meth:`_balance`)."""
        assert self.background is not None
        own = min(int(len(batch) * self._own_share), len(batch) // 2)
        remote = [text for _, text in batch[: len(batch) - own]]
        try:
            future = self.background.submit(remote)
        except Exception:  # a broken or closed worker: label in this process instead
            log.exception("the background labeller refused a batch; labelling it here")
            restart_after_failure(self.background)
            future = Future()
            future.set_exception(RuntimeError("background labeller unavailable"))
        return _InFlight(batch, future, own)

    def _store_inflight(
        self, city: CityInfo, classifier: Classifier, inflight: _InFlight
    ) -> tuple[list[int], list[int]]:
        """Store a batch's labels: those of its posts still unlabelled with the same text.

        Returns the posts labelled and those labelled or claimed elsewhere meanwhile (a post
        whose text changed, e.g. deleted by its author, stays pending and is read again).
        The batch's claims are let go whatever happens: its posts are stored, or still pending
        for any worker to take (a claim kept after a failure would hide them from the others
        until this process ends)."""
        try:
            ids, gone, outbox = self._label_and_store(city, classifier, inflight)
        finally:
            self.claims.release(inflight.ids)
        self._act(city, ids, outbox)
        return ids, gone

    def _label_and_store(
        self, city: CityInfo, classifier: Classifier, inflight: _InFlight
    ) -> tuple[list[int], list[int], int | None]:
        texts = [text for _, text in inflight.batch]
        split = len(texts) - inflight.own
        started = time.perf_counter()
        own = classifier.predict(texts[split:]) if inflight.own else []
        asked = time.perf_counter()
        try:
            remote, remote_seconds = inflight.future.result()
        except Exception:
            log.exception("the background labeller failed a batch; labelling it here")
            restart_after_failure(self.background)
            remote, remote_seconds = classifier.predict(texts[:split]), 0.0
        self._balance(len(texts), inflight.own, asked - started, split, remote_seconds, asked)
        predictions = [*remote, *own]
        with self.engine.begin() as conn:
            lock_for_write(conn)
            current = still_pending(conn, city_id=city.id, post_ids=inflight.ids)
            keep = [
                i for i, (pid, text) in enumerate(inflight.batch) if current.get(pid, _GONE) == text
            ]
            ids = [inflight.batch[i][0] for i in keep]
            outbox = None
            if ids:
                self._store(conn, city, classifier, ids, [predictions[i] for i in keep])
                outbox = self._record_actions(conn, city, ids)
        return ids, [pid for pid in inflight.ids if pid not in current], outbox

    def _balance(
        self, n: int, own: int, own_seconds: float, remote: int, remote_seconds: float, asked: float
    ) -> None:
        """Share the labelling so both processes finish a batch together: this process
        labels part of each batch itself when it would otherwise wait for the worker.

        Per batch, this process spends ``busy`` seconds (storing, the hooks, reading the
        source, its own share of labelling) between two waits for the worker, which spends
        ``remote_seconds``; the next share ``x`` solves ``rest + x*c = (n - x)*w``."""
        waited = time.perf_counter() - asked
        last, self._last_wait = self._last_wait, time.perf_counter()
        if last is None or remote <= 0 or remote_seconds <= 0:
            return
        busy = asked - last
        w = remote_seconds / remote
        c = own_seconds / own if own else w
        rest = max(busy - own_seconds, 0.0)
        target = min(max((w * n - rest) / (c + w) / n, 0.0), 0.5)
        self._own_share = 0.5 * self._own_share + 0.5 * target
        log.debug(
            "labelling share: own %.2f (busy %.3fs, waited %.3fs, worker %.3fs)",
            self._own_share,
            busy,
            waited,
            remote_seconds,
        )

    def close(self) -> None:
        """Stop the background labeller (what is in flight stays pending in the database)."""
        self._inflight.clear()
        self.claims.close()
        if self.background is not None:
            self.background.close()


_GONE = object()
# a post's own columns, in the order of ``_post_values`` (the city, source and ingest time are
# the same for a whole batch and passed once)
_POST_COLUMNS = {  # column: PostIn attribute
    "platform": "platform",
    "external_id": "external_id",
    "author": "author",
    "text": "text",
    "language": "lang",
    "created_at": "created_at",
    "url": "url",
    "in_reply_to_id": "in_reply_to_id",
    "conversation_id": "conversation_id",
    "quote_of_id": "quote_of_id",
    "lat": "lat",
    "lon": "lon",
    "raw": "raw",
}
_POST_KEYS = tuple(_POST_COLUMNS)
_post_values = operator.attrgetter(*_POST_COLUMNS.values())


@dataclass(slots=True)
class _InFlight:
    """A batch read and sent to the background labeller, not stored yet (but for its last
    ``own`` posts, which this process labels itself when it stores the batch)."""

    batch: list[tuple[int, str]]
    future: Future[Labelled]
    own: int = 0

    @property
    def ids(self) -> list[int]:
        return [pid for pid, _ in self.batch]
