"""Sources: the ``Source`` protocol and registry, one module per platform, the replay reader.

Every platform payload becomes a :class:`listener.base.PostIn` here, at the edge; nothing
past ``listener/`` imports a platform SDK.
"""

from listener.base import (
    AuthFailed,
    Deletion,
    Item,
    MalformedPayload,
    PostIn,
    Quarantined,
    RateLimited,
    Source,
    SourceError,
    SourceUnavailable,
)
from listener.registry import available_sources, create_source, register_source

__all__ = [
    "AuthFailed",
    "Deletion",
    "Item",
    "MalformedPayload",
    "PostIn",
    "Quarantined",
    "RateLimited",
    "Source",
    "SourceError",
    "SourceUnavailable",
    "available_sources",
    "create_source",
    "register_source",
]
