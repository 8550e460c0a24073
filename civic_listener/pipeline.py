"""ingest -> deduplicate -> store -> classify in batches -> store labels.

Posts are stored first, in one transaction with the source's cursor; classification is a
second step over whatever is stored and unlabelled. A crash between the two loses nothing:
the next run labels what is pending. A malformed payload is quarantined with its reason and
the batch goes on.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from civic_listener import __version__
from civic_listener.cities import CityDirectory, CityInfo
from civic_listener.routing import STATE_QUEUE
from classifiers.api import Classifier
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
        rows: dict[int, list[dict[str, Any]]] = {}
        reposts: dict[tuple[int, str], Counter[str]] = {}
        deletions: list[Deletion] = []
        quarantined: list[Quarantined] = []
        last_cursor: str | None = None
        own_reply_ids: dict[tuple[int, str], set[str]] = {}
        seen: set[tuple[int, str, str]] = set()
        cursor_city = city_id if city_id is not None else self.cities.default.id
        # A payload that could not be read cannot be routed: from a shared source it waits in
        # the state-level queue (state admins), not in the default city's quarantine.
        state = self.cities.by_slug.get(STATE_QUEUE)
        quarantine_city = cursor_city if city_id is not None or state is None else state.id
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
            if not item.mentions:
                item.mentions = tuple(m.lower() for m in _MENTION.findall(item.text))
            targets = [self.cities.by_id[city_id]] if city_id is not None else self.router(item)
            for city in targets:
                if city.is_own(item.platform, item.author):
                    stats.own += 1
                    continue
                key = (city.id, item.platform)
                if key not in own_reply_ids:
                    with self.engine.connect() as conn:
                        own_reply_ids[key] = sent_reply_ids(
                            conn, city_id=city.id, platform=item.platform
                        )
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
                rows.setdefault(city.id, []).append(self._row(item, city.id, source_name, now))
        with self.engine.begin() as conn:
            for city_rows in rows.values():
                for i in range(0, len(city_rows), self.batch_size):
                    chunk = city_rows[i : i + self.batch_size]
                    new = insert_posts(conn, chunk)
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
    def _row(item: PostIn, city_id: int, source_name: str, now: datetime) -> dict[str, Any]:
        return {
            "city_id": city_id,
            "platform": item.platform,
            "external_id": item.external_id,
            "author": item.author,
            "text": item.text,
            "language": item.lang,
            "created_at": item.created_at,
            "url": item.url,
            "in_reply_to_id": item.in_reply_to_id,
            "conversation_id": item.conversation_id,
            "quote_of_id": item.quote_of_id,
            "lat": item.lat,
            "lon": item.lon,
            "raw": item.raw,
            "source_name": source_name,
            "collector_version": __version__,
            "ingested_at": now,
        }

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

    def classify_pending(self, *, limit: int | None = None) -> int:
        """Label every stored, unlabelled post in batches; returns how many were labelled."""
        done = 0
        for city in self.cities:
            classifier = self.classifier_for(city)
            while limit is None or done < limit:
                n = self.batch_size if limit is None else min(self.batch_size, limit - done)
                with self.engine.begin() as conn:
                    lock_for_write(conn)
                    batch = pending_posts(conn, city_id=city.id, limit=n)
                    if not batch:
                        break
                    ids = [pid for pid, _ in batch]
                    predictions = classifier.predict([text for _, text in batch])
                    store_labels(
                        conn,
                        city_id=city.id,
                        post_ids=ids,
                        predictions=predictions,
                        component=classifier.name,
                        version=classifier.version,
                        artifact_hash=classifier.artifact_hash,
                        now=self.clock(),
                    )
                done += len(batch)
                if self.after_classify is not None:
                    self.after_classify(city.id, ids)
        return done
