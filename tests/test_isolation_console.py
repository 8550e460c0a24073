"""The console with three cities in one database: the city picker offers only the cities a
person has a role in, every page shows the picked city's rows only, a post or case of
another city is "not found", and only a state admin sees the roll-up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from civic_listener.wiring import Services, build_services
from models.auth import Actor, PermissionDenied
from models.console import dismiss_posts
from responders.open311 import cases_of
from responders.open311.actions import file_case
from tests.fakes.classifier import KeywordClassifier
from tests.test_isolation import cid, person, seed, state_settings
from tests.ui.conftest import APP
from ui.views.rollup import open_rollup, rollup, state_queue

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def state(db_url: str) -> Iterator[Services]:
    svc = build_services(state_settings(db_url), classifier=KeywordClassifier())
    yield svc
    svc.close()


@pytest.fixture
def ids(state: Services, tmp_path: Path) -> dict[str, dict[str, int]]:
    out = seed(state, tmp_path)
    state.clock = lambda: NOW
    return out


Console = Callable[..., AppTest]


@pytest.fixture
def console(state: Services) -> Console:
    def make(actor: Actor, page: str | None = None, **session: object) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.session_state["services"] = state
        at.session_state["actor"] = actor
        for key, value in session.items():
            at.session_state[key] = value
        if page:
            at._page_hash = calc_hash(page)
        return at.run()

    return make


def shown_ids(at: AppTest, key: str = "inbox_table") -> set[int]:
    frame = next(df for df in at.dataframe if df.proto.id and key in df.proto.id)
    return set(int(i) for i in frame.value["id"])


def city_picker(at: AppTest) -> list[str] | None:
    picker = [s for s in at.sidebar.selectbox if s.label == "City"]
    return list(picker[0].options) if picker else None


def test_a_one_city_person_sees_only_that_city(
    console: Console, state: Services, ids: dict[str, dict[str, int]]
) -> None:
    at = console(person(state, worcester="viewer"))
    assert not at.exception
    assert city_picker(at) is None  # one city: nothing to pick
    assert "Worcester" in at.title[0].value
    assert shown_ids(at) == set(ids["worcester"].values())
    # a saved city of another deployment's choice is not honoured
    at = console(person(state, worcester="viewer"), city="boston")
    assert "Worcester" in at.title[0].value
    assert shown_ids(at) == set(ids["worcester"].values())


def test_the_city_picker_offers_the_persons_cities_with_their_role_in_each(
    console: Console, state: Services, ids: dict[str, dict[str, int]]
) -> None:
    two = person(state, boston="strategist", worcester="viewer")
    at = console(two)
    assert city_picker(at) == ["Boston", "Worcester"] or city_picker(at) == ["boston", "worcester"]
    assert "strategist" in at.sidebar.caption[0].value
    assert shown_ids(at) == set(ids["boston"].values())
    at.sidebar.selectbox[0].select("worcester").run()
    assert not at.exception
    assert "Worcester" in at.title[0].value
    assert "viewer" in at.sidebar.caption[0].value
    assert shown_ids(at) == set(ids["worcester"].values())
    # the viewer role applies in Worcester: no dismissing there
    assert at.button(key="bulk_dismiss").disabled
    # a city the person has no role in cannot be picked, even by setting the session's city
    at = console(two, city="springfield")
    assert not at.exception
    assert "Springfield" not in at.title[0].value
    assert shown_ids(at) & set(ids["springfield"].values()) == set()


def test_another_citys_post_or_case_is_not_found(
    console: Console, state: Services, ids: dict[str, dict[str, int]]
) -> None:
    worcester = person(state, worcester="admin")
    boston_post = ids["boston"]["boston"]
    at = console(worcester, page="post", post_id=boston_post)
    assert not at.exception
    assert any("No post" in w.value for w in at.warning)
    assert all("Dorchester" not in m.value for m in at.markdown)
    at = console(worcester, page="post", post_id=ids["worcester"]["worcester"])
    assert any("Elm Park" in m.value for m in at.markdown)

    boston_case = file_case(
        cases_of(state).desk,
        person(state, boston="strategist"),
        city_id=cid(state, "boston"),
        post_id=boston_post,
        service_code="REQPOTHL",
        description="Dorchester pothole",
        address_string="1 Dorchester Ave",
    )
    at = console(worcester, page="cases")
    at.number_input(key="case_id").set_value(boston_case).run()
    assert not at.exception
    assert any(f"No case {boston_case}" in w.value for w in at.warning)
    assert all("Dorchester pothole" not in t.value for t in at.text)


def test_the_audit_page_shows_the_citys_events_only(
    console: Console, state: Services, ids: dict[str, dict[str, int]]
) -> None:
    dismiss_posts(
        state.engine,
        person(state, boston="staff"),
        city_id=cid(state, "boston"),
        post_ids=[ids["boston"]["boston"]],
    )
    state.clock = lambda: datetime.now(UTC)
    at = console(person(state, worcester="admin"), page="audit")
    assert not at.exception
    actions = set()
    for frame in at.dataframe:
        if "action" in frame.value:
            actions |= set(frame.value["action"])
    assert "post.dismiss" not in actions
    at = console(person(state, boston="admin"), page="audit")
    actions = {a for f in at.dataframe if "action" in f.value for a in f.value["action"]}
    assert "post.dismiss" in actions


def test_only_a_state_admin_sees_the_rollup(
    console: Console, state: Services, ids: dict[str, dict[str, int]]
) -> None:
    admin_of_all = person(state, boston="admin", worcester="admin", springfield="admin")
    at = console(admin_of_all, page="rollup")
    assert not at.exception
    assert all("roll-up" not in t.value for t in at.title)  # not in the menu: the inbox instead
    with pytest.raises(PermissionDenied):
        open_rollup(state, admin_of_all)

    boss = Actor("boss", state_admin=True)
    at = console(boss, page="rollup")
    assert not at.exception
    assert at.title[0].value == "State roll-up"
    table = next(f.value for f in at.dataframe if "open cases" in f.value)
    assert list(table["city"]) == ["Boston", "Worcester", "Springfield"]
    queue = next(f.value for f in at.dataframe if "text" in f.value)
    assert list(queue["id"]) == list(ids["_state"].values())
    # the state admin's picker offers every city and the state queue
    assert len(city_picker(at) or []) == 4


def test_rollup_figures_per_city(state: Services, ids: dict[str, dict[str, int]]) -> None:
    boss = Actor("boss", state_admin=True)
    rows = {f.slug: f for f in rollup(state, open_rollup(state, boss), days=7, now=NOW)}
    assert set(rows) == {"boston", "worcester", "springfield"}
    assert (rows["boston"].posts, rows["worcester"].posts, rows["springfield"].posts) == (1, 2, 2)
    assert rows["worcester"].open_cases >= 1  # triage waits on a person for the streetlight
    assert rows["springfield"].target_minutes == 240
    total, queue = state_queue(state, open_rollup(state, boss))
    assert total == 1 and queue[0]["text"] == "pothole on Main St"
