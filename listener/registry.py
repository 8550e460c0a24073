"""The source registry. Built-in sources register exactly as an add-on would::

    @register_source("replay")
    def make_replay(name, config, *, settings, clock=None, transports=None) -> Source: ...

Names are versioned by the factory when their config changes meaning (``"x.v2"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from listener.base import Source

SourceFactory = Callable[..., Source]
_REGISTRY: dict[str, SourceFactory] = {}


def register_source(kind: str) -> Callable[[SourceFactory], SourceFactory]:
    def decorator(factory: SourceFactory) -> SourceFactory:
        if kind in _REGISTRY and _REGISTRY[kind] is not factory:
            raise ValueError(f"source kind {kind!r} is already registered")
        _REGISTRY[kind] = factory
        return factory

    return decorator


def _load_builtins() -> None:
    import listener.bluesky  # noqa: F401
    import listener.mastodon  # noqa: F401
    import listener.reddit  # noqa: F401
    import listener.replay  # noqa: F401
    import listener.x  # noqa: F401


def available_sources() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def create_source(kind: str, name: str, config: dict[str, Any], **deps: Any) -> Source:
    _load_builtins()
    try:
        factory = _REGISTRY[kind]
    except KeyError:
        raise ValueError(
            f"unknown source kind {kind!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(name, config, **deps)
