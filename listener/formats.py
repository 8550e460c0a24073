"""Payload formats the replay reader and ``civic-listener ingest`` understand.

A format turns one decoded JSON value into an :class:`~listener.base.Item` (a list of items
when one value holds several, as an API response page does; None when the value carries no
post) or raises :class:`~listener.base.MalformedPayload` with a reason a person can act on. ``post`` is the
project's own format; platform modules register theirs (``x``, ``mastodon``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from listener.base import PLATFORMS, Deletion, Item, MalformedPayload, PostIn

Normaliser = Callable[[Any], Item | list[Item] | None]
_FORMATS: dict[str, Normaliser] = {}
MAX_TEXT = 40_000


def register_format(name: str) -> Callable[[Normaliser], Normaliser]:
    def decorator(fn: Normaliser) -> Normaliser:
        _FORMATS[name] = fn
        return fn

    return decorator


def _load_platform_formats() -> None:
    """Platform modules register their formats when imported (with their sources)."""
    from listener.registry import _load_builtins

    _load_builtins()


def get_format(name: str) -> Normaliser:
    if name not in _FORMATS:
        _load_platform_formats()
    try:
        return _FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown format {name!r}; available: {', '.join(sorted(_FORMATS))}"
        ) from None


def formats() -> list[str]:
    _load_platform_formats()
    return sorted(_FORMATS)


def parse_time(value: Any, field: str = "created_at") -> datetime:
    """An aware UTC datetime from ISO 8601 text or epoch seconds."""
    if isinstance(value, bool) or value is None:
        raise MalformedPayload(f"{field} is missing")
    if isinstance(value, int | float):
        if not 0 <= value < 32_503_680_000 or not math.isfinite(value):  # huge ints first
            raise MalformedPayload(f"{field} is not a valid epoch time: {str(value)[:40]}")
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise MalformedPayload(f"{field} must be a string, got {type(value).__name__}")
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"{field} is not an ISO 8601 time: {value[:40]!r}") from None
    if dt.tzinfo is None:
        raise MalformedPayload(f"{field} has no time zone: {value[:40]!r}")
    return dt.astimezone(UTC)


def opt_str(obj: dict[str, Any], key: str, limit: int = 2048) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedPayload(f"{key} must be a string, got {type(value).__name__}")
    text = str(value)
    if len(text) > limit:
        raise MalformedPayload(f"{key} is longer than {limit} characters")
    return text


def opt_coord(obj: dict[str, Any], key: str, bound: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedPayload(f"{key} must be a number, got {type(value).__name__}")
    if abs(value) > bound or not math.isfinite(value):  # a huge int fails isfinite
        raise MalformedPayload(f"{key} is out of range: {str(value)[:40]}")
    return float(value)


def clean_text(value: Any, field: str = "text") -> str:
    if not isinstance(value, str):
        if value is None:
            raise MalformedPayload(f"{field} is missing")
        raise MalformedPayload(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise MalformedPayload(f"{field} is longer than {MAX_TEXT} characters")
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value


@register_format("post")
def normalise_post(obj: Any) -> Item:
    """The project's own post format (see README, "Post format")."""
    if not isinstance(obj, dict):
        raise MalformedPayload(f"a post must be a JSON object, got {type(obj).__name__}")
    platform = obj.get("platform")
    if not isinstance(platform, str) or platform not in PLATFORMS:
        raise MalformedPayload(f"platform must be one of {sorted(PLATFORMS)}, got {platform!r}")
    external_id = opt_str(obj, "external_id", 255)
    if not external_id:
        raise MalformedPayload("external_id is missing")
    if obj.get("deleted") is True:
        return Deletion(platform=platform, external_id=external_id)
    mentions = obj.get("mentions") or ()
    if not isinstance(mentions, list | tuple) or not all(isinstance(m, str) for m in mentions):
        raise MalformedPayload("mentions must be a list of strings")
    return PostIn(
        platform=platform,
        external_id=external_id,
        text=clean_text(obj.get("text")),
        created_at=parse_time(obj.get("created_at")),
        author=opt_str(obj, "author", 255) or "",
        author_id=opt_str(obj, "author_id", 255),
        url=opt_str(obj, "url"),
        lang=opt_str(obj, "lang", 16),
        in_reply_to_id=opt_str(obj, "in_reply_to_id", 255),
        conversation_id=opt_str(obj, "conversation_id", 255),
        repost_of_id=opt_str(obj, "repost_of_id", 255),
        quote_of_id=opt_str(obj, "quote_of_id", 255),
        lat=opt_coord(obj, "lat", 90),
        lon=opt_coord(obj, "lon", 180),
        mentions=tuple(mentions),
        city=opt_str(obj, "city", 64),
        raw=obj,
    )
