"""Routing posts from a shared source to the city they are about."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener.routing import STATE_QUEUE
from civic_listener.service import run_once
from civic_listener.settings import load_settings
from civic_listener.wiring import Services, build_services
from listener.replay import ReplaySource
from models.store import POST
from models.tables import City
from tests.fakes.classifier import KeywordClassifier
from tests.helpers import post, write_jsonl
from tests.multicity import three_cities


@pytest.fixture
def state(db_url: str) -> Iterator[Services]:
    settings = load_settings(
        database_url=db_url,
        replay_file=None,
        health_port=0,
        cities=three_cities(),
        default_city="boston",
    )
    svc = build_services(settings, classifier=KeywordClassifier())
    yield svc
    svc.close()


def _cities_of(svc: Services) -> dict[str, set[str]]:
    with svc.engine.connect() as conn:
        rows = conn.execute(
            sa.select(POST.c.external_id, City.slug).join(City, City.id == POST.c.city_id)
        ).all()
    out: dict[str, set[str]] = {}
    for ext, slug in rows:
        out.setdefault(ext, set()).add(slug)
    return out


def test_routing_by_mention_place_and_coordinates(state: Services, tmp_path: Path) -> None:
    rows = [
        post(1, "@WorcesterMA the streetlight on my block is out"),
        post(2, "pothole near Elm Park is eating tires"),
        post(
            3, "huge pothole, someone fix it", lat=42.105, lon=-72.55
        ),  # Springfield by coordinates
        post(4, "trash everywhere in Dorchester"),
        post(5, "pothole on Main St"),  # every town has a Main St: state queue
        post(6, "Snow not cleared between Tatnuck and Indian Orchard on the Pike"),  # two cities
        post(
            7, "Boston's @SpringfieldMA311 friends: pothole", city="boston"
        ),  # source named the city
    ]
    state.sources = [ReplaySource("statewide", write_jsonl(tmp_path / "s.jsonl", rows))]
    report = run_once(state)
    assert report.stats.stored == 8  # post 6 is stored for both cities
    got = _cities_of(state)
    assert got["1000001"] == {"worcester"}
    assert got["1000002"] == {"worcester"}
    assert got["1000003"] == {"springfield"}
    assert got["1000004"] == {"boston"}
    assert got["1000005"] == {STATE_QUEUE}
    assert got["1000006"] == {"worcester", "springfield"}
    assert got["1000007"] == {"boston"}


def test_each_citys_own_accounts_are_not_imported(state: Services, tmp_path: Path) -> None:
    rows = [post(1, "@WorcesterMA thanks, case opened", author="WorcesterMA")]
    state.sources = [ReplaySource("statewide", write_jsonl(tmp_path / "s.jsonl", rows))]
    assert run_once(state).stats.own == 1
    assert _cities_of(state) == {}


def test_single_city_needs_no_routing(services: Services, tmp_path: Path) -> None:
    services.sources = [
        ReplaySource("r", write_jsonl(tmp_path / "s.jsonl", [post(1, "pothole on Main St")]))
    ]
    run_once(services)
    assert _cities_of(services) == {"1000001": {"default"}}
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(City.slug)).scalars().all() == ["default"]
