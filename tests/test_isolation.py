"""Three cities sharing one database: each city's posts, cases, replies and audit events are
kept apart in every function, command and export; Open311 endpoints, templates, languages
and place names are each city's own."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from civic_listener.cli import main
from civic_listener.routing import STATE_QUEUE
from civic_listener.service import run_once
from civic_listener.settings import load_settings
from civic_listener.wiring import CityClassifier, Services, build_services
from listener.replay import ReplaySource
from models.auth import Actor, PermissionDenied, create_user, reset_password, set_active
from models.console import assign_posts, dismiss_posts, relabel_posts, reopen_post
from models.queries import InboxFilter, inbox_page, post_detail, thread
from models.scope import Scope, open_scope, open_state_scope, scopes_for, system_scope
from models.store import POST
from models.tables import AuditEvent, Post, Reply, ServiceRequest, User
from responders.open311 import cases_of
from responders.open311.actions import file_case, link_post
from responders.open311.cases import CaseActionError
from responders.open311.queries import case_detail, case_history, case_list
from responders.replies import desk_for
from responders.replies.drafts import draft_reply, preview
from responders.replies.errors import ReplyNotFound
from responders.replies.queries import audit_events, reply_queue
from responders.replies.templates import delete_template, list_templates, save_template
from responders.replies.workflow import approve_reply, edit_reply
from tests.fakes.classifier import KeywordClassifier
from tests.fakes.open311 import FakeOpen311
from tests.helpers import post, write_jsonl
from tests.multicity import three_cities

# What each post is about, and where routing sends it (by mention, place name, coordinates).
POSTS = {
    "worcester": post(1, "@WorcesterMA streetlight out by Elm Park, please fix"),
    "boston": post(2, "pothole on Dorchester Ave is eating tires"),
    "springfield": post(3, "trash piled up for a week", lat=42.105, lon=-72.55),
    "both": post(4, "Snow not cleared between Tatnuck and Indian Orchard"),
    "nowhere": post(5, "pothole on Main St"),
}


def state_settings(db_url: str, **overrides: Any) -> Any:
    return load_settings(
        database_url=db_url,
        replay_file=None,
        health_port=0,
        cities=overrides.pop("cities", three_cities()),
        default_city="boston",
        **overrides,
    )


def seed(svc: Services, tmp_path: Path) -> dict[str, dict[str, int]]:
    """Ingest POSTS from one shared source; returns post ids by city slug and post name."""
    path = write_jsonl(tmp_path / "statewide.jsonl", list(POSTS.values()))
    svc.sources = [ReplaySource("statewide", path)]
    run_once(svc)
    names = {row["external_id"]: name for name, row in POSTS.items()}
    out: dict[str, dict[str, int]] = {}
    with svc.engine.connect() as conn:
        for pid, cid, ext in conn.execute(sa.select(POST.c.id, POST.c.city_id, POST.c.external_id)):
            out.setdefault(svc.cities.by_id[cid].slug, {})[names[ext]] = pid
    return out


@pytest.fixture
def state(db_url: str) -> Iterator[Services]:
    svc = build_services(state_settings(db_url), classifier=KeywordClassifier())
    yield svc
    svc.close()


@pytest.fixture
def ids(state: Services, tmp_path: Path) -> dict[str, dict[str, int]]:
    return seed(state, tmp_path)


def cid(svc: Services, slug: str) -> int:
    return svc.cities.get(slug).id


def person(svc: Services, **roles: str) -> Actor:
    return Actor("-".join(roles) or "nobody", roles={cid(svc, s): r for s, r in roles.items()})


# --------------------------------------------------------------------------- routing


def test_posts_are_stored_for_the_cities_they_are_about(ids: dict[str, dict[str, int]]) -> None:
    assert set(ids["worcester"]) == {"worcester", "both"}
    assert set(ids["springfield"]) == {"springfield", "both"}
    assert set(ids["boston"]) == {"boston"}
    assert set(ids[STATE_QUEUE]) == {"nowhere"}
    # a post about two cities is two rows, one per city, each the city's own
    assert ids["worcester"]["both"] != ids["springfield"]["both"]


# --------------------------------------------------------------------------- the scope


def test_a_scope_is_opened_only_where_the_actor_has_a_role(state: Services) -> None:
    w, b = cid(state, "worcester"), cid(state, "boston")
    alice = person(state, worcester="viewer")
    assert open_scope(alice, w).city_id == w
    with pytest.raises(PermissionDenied):
        open_scope(alice, b)
    with pytest.raises(PermissionDenied):
        open_scope(alice, w, "reply.approve")  # a viewer's role does not allow it
    with pytest.raises(TypeError):
        Scope(alice, b)  # no way around open_scope
    assert [s.city_id for s in scopes_for(alice, [c.id for c in state.cities])] == [w]
    with pytest.raises(PermissionDenied):
        open_state_scope(alice, [w, b])
    boss = Actor("boss", state_admin=True)
    assert len(scopes_for(boss, [c.id for c in state.cities])) == 4  # with the state queue
    assert set(open_state_scope(boss, [w, b]).city_ids) == {w, b}
    assert system_scope(b).can("settings.manage")


def test_a_by_id_read_of_another_citys_row_is_not_found(
    state: Services, ids: dict[str, dict[str, int]]
) -> None:
    scope = open_scope(person(state, worcester="admin"), cid(state, "worcester"))
    with Session(state.engine) as s:
        own = scope.fetch(s, Post, ids["worcester"]["worcester"])
        assert own.city_id == scope.city_id
        for pid in (ids["boston"]["boston"], ids["springfield"]["both"], 10**9):
            with pytest.raises(LookupError, match="no post"):
                scope.fetch(s, Post, pid)


# --------------------------------------------------------------------------- functions


def test_a_city_cannot_read_or_change_another_citys_posts(
    state: Services, ids: dict[str, dict[str, int]]
) -> None:
    e = state.engine
    w = cid(state, "worcester")
    admin = person(state, worcester="admin")
    boston_post = ids["boston"]["boston"]
    # asking for Boston by its own id: refused before anything is read
    for call in (
        lambda: dismiss_posts(e, admin, city_id=cid(state, "boston"), post_ids=[boston_post]),
        lambda: assign_posts(
            e, admin, city_id=cid(state, "boston"), post_ids=[boston_post], assignee=None
        ),
    ):
        with pytest.raises(PermissionDenied):
            call()
    # asking in Worcester for a Boston post id: not found, nothing changes
    assert post_detail(e, city_id=w, post_id=boston_post) is None
    assert dismiss_posts(e, admin, city_id=w, post_ids=[boston_post]) == 0
    assert assign_posts(e, admin, city_id=w, post_ids=[boston_post], assignee=None) == 0
    with pytest.raises(LookupError):
        relabel_posts(e, admin, city_id=w, post_ids=[boston_post], task="topic", label="trash")
    with pytest.raises(LookupError):
        reopen_post(e, admin, city_id=w, post_id=boston_post)
    with e.connect() as conn:
        row = conn.execute(sa.select(POST).where(POST.c.id == boston_post)).one()
    assert (row.status, row.topic) == ("new", "pothole")
    # the inbox and the thread of a Worcester post show Worcester's rows only
    rows = inbox_page(e, city_id=w, filters=InboxFilter(), order="newest")
    assert {r["id"] for r in rows} == set(ids["worcester"].values())
    detail = post_detail(e, city_id=w, post_id=ids["worcester"]["both"])
    assert detail is not None
    assert {r["id"] for r in thread(e, city_id=w, post=detail)} <= set(ids["worcester"].values())


def test_a_post_about_two_cities_is_handled_by_each_on_its_own(
    state: Services, ids: dict[str, dict[str, int]]
) -> None:
    e = state.engine
    w, s = cid(state, "worcester"), cid(state, "springfield")
    dismiss_posts(
        e, person(state, worcester="staff"), city_id=w, post_ids=[ids["worcester"]["both"]]
    )
    assert post_detail(e, city_id=w, post_id=ids["worcester"]["both"])["status"] == "dismissed"  # type: ignore[index]
    assert post_detail(e, city_id=s, post_id=ids["springfield"]["both"])["status"] == "new"  # type: ignore[index]


def test_a_city_cannot_read_or_change_another_citys_replies(
    state: Services, ids: dict[str, dict[str, int]]
) -> None:
    desk = desk_for(state)
    w, b = cid(state, "worcester"), cid(state, "boston")
    strategist = person(state, worcester="strategist")
    boston_reply = draft_reply(
        desk, actor=person(state, boston="staff"), city_id=b, post_id=ids["boston"]["boston"]
    )
    assert boston_reply.id is not None
    with pytest.raises(ReplyNotFound):
        draft_reply(desk, actor=strategist, city_id=w, post_id=ids["boston"]["boston"])
    with pytest.raises(ReplyNotFound):
        preview(desk, city_id=w, post_id=ids["boston"]["boston"])
    with pytest.raises(ReplyNotFound):
        approve_reply(desk, actor=strategist, city_id=w, reply_id=boston_reply.id)
    with pytest.raises(ReplyNotFound):
        edit_reply(desk, actor=strategist, city_id=w, reply_id=boston_reply.id, text="mine now")
    with pytest.raises(PermissionDenied):
        approve_reply(desk, actor=strategist, city_id=b, reply_id=boston_reply.id)
    queue = reply_queue(state.engine, city_id=w, states=("draft", "approved"))
    assert boston_reply.id not in {r["id"] for r in queue}
    with Session(state.engine) as s:
        still = s.get(Reply, boston_reply.id)
        assert still is not None and (still.state, still.approved_by) == ("draft", None)


def test_a_city_cannot_read_or_change_another_citys_cases(
    state: Services, ids: dict[str, dict[str, int]]
) -> None:
    desk = cases_of(state).desk
    w, b = cid(state, "worcester"), cid(state, "boston")
    strategist = person(state, worcester="strategist")
    boston_case = file_case(
        desk,
        person(state, boston="strategist"),
        city_id=b,
        post_id=ids["boston"]["boston"],
        service_code="REQPOTHL",
        description="pothole",
        address_string="1 Dorchester Ave",
    )
    assert case_detail(state.engine, city_id=w, case_id=boston_case) is None
    assert case_history(state.engine, city_id=w, case_id=boston_case) == []
    assert all(
        boston_case not in {r["id"] for r in case_list(state.engine, city_id=w, view=v)}
        for v in ("waiting", "outbox", "not filed")
    )
    with pytest.raises(CaseActionError):  # a Worcester post cannot join a Boston case
        link_post(
            desk, strategist, city_id=w, post_id=ids["worcester"]["worcester"], case_id=boston_case
        )
    with pytest.raises(CaseActionError):  # nor can a Boston post be filed from Worcester
        file_case(
            desk,
            strategist,
            city_id=w,
            post_id=ids["boston"]["boston"],
            service_code="REQPOTHL",
            description="x",
            address_string="y",
        )
    with pytest.raises(CaseActionError):  # nor a Boston case be filed again from Worcester
        file_case(
            desk,
            strategist,
            city_id=w,
            post_id=None,
            case_id=boston_case,
            service_code="REQPOTHL",
            description="x",
            address_string="y",
        )
    with state.engine.connect() as conn:
        linked = conn.execute(
            sa.select(POST.c.case_id).where(POST.c.id == ids["worcester"]["worcester"])
        ).scalar()
    assert linked != boston_case


def test_audit_events_stay_in_their_city(state: Services, ids: dict[str, dict[str, int]]) -> None:
    e = state.engine
    w, b = cid(state, "worcester"), cid(state, "boston")
    dismiss_posts(e, person(state, boston="staff"), city_id=b, post_ids=[ids["boston"]["boston"]])
    seen = audit_events(e, city_id=w)
    assert all(ev["action"] != "post.dismiss" for ev in seen)
    assert any(ev["action"] == "post.dismiss" for ev in audit_events(e, city_id=b))
    with e.connect() as conn:
        cities = set(conn.execute(sa.select(AuditEvent.city_id)).scalars())  # type: ignore[call-overload]
    assert b in cities


def test_a_city_admin_cannot_take_over_an_account_of_another_city(state: Services) -> None:
    e = state.engine
    w, b = cid(state, "worcester"), cid(state, "boston")
    shared = create_user(
        e, username="pat", password="a-long-password-1", roles={w: "viewer", b: "strategist"}
    )
    own = create_user(e, username="lee", password="a-long-password-2", roles={w: "staff"})
    worcester_admin = person(state, worcester="admin")
    with pytest.raises(PermissionDenied, match="another city"):
        reset_password(e, worcester_admin, city_id=w, user_id=shared, password="taken-over-123")
    with pytest.raises(PermissionDenied, match="another city"):
        set_active(e, worcester_admin, city_id=w, user_id=shared, active=False)
    reset_password(e, worcester_admin, city_id=w, user_id=own, password="new-password-123")
    both_admin = person(state, worcester="admin", boston="admin")
    set_active(e, both_admin, city_id=w, user_id=shared, active=False)
    with Session(e) as s:
        user = s.get(User, shared)
        assert user is not None and not user.is_active


# --------------------------------------------------------------------------- per-city models


def test_each_city_finds_places_with_its_own_gazetteer(
    state: Services, ids: dict[str, dict[str, int]]
) -> None:
    w, b = state.cities.get("worcester"), state.cities.get("boston")
    assert isinstance(state.classifier_for(w), CityClassifier)
    assert state.classifier_for(b) is state.classifier  # the default city: the shared one
    worcester = post_detail(state.engine, city_id=w.id, post_id=ids["worcester"]["worcester"])
    assert worcester is not None and worcester["location_text"] == "Elm Park"
    assert worcester["neighborhood"] == "Tatnuck"
    springfield = post_detail(
        state.engine,
        city_id=cid(state, "springfield"),
        post_id=ids["springfield"]["both"],
    )
    assert springfield is not None and springfield["neighborhood"] == "Indian Orchard"
    boston = post_detail(state.engine, city_id=b.id, post_id=ids["boston"]["boston"])
    assert boston is not None and boston["neighborhood"] == "Dorchester"


def test_a_city_view_shares_the_model_and_swaps_only_places(real_classifier: Any) -> None:
    from civic_listener.settings import CitySettings

    cs = CitySettings(**three_cities()["worcester"])  # type: ignore[arg-type]
    view = CityClassifier.for_city(real_classifier, cs)
    text = "huge pothole near Elm Park, fix it"
    shared, mine = real_classifier.predict([text])[0], view.predict([text])[0]
    assert view.base is real_classifier and view.artifact_hash == real_classifier.artifact_hash
    assert [loc.text for loc in mine.locations] == ["Elm Park"]
    assert replace(mine, locations=shared.locations) == shared


# --------------------------------------------------------------------------- templates, languages


class UnknownLanguage(KeywordClassifier):
    """Labels like the keyword classifier, but cannot tell the language."""

    def predict(self, texts: Any) -> Any:
        return [replace(p, language="und") for p in super().predict(texts)]


def test_replies_use_each_citys_templates_and_language(db_url: str, tmp_path: Path) -> None:
    svc = build_services(state_settings(db_url), classifier=UnknownLanguage())
    try:
        w, s = cid(svc, "worcester"), cid(svc, "springfield")
        save_template(
            svc.engine,
            actor=person(svc, worcester="admin"),
            city_id=w,
            key="topic:streetlight",
            language="en",
            body="{handle} Worcester DPW has it. Thank you!",
        )
        ids = seed(svc, tmp_path)
        drafts = {
            slug: {r["post_id"]: r for r in reply_queue(svc.engine, city_id=cid(svc, slug))}
            for slug in ("worcester", "springfield", "boston")
        }
        spring = drafts["springfield"][ids["springfield"]["springfield"]]
        assert spring["language"] == "es"  # Springfield's default language
        worc = drafts["worcester"][ids["worcester"]["worcester"]]
        assert worc["language"] == "en"
        assert worc["template_key"] == "topic:streetlight"
        assert worc["text"].endswith("Worcester DPW has it. Thank you!")
        assert all("Worcester DPW" not in r["text"] for r in drafts["boston"].values())
        assert all("Worcester DPW" not in r["text"] for r in drafts["springfield"].values())
        # a template is changed or deleted only in its own city
        boston_ack = next(
            t for t in list_templates(svc.engine, city_id=cid(svc, "boston")) if t.key == "ack"
        )
        assert boston_ack.id is not None
        with pytest.raises(ReplyNotFound):
            delete_template(
                svc.engine,
                actor=person(svc, worcester="admin"),
                city_id=w,
                template_id=boston_ack.id,
            )
        assert any(t.language == "es" for t in list_templates(svc.engine, city_id=s))
    finally:
        svc.close()


# --------------------------------------------------------------------------- Open311


def _desc(recorded: Any) -> str:
    return str(recorded.field("description") or "").split("\n")[0]


def test_each_city_files_to_its_own_open311_server(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worcester_311 = FakeOpen311(api_key="k-worcester-1").start()
    springfield_311 = FakeOpen311(api_key="k-springfield-2").start()
    monkeypatch.setenv("WORCESTER_311_KEY", "k-worcester-1")
    monkeypatch.setenv("SPRINGFIELD_311_KEY", "k-springfield-2")
    cities = three_cities()
    cities["worcester"] |= {
        "open311_url": worcester_311.url,
        "open311_jurisdiction_id": "worcesterma.gov",
        "open311_api_key_env": "WORCESTER_311_KEY",
    }
    cities["springfield"] |= {
        "open311_url": springfield_311.url,
        "open311_jurisdiction_id": "springfield-ma.gov",
        "open311_api_key_env": "SPRINGFIELD_311_KEY",
    }
    svc = build_services(
        state_settings(db_url, cities=cities, dry_run=False), classifier=KeywordClassifier()
    )
    try:
        ids = seed(svc, tmp_path)
        desk = cases_of(svc).desk
        filed = {}
        for slug, name in (("worcester", "worcester"), ("springfield", "springfield")):
            filed[slug] = file_case(
                desk,
                person(svc, **{slug: "strategist"}),
                city_id=cid(svc, slug),
                post_id=ids[slug][name],
                service_code="REQPOTHL",
                description=f"{slug} case",
                address_string=f"1 Main St, {slug}",
            )
        # the Worcester console's "run the outbox" files Worcester's case only
        report = cases_of(svc).run_outbox(city_ids=[cid(svc, "worcester")])
        assert report.filed == 1
        assert [_desc(p) for p in worcester_311.posts()] == ["worcester case"]
        assert springfield_311.posts() == []
        cases_of(svc).run_outbox()
        sent = springfield_311.posts()
        assert [_desc(p) for p in sent] == ["springfield case"]
        assert sent[0].field("jurisdiction_id") == "springfield-ma.gov"
        assert sent[0].field("api_key") == "k-springfield-2"
        assert worcester_311.posts()[0].field("jurisdiction_id") == "worcesterma.gov"
        assert len(worcester_311.posts()) == 1
        with Session(svc.engine) as s:
            for slug, case_id in filed.items():
                case = s.get(ServiceRequest, case_id)
                assert case is not None and case.status == "filed", slug
    finally:
        svc.close()
        worcester_311.stop()
        springfield_311.stop()


# --------------------------------------------------------------------------- the command line


def _config(tmp_path: Path, db_url: str) -> Path:
    lines = [f'database_url = "{db_url}"', "health_port = 0", 'default_city = "boston"']
    for slug, conf in three_cities().items():
        lines.append(f"[cities.{slug}]")
        for key, value in conf.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "civic-listener.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Services, dict[str, dict[str, int]]]]:
    import civic_listener.wiring as wiring

    monkeypatch.setattr(wiring, "default_classifier_factory", lambda settings: KeywordClassifier)
    config = _config(tmp_path, db_url)
    svc = build_services(load_settings(config), classifier=KeywordClassifier())
    ids = seed(svc, tmp_path)
    yield config, svc, ids
    svc.close()


def test_cli_exports_only_the_named_citys_posts_and_audit(
    cli: tuple[Path, Services, dict[str, dict[str, int]]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    config, svc, ids = cli
    dismiss_posts(
        svc.engine,
        person(svc, boston="staff"),
        city_id=cid(svc, "boston"),
        post_ids=[ids["boston"]["boston"]],
    )
    capsys.readouterr()
    assert main(["--config", str(config), "export", "posts", "--city", "worcester"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(int(r["id"]) for r in rows) == sorted(ids["worcester"].values())
    assert not any("Dorchester" in r["text"] for r in rows)
    out = tmp_path / "audit.csv"
    assert (
        main(
            [
                "--config",
                str(config),
                "export",
                "audit",
                "--city",
                "worcester",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    audit_rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert all(r["action"] != "post.dismiss" for r in audit_rows)
    assert main(["--config", str(config), "export", "posts", "--city", "nowhere"]) == 2


def test_cli_commands_take_a_city(
    cli: tuple[Path, Services, dict[str, dict[str, int]]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    config, svc, ids = cli
    base = ["--config", str(config)]
    capsys.readouterr()
    assert main([*base, "replies", "status", "--city", "springfield"]) == 0
    assert set(json.loads(capsys.readouterr().out)["cities"]) == {"springfield"}
    assert main([*base, "cases", "run", "--city", "worcester"]) == 0
    # ingest --city: every post of the file is that city's, whatever it mentions
    path = write_jsonl(tmp_path / "more.jsonl", [post(40, "pothole near Elm Park")])
    assert main([*base, "ingest", str(path), "--city", "springfield"]) == 0
    with svc.engine.connect() as conn:
        cities = (
            conn.execute(sa.select(POST.c.city_id).where(POST.c.external_id == "1000040"))
            .scalars()
            .all()
        )
    assert cities == [cid(svc, "springfield")]


def test_cli_roles_per_city_and_state_admin(
    cli: tuple[Path, Services, dict[str, dict[str, int]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from models.auth import authenticate

    config, svc, _ = cli
    base = ["--config", str(config)]
    monkeypatch.setenv("CIVIC_NEW_USER_PASSWORD", "a-long-password-9")
    assert main([*base, "user", "add", "ana", "--role", "strategist", "--city", "boston"]) == 0
    assert main([*base, "user", "role", "ana", "--city", "worcester", "--role", "viewer"]) == 0
    assert main([*base, "user", "add", "gov", "--state-admin"]) == 0
    ana = authenticate(svc.engine, username="ana", password="a-long-password-9")
    assert ana is not None
    assert ana.roles == {cid(svc, "boston"): "strategist", cid(svc, "worcester"): "viewer"}
    assert ana.can(cid(svc, "boston"), "reply.approve")
    assert not ana.can(cid(svc, "worcester"), "reply.approve")
    assert ana.role_in(cid(svc, "springfield")) is None and not ana.state_admin
    gov = authenticate(svc.engine, username="gov", password="a-long-password-9")
    assert gov is not None and gov.state_admin
    assert main([*base, "user", "role", "ana", "--city", "worcester", "--role", "none"]) == 0
    ana = authenticate(svc.engine, username="ana", password="a-long-password-9")
    assert ana is not None and ana.roles == {cid(svc, "boston"): "strategist"}
    assert main([*base, "user", "add", "x", "--city", "boston"]) == 2  # neither role nor admin


def test_an_unreadable_payload_from_a_shared_source_waits_in_the_state_queue(
    state: Services, tmp_path: Path
) -> None:
    from models.queries import quarantine_page

    path = write_jsonl(tmp_path / "bad.jsonl", ['{"platform": "x", "text": "Worcester', post(9)])
    state.sources = [ReplaySource("statewide", path)]
    assert run_once(state).stats.quarantined == 1
    assert len(quarantine_page(state.engine, city_id=cid(state, STATE_QUEUE))) == 1
    for slug in ("boston", "worcester", "springfield"):
        assert quarantine_page(state.engine, city_id=cid(state, slug)) == []


def test_cli_classify_and_train_take_a_city(
    cli: tuple[Path, Services, dict[str, dict[str, int]]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import classifiers

    config, svc, ids = cli
    base = ["--config", str(config)]
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "pothole by Elm Park"}])
    out = tmp_path / "out.jsonl"
    assert main([*base, "classify", "--input", str(inp), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["locations"] == []  # Boston's places: no Elm Park
    assert (
        main([*base, "classify", "--input", str(inp), "--output", str(out), "--city", "worcester"])
        == 0
    )
    assert [loc["text"] for loc in json.loads(out.read_text())["locations"]] == ["Elm Park"]

    relabel_posts(
        svc.engine,
        person(svc, boston="staff"),
        city_id=cid(svc, "boston"),
        post_ids=[ids["boston"]["boston"]],
        task="topic",
        label="trash",
    )
    relabel_posts(
        svc.engine,
        person(svc, worcester="staff"),
        city_id=cid(svc, "worcester"),
        post_ids=[ids["worcester"]["worcester"]],
        task="urgency",
        label="high",
    )
    seen: list[list[dict[str, Any]]] = []

    def fake_train(argv: list[str]) -> int:
        path = Path(argv[argv.index("--feedback") + 1])
        seen.append([json.loads(line) for line in path.read_text().splitlines()])
        return 0

    monkeypatch.setattr(classifiers, "train_main", fake_train)
    assert main([*base, "train", "--with-feedback", "--city", "worcester"]) == 0
    assert [(e["task"], e["label"]) for e in seen[-1]] == [("urgency", "high")]
    assert main([*base, "train", "--with-feedback"]) == 0
    assert len(seen[-1]) == 2


def test_bench_cities_times_the_inbox_scoped_to_one_city() -> None:
    from civic_listener.bench import BENCHMARKS
    from models.bench import bench_cities

    assert BENCHMARKS["cities"] == "models.bench:bench_cities"
    figures = bench_cities(cities=4, posts=4000)
    assert figures["cities"] == 4 and figures["posts"] == 4000
    sizes = [figures[f"{k}_city_posts"] for k in ("largest", "middle", "smallest")]
    assert sizes[0] > sizes[1] >= sizes[2] > 0
    assert figures["inbox_within_target"] is True
    assert any("ix_post_open_triage" in step for step in figures["plan_inbox_open_triage"])
