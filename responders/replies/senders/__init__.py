"""One sender per platform (the only modules here that import platform SDKs), and
:func:`build_senders`, which builds those whose credentials are all configured for a city:
each city replies from its own accounts."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from civic_listener.cities import CityInfo
from civic_listener.settings import Settings, env_secret
from responders.replies.senders.base import OutgoingReply, ReplyTarget, Sender, SentReceipt

__all__ = [
    "OutgoingReply",
    "ReplyAccounts",
    "ReplyTarget",
    "Sender",
    "SentReceipt",
    "build_senders",
    "reply_accounts",
]


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return get() if get is not None else None


@dataclass(frozen=True)
class ReplyAccounts:
    """The credentials one city sends replies with (every value a plain string or None)."""

    x: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)
    mastodon: tuple[str | None, str | None] = (None, None)  # instance URL, token
    bluesky: tuple[str | None, str | None, str] = (None, None, "https://bsky.social")
    reddit: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)


def reply_accounts(settings: Settings, city: CityInfo | None = None) -> ReplyAccounts:
    """The accounts ``city`` replies from: its own (``[cities.<slug>]``: non-secret parts and the
    names of the environment variables holding the secrets) with the deployment's X and Reddit
    apps. The default city (or ``None``) uses the top-level account of each platform where it
    names none of its own; another city has only its own."""
    if city is None:
        cs, slug, is_default = None, settings.default_city, True
    else:
        cs, slug, is_default = city.settings, city.slug, city.slug == settings.default_city

    def own(field: str) -> str | None:
        name = getattr(cs, field, None) if cs is not None else None
        return _secret(env_secret(name, f"cities.{slug}.{field}"))

    def whole(mine: tuple[str | None, ...], top: tuple[str | None, ...]) -> tuple[str | None, ...]:
        # an account is taken whole, the city's own or the deployment's, never half of each
        return mine if any(mine) or not is_default else top

    x = whole(
        (own("x_access_token_env"), own("x_access_token_secret_env")),
        (_secret(settings.x_access_token), _secret(settings.x_access_token_secret)),
    )
    mastodon = whole(
        (cs.mastodon_api_base_url if cs else None, own("mastodon_access_token_env")),
        (settings.mastodon_api_base_url, _secret(settings.mastodon_access_token)),
    )
    bluesky_mine = (cs.bluesky_handle if cs else None, own("bluesky_app_password_env"))
    bluesky = whole(bluesky_mine, (settings.bluesky_handle, _secret(settings.bluesky_app_password)))
    pds = (
        cs.bluesky_pds_url if cs and bluesky is bluesky_mine else None
    ) or settings.bluesky_pds_url
    reddit = whole(
        (cs.reddit_username if cs else None, own("reddit_password_env")),
        (settings.reddit_username, _secret(settings.reddit_password)),
    )
    return ReplyAccounts(
        x=(_secret(settings.x_consumer_key), _secret(settings.x_consumer_secret), x[0], x[1]),
        mastodon=(mastodon[0], mastodon[1]),
        bluesky=(bluesky[0], bluesky[1], pds),
        reddit=(
            settings.reddit_client_id,
            _secret(settings.reddit_client_secret),
            reddit[0],
            reddit[1],
        ),
    )


def build_senders(
    settings: Settings,
    *,
    city: CityInfo | None = None,
    transports: dict[str, httpx.BaseTransport] | None = None,
) -> dict[str, Sender]:
    """A sender for each platform whose sending credentials are complete for ``city`` (its own
    accounts, see :func:`reply_accounts`; ``None``: the default city's)."""
    acc = reply_accounts(settings, city)
    senders: dict[str, Sender] = {}
    if all(acc.x):
        from responders.replies.senders.x import XSender

        ck, cs, at, ats = (v or "" for v in acc.x)
        senders["x"] = XSender(
            consumer_key=ck, consumer_secret=cs, access_token=at, access_token_secret=ats
        )
    url, token = acc.mastodon
    if url and token:
        from responders.replies.senders.mastodon import MastodonSender

        senders["mastodon"] = MastodonSender(api_base_url=url, access_token=token)
    handle, password, pds_url = acc.bluesky
    if handle and password:
        from responders.replies.senders.bluesky import BlueskySender

        senders["bluesky"] = BlueskySender(
            handle=handle,
            app_password=password,
            pds_url=pds_url,
            transport=(transports or {}).get("bluesky_write"),
        )
    client_id, secret, username, rpass = acc.reddit
    if client_id and secret and username and rpass:
        from responders.replies.senders.reddit import RedditSender

        senders["reddit"] = RedditSender(
            client_id=client_id,
            client_secret=secret,
            username=username,
            password=rpass,
            user_agent=settings.reddit_user_agent,
        )
    return senders
