"""What a reply costs to post, for the composer: X bills every post on its pay-per-use API,
and a post containing a link at a much higher rate than plain text."""

from __future__ import annotations

from civic_listener.settings import Settings
from responders.replies.length import find_urls


def x_post_cost(settings: Settings, text: str) -> float:
    return settings.x_link_post_cost_usd if find_urls(text) else settings.x_post_cost_usd


def cost_note(settings: Settings, platform: str, text: str) -> str | None:
    """A sentence about the price of posting ``text`` on ``platform`` (None when free)."""
    if platform != "x":
        return None
    plain, link = settings.x_post_cost_usd, settings.x_link_post_cost_usd
    ratio = f" ({link / plain:.0f}× plain text)" if plain else ""
    if find_urls(text):
        return (
            f"X bills this reply ${link:.3f}: it contains a link, and a post with a link costs "
            f"${link:.3f} instead of ${plain:.3f}{ratio}. Drop the link to pay the plain rate."
        )
    return f"X bills this reply ${plain:.3f}. Adding a link would raise it to ${link:.3f}{ratio}."
