"""File-a-case and link-to-case actions on the post view (filled in by the cases work)."""

from __future__ import annotations

from typing import Any


def render_case_actions(ctx: Any, post: dict[str, Any]) -> None:
    """Service, description and location prefilled and editable; file or link."""
