"""Each city replies from its own accounts: the outbox against two fake Mastodon instances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from civic_listener.cities import CityInfo
from civic_listener.settings import Settings, SettingsError, load_settings
from civic_listener.wiring import Services
from models.tables import Reply
from responders.replies.drafts import on_classified
from responders.replies.outbox import run_outbox
from responders.replies.senders import reply_accounts
from responders.replies.workflow import approve_reply
from tests.fakes.platform_writes import FakeMastodon
from tests.responders.replies_helpers import Clock, actors, add_post, desk, make_services

CITIES: dict[str, Any] = {
    "boston": {"name": "Boston"},
    "worcester": {
        "name": "Worcester",
        "mastodon_api_base_url": "set in the test",
        "mastodon_access_token_env": "WORCESTER_MASTODON_TOKEN",
    },
    "springfield": {"name": "Springfield"},
}


@pytest.fixture
def two_instances() -> Iterator[tuple[FakeMastodon, FakeMastodon]]:
    with FakeMastodon() as boston, FakeMastodon() as worcester:
        yield boston, worcester


def _services(
    db_url: str, boston: FakeMastodon, worcester: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> Services:
    monkeypatch.setenv("WORCESTER_MASTODON_TOKEN", FakeMastodon.TOKEN)
    cities = {slug: dict(c) for slug, c in CITIES.items()}
    cities["worcester"]["mastodon_api_base_url"] = worcester.base_url
    return make_services(
        db_url,
        Clock(),
        dry_run=False,
        default_city="boston",
        cities=cities,
        mastodon_api_base_url=boston.base_url,
        mastodon_access_token=FakeMastodon.TOKEN,
    )


def _city(settings: Settings, slug: str) -> CityInfo:
    return CityInfo(id=1, slug=slug, settings=settings.cities[slug])


def _approved(services: Services, slug: str, external_id: str) -> int:
    cid = services.cities.get(slug).id
    post = add_post(
        services,
        platform="mastodon",
        external_id=external_id,
        author="resident",
        text=f"Huge pothole on Main St in {slug}",
        city_id=cid,
    )
    on_classified(desk(services), cid, [post.id])  # type: ignore[list-item]
    with Session(services.engine) as s:
        reply = s.exec(select(Reply).where(Reply.post_id == post.id)).one()
    assert reply.id is not None
    approve_reply(desk(services), actor=actors(cid)["strategist"], city_id=cid, reply_id=reply.id)
    return reply.id


def test_each_city_replies_from_its_own_account(
    db_url: str,
    two_instances: tuple[FakeMastodon, FakeMastodon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boston, worcester = two_instances
    services = _services(db_url, boston, worcester, monkeypatch)
    try:
        d = desk(services)
        ids = {
            slug: _approved(services, slug, f"11350000000000000{i}")
            for i, slug in enumerate(CITIES, start=1)
        }
        report = run_outbox(d)
        assert sorted(report.sent) == sorted([ids["boston"], ids["worcester"]])
        # Springfield has no account of its own: its reply is not posted from Boston's
        assert report.dry_run == [ids["springfield"]]
        assert len(boston.statuses) == 1 and len(worcester.statuses) == 1
        assert "@resident" in boston.statuses[0]["content"]
        assert boston.statuses[0]["in_reply_to_id"] == "113500000000000001"
        assert worcester.statuses[0]["in_reply_to_id"] == "113500000000000002"
        assert d.sends_for_real("mastodon", services.cities.get("worcester").id)
        assert not d.sends_for_real("mastodon", services.cities.get("springfield").id)
        assert d.sends_for_real("mastodon")  # the default city
    finally:
        for sender in desk(services).all_senders():
            sender.close()
        services.close()


def test_default_city_falls_back_to_the_top_level_account_per_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOSTON_X_TOKEN", "city-token")
    monkeypatch.setenv("BOSTON_X_TOKEN_SECRET", "city-token-secret")
    settings = load_settings(
        replay_file=None,
        default_city="boston",
        cities={
            "boston": {
                "x_access_token_env": "BOSTON_X_TOKEN",
                "x_access_token_secret_env": "BOSTON_X_TOKEN_SECRET",
            },
            "worcester": {},
        },
        x_consumer_key="app-key",
        x_consumer_secret="app-secret",
        x_access_token="deployment-token",
        x_access_token_secret="deployment-token-secret",
        mastodon_api_base_url="https://mastodon.example",
        mastodon_access_token="deployment-mastodon",
    )

    boston = reply_accounts(settings, _city(settings, "boston"))
    # its own X account with the deployment's X app; Mastodon from the top level
    assert boston.x == ("app-key", "app-secret", "city-token", "city-token-secret")
    assert boston.mastodon == ("https://mastodon.example", "deployment-mastodon")
    worcester = reply_accounts(settings, _city(settings, "worcester"))
    assert worcester.x == ("app-key", "app-secret", None, None)
    assert worcester.mastodon == (None, None)


def test_a_named_variable_that_is_unset_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORCESTER_MASTODON_TOKEN", raising=False)
    settings = load_settings(
        replay_file=None,
        cities={
            "boston": {},
            "worcester": {
                "mastodon_api_base_url": "https://mastodon.example",
                "mastodon_access_token_env": "WORCESTER_MASTODON_TOKEN",
            },
        },
    )

    city = _city(settings, "worcester")
    with pytest.raises(SettingsError, match="cities.worcester.mastodon_access_token_env"):
        reply_accounts(settings, city)
    monkeypatch.setenv("WORCESTER_MASTODON_TOKEN", "changeme")
    with pytest.raises(SettingsError, match="placeholder"):
        reply_accounts(settings, city)


def test_half_an_account_is_refused() -> None:
    with pytest.raises(SettingsError, match="mastodon_access_token_env missing"):
        load_settings(
            replay_file=None,
            cities={"boston": {"mastodon_api_base_url": "https://mastodon.example"}},
        )
