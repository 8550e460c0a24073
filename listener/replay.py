"""The replay source: JSON Lines of posts, as fast as possible or at real time x N.

It is the embedded default source (the demo stream) and the way to backfill from files.
The cursor is the byte offset after the last line read, so a restart resumes at the next
line. A line that is not valid UTF-8 or JSON, or fails its format's checks, becomes a
quarantined item with its reason; the replay goes on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from listener.base import Item, MalformedPayload, PostIn, Quarantined
from listener.formats import get_format
from listener.registry import register_source

MAX_LINE = 1_000_000


class ReplaySource:
    finite = True

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        fmt: str = "post",
        speed: float = 0.0,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.fmt = fmt
        self.normalise = get_format(fmt)
        self.speed = speed
        self._sleep = sleep

    def iter_items(self, cursor: str | None, stop: threading.Event) -> Iterator[Item]:
        offset = int(cursor) if cursor else 0
        wait = self._sleep or stop.wait
        first_ts: float | None = None
        started = time.monotonic()
        with self.path.open("rb") as fh:
            fh.seek(offset)
            for raw in fh:
                if stop.is_set():
                    return
                line_start = offset
                offset += len(raw)
                line = raw.strip()
                if not line:
                    continue
                for item in self._decode(line, str(line_start), str(offset)):
                    if not self._pace(item, wait, started, first_ts, stop):
                        return
                    if first_ts is None and isinstance(item, PostIn):
                        first_ts = item.created_at.timestamp()
                    yield item

    def _pace(
        self,
        item: Item,
        wait: Callable[[float], Any],
        started: float,
        first_ts: float | None,
        stop: threading.Event,
    ) -> bool:
        """Wait until ``item`` is due at ``speed``; False when stopped meanwhile."""
        if self.speed <= 0 or not isinstance(item, PostIn):
            return True
        ts = item.created_at.timestamp()
        due = started + (ts - (ts if first_ts is None else first_ts)) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            wait(delay)
            if stop.is_set():
                return False
        return True

    def _decode(self, line: bytes, start: str, cursor: str) -> list[Item]:
        """The items of one line. When a line holds several (an API page), all but the last
        carry the line's start as cursor: a restart re-reads the line rather than skip any."""
        try:
            if len(line) > MAX_LINE:
                raise MalformedPayload(f"line is longer than {MAX_LINE} bytes")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedPayload(f"not valid UTF-8 at byte {exc.start}") from None
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MalformedPayload(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
            except RecursionError:
                raise MalformedPayload("JSON nested too deeply") from None
            except ValueError as exc:  # e.g. an integer of more than 4,300 digits
                raise MalformedPayload(f"not valid JSON: {exc}") from None
            item = self.normalise(obj)
        except MalformedPayload as exc:
            return [Quarantined(raw=line, reason=f"{self.fmt}: {exc}", cursor=cursor)]
        items = [] if item is None else item if isinstance(item, list) else [item]
        for i, one in enumerate(items):
            one.cursor = cursor if i == len(items) - 1 else start
        return items


@register_source("replay")
def make_replay(name: str, config: dict[str, Any], **_deps: Any) -> ReplaySource:
    path = config.get("path")
    if not path:
        raise ValueError(f"source {name!r}: replay needs a path")
    return ReplaySource(
        name,
        Path(path),
        fmt=config.get("format", "post"),
        speed=float(config.get("speed", 0.0)),
        sleep=_deps.get("sleep"),
    )
