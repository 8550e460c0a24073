"""The reply composer on the post view (filled in by the replies work)."""

from __future__ import annotations

from typing import Any


def render_composer(ctx: Any, post: dict[str, Any]) -> None:
    """Template picker, preview with the platform's length count, approve, send."""
