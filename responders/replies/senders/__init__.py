"""One sender per platform (the only modules here that import platform SDKs), and
:func:`build_senders`, which builds those whose credentials are all configured."""

from __future__ import annotations

import httpx

from civic_listener.settings import Settings
from responders.replies.senders.base import OutgoingReply, ReplyTarget, Sender, SentReceipt

__all__ = ["OutgoingReply", "ReplyTarget", "Sender", "SentReceipt", "build_senders"]


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return get() if get is not None else None


def build_senders(
    settings: Settings, *, transports: dict[str, httpx.BaseTransport] | None = None
) -> dict[str, Sender]:
    """A sender for each platform whose sending credentials are complete."""
    senders: dict[str, Sender] = {}
    x = [
        _secret(settings.x_consumer_key),
        _secret(settings.x_consumer_secret),
        _secret(settings.x_access_token),
        _secret(settings.x_access_token_secret),
    ]
    if all(x):
        from responders.replies.senders.x import XSender

        ck, cs, at, ats = (v or "" for v in x)
        senders["x"] = XSender(
            consumer_key=ck, consumer_secret=cs, access_token=at, access_token_secret=ats
        )
    token = _secret(settings.mastodon_access_token)
    if settings.mastodon_api_base_url and token:
        from responders.replies.senders.mastodon import MastodonSender

        senders["mastodon"] = MastodonSender(
            api_base_url=settings.mastodon_api_base_url, access_token=token
        )
    password = _secret(settings.bluesky_app_password)
    if settings.bluesky_handle and password:
        from responders.replies.senders.bluesky import BlueskySender

        senders["bluesky"] = BlueskySender(
            handle=settings.bluesky_handle,
            app_password=password,
            pds_url=settings.bluesky_pds_url,
            transport=(transports or {}).get("bluesky_write"),
        )
    secret, rpass = _secret(settings.reddit_client_secret), _secret(settings.reddit_password)
    if settings.reddit_client_id and secret and settings.reddit_username and rpass:
        from responders.replies.senders.reddit import RedditSender

        senders["reddit"] = RedditSender(
            client_id=settings.reddit_client_id,
            client_secret=secret,
            username=settings.reddit_username,
            password=rpass,
            user_agent=settings.reddit_user_agent,
        )
    return senders
