"""Triage, duplicates, the outbox and status sync, against the fake GeoReport v2 server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from civic_listener.settings import CitySettings, load_settings
from civic_listener.wiring import Services, build_services
from listener.replay import ReplaySource
from models.auth import Actor, PermissionDenied
from models.store import POST
from models.tables import AuditEvent, CaseEvent, Reply, ServiceRequest
from responders.open311 import cases_of
from responders.open311.actions import dismiss_case, file_case, link_post
from responders.open311.cases import CaseActionError
from tests.fakes.classifier import KeywordClassifier
from tests.fakes.open311 import Clock, FakeOpen311, geo_post
from tests.helpers import write_jsonl
from tests.test_query_plans import city_wide, plans_while

KEY = "k-cases-8d1e"
HERE = (42.311800, -71.053200)  # Dorchester Ave at Savin Hill
NEAR = (42.312000, -71.053400)  # about 30 m away
FAR = (42.350000, -71.060000)


@pytest.fixture
def fake() -> Iterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(db_url: str, fake: FakeOpen311, clock: Clock) -> Iterator[Any]:
    built: list[Services] = []

    def _make(
        *, transports: dict[str, httpx.BaseTransport] | None = None, **overrides: Any
    ) -> Services:
        conf: dict[str, Any] = {
            "database_url": db_url,
            "replay_file": None,
            "open311_url": fake.url,
            "open311_api_key": KEY,
            "cases_auto_file": True,
        }
        conf.update(overrides)
        svc = build_services(
            load_settings(**conf),
            classifier=KeywordClassifier(),
            clock=clock,
            transports=transports,
        )
        built.append(svc)
        return svc

    yield _make
    for svc in built:
        svc.close()


def ingest(services: Services, tmp_path: Path, rows: list[dict[str, Any]], name: str = "r") -> None:
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    items = list(ReplaySource(name, path).iter_items(None, threading.Event()))
    services.pipeline.ingest(name, items)
    services.pipeline.classify_pending()


def cases(services: Services) -> list[ServiceRequest]:
    with Session(services.engine) as s:
        return list(s.exec(select(ServiceRequest).order_by(ServiceRequest.id)).all())  # type: ignore[arg-type]


def post_case_ids(services: Services) -> dict[str, int | None]:
    with services.engine.connect() as conn:
        return dict(conn.execute(sa.select(POST.c.external_id, POST.c.case_id)).all())  # type: ignore[arg-type]


def recorder(services: Services) -> list[tuple[str, int, int]]:
    events: list[tuple[str, int, int]] = []
    services.case_events.append(lambda e, c, i: events.append((e, c, i)))
    return events


def test_auto_files_each_complaint_once_with_code_location_and_link(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    services = make()
    events = recorder(services)
    ingest(
        services,
        tmp_path,
        [
            geo_post(1, "Huge pothole on Dorchester Ave @BOS311", *HERE),
            geo_post(2, "street light out for a week", *FAR),
            geo_post(3, "trash not picked up on my street", 42.33, -71.08),
            geo_post(4, "another pothole somewhere, no idea where"),
            geo_post(5, "I smell gas next to the pothole, help", *FAR),
            geo_post(6, "snow everywhere", 42.34, -71.07),
            geo_post(7, "go celtics", 42.36, -71.06),
        ],
    )
    report = cases_of(services).run_outbox()
    assert report.filed == 3
    posts = fake.posts()
    assert [p.field("service_code") for p in posts] == ["REQPOTHL", "STRLGTOUT", "EMPLITBSKT"]
    first = posts[0]
    assert (first.field("lat"), first.field("long")) == ("42.311800", "-71.053200")
    assert "https://x.com/resident1/status/2000001" in (first.field("description") or "")
    assert "Huge pothole on Dorchester Ave" in (first.field("description") or "")
    rows = {c.post_id: c for c in cases(services)}
    filed = [c for c in rows.values() if c.status == "filed"]
    assert len(filed) == 3 and all(c.open311_id in fake.requests for c in filed)
    assert [e[0] for e in events] == ["filed"] * 3
    pending = [c for c in rows.values() if c.status == "pending"]
    assert len(pending) == 1 and "no usable location" in (pending[0].last_error or "")
    # the emergency never became a case, and it was surfaced
    ids = post_case_ids(services)
    assert ids["2000005"] is None and ids["2000006"] is None and ids["2000007"] is None
    with Session(services.engine) as s:
        surfaced = s.exec(
            select(AuditEvent).where(AuditEvent.action == "case.emergency_surfaced")
        ).all()
    assert len(surfaced) == 1
    # a second pass files nothing again
    assert cases_of(services).run_outbox().filed == 0
    assert len(fake.posts()) == 3


def test_local_duplicate_is_linked_not_filed_again(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    services = make()
    events = recorder(services)
    ingest(services, tmp_path, [geo_post(1, "pothole here", *HERE)], "a")
    ingest(services, tmp_path, [geo_post(2, "same pothole, still there!", *NEAR)], "b")
    ingest(services, tmp_path, [geo_post(3, "a pothole across town", *FAR)], "c")
    cases_of(services).run_outbox()
    assert len(fake.posts()) == 2
    ids = post_case_ids(services)
    assert ids["2000001"] == ids["2000002"] != ids["2000003"]
    assert ("linked", services.cities.default.id, ids["2000001"]) in events


def test_open_request_on_the_server_is_linked_instead_of_filed(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    existing = fake.add_request("REQPOTHL", lat=NEAR[0], lon=NEAR[1])
    fake.add_request("REQPOTHL", lat=HERE[0], lon=HERE[1], status="closed")
    services = make()
    events = recorder(services)
    ingest(services, tmp_path, [geo_post(1, "pothole here", *HERE)])
    report = cases_of(services).run_outbox()
    assert report.linked == 1 and report.filed == 0
    assert fake.posts() == []
    (case,) = cases(services)
    assert (case.status, case.open311_id) == ("open", existing)
    assert events == [("linked", case.city_id, case.id)]
    lookup = fake.calls("requests.json")[0].query
    assert lookup["service_code"] == "REQPOTHL" and lookup["status"] == "open"


def test_required_attribute_filled_from_the_post_or_held_for_a_person(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    for svc in fake.services:
        if svc["service_code"] in ("REQPOTHL", "STRLGTOUT"):
            svc["metadata"] = True
    fake.definitions["REQPOTHL"] = [
        {
            "variable": True,
            "code": "SIZE",
            "datatype": "singlevaluelist",
            "required": True,
            "description": "Size of the pothole",
            "order": 1,
            "values": [{"key": "S", "name": "Small"}, {"key": "L", "name": "Huge"}],
        },
    ]
    fake.definitions["STRLGTOUT"] = [
        {
            "variable": True,
            "code": "POLE",
            "datatype": "string",
            "required": True,
            "description": "Pole number",
            "order": 1,
        },
    ]
    services = make()
    ingest(
        services,
        tmp_path,
        [geo_post(1, "Huge pothole, careful", *HERE), geo_post(2, "light out on my corner", *FAR)],
    )
    report = cases_of(services).run_outbox()
    assert (report.filed, report.held) == (1, 1)
    assert fake.posts()[0].field("attribute[SIZE]") == "L"
    held = next(c for c in cases(services) if c.status == "held")
    assert "POLE (Pole number)" in (held.last_error or "")
    strategist = Actor("sam", roles={held.city_id: "strategist"})
    file_case(
        cases_of(services).desk,
        strategist,
        city_id=held.city_id,
        post_id=held.post_id,
        case_id=held.id,
        service_code=held.service_code,
        description=held.description,
        lat=held.lat,
        lon=held.lon,
        attributes={"POLE": "B-1234"},
    )
    assert cases_of(services).run_outbox().filed == 1
    assert fake.posts()[-1].field("attribute[POLE]") == "B-1234"


def test_bad_key_keeps_cases_queued_and_stops_calling(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    services = make(open311_api_key="k-wrong-0000")
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE), geo_post(2, "light out", *FAR)])
    report = cases_of(services).run_outbox()
    assert report.filed == 0 and len(fake.posts()) == 1  # the second case was not tried
    first, second = cases(services)
    assert first.status == "queued" and first.attempts == 1
    assert "refused our credentials" in (first.last_error or "") and "403" in first.last_error
    assert second.status == "queued" and second.attempts == 0
    assert fake.requests == {}


def test_400_with_an_error_array_fails_the_case_in_the_servers_words(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    # the server wants an attribute its service list does not announce (metadata false)
    fake.definitions["EMPLITBSKT"] = [
        {
            "variable": True,
            "code": "BIN",
            "datatype": "string",
            "required": True,
            "description": "Bin number",
            "order": 1,
        },
    ]
    services = make()
    ingest(services, tmp_path, [geo_post(1, "trash overflowing", *HERE)])
    report = cases_of(services).run_outbox()
    assert report.failed == 1
    (case,) = cases(services)
    assert case.status == "failed"
    assert "refused POST requests (400): Bin number is required (code attribute[BIN])" in (
        case.last_error or ""
    )
    clock.advance(hours=5)
    cases_of(services).run_outbox()
    assert len(fake.posts()) == 1  # a refusal is not retried by itself


def test_server_down_for_several_attempts_then_back_files_exactly_once(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    services = make()
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    fake.fail_next(2, "503", path="requests.json", method="POST")
    fake.fail_next(1, "drop", path="requests.json", method="GET")
    fake.fail_next(1, "503", path="services.json")
    runs = 0
    waits = []
    while cases(services)[0].status != "filed" and runs < 10:
        cases_of(services).run_outbox()
        case = cases(services)[0]
        if case.next_attempt_at is not None and case.next_attempt_at > clock.now:
            waits.append((case.next_attempt_at - clock.now).total_seconds())
        clock.advance(hours=2)
        runs += 1
    (case,) = cases(services)
    assert case.status == "filed"
    assert len(fake.requests) == 1 and case.open311_id in fake.requests
    assert case.attempts == 4  # two 503s on POST, one dropped lookup, then filed
    assert waits[1] > waits[0] > 0  # backoff grows
    with Session(services.engine) as s:
        notes = [
            e.note or "" for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))
        ]
    assert sum("unavailable" in n or "dropped" in n for n in notes) == 3


class Crash(BaseException):
    """The process dies."""


class CrashingTransport(httpx.BaseTransport):
    """Sends to the real server, then 'dies' around the filing call."""

    def __init__(self, *, before: bool = False) -> None:
        self.inner = httpx.HTTPTransport()
        self.before = before

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        filing = request.method == "POST" and request.url.path.endswith("requests.json")
        if filing and self.before:
            raise Crash("died before the request left")
        response = self.inner.handle_request(request)
        if filing:
            response.read()
            response.close()
            raise Crash("died after the server answered, before the commit")
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("before", [False, True])
def test_crash_between_call_and_commit_never_files_twice(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock, before: bool
) -> None:
    crashing = CrashingTransport(before=before)
    services = make(transports={"open311": crashing})
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    with pytest.raises(Crash):
        cases_of(services).run_outbox()
    crashing.close()
    assert cases(services)[0].status == "filing"
    assert len(fake.posts()) == (0 if before else 1)
    restarted = make()  # a new process on the same database
    assert cases_of(restarted).run_outbox().filed == 0  # too early: the claim may be alive
    clock.advance(minutes=11)
    report = cases_of(restarted).run_outbox()
    (case,) = cases(restarted)
    assert case.status == "filed" and len(fake.requests) == 1
    assert len(fake.posts()) == 1
    assert case.open311_id in fake.requests
    assert report.reconciled == 1


def test_answer_lost_to_a_slow_server_is_found_not_refiled(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    services = make(open311_timeout_seconds=0.2)
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    fake.fail_next(1, "slow", path="requests.json", method="POST")
    cases_of(services).run_outbox()
    assert cases(services)[0].status == "filing"
    deadline = time.monotonic() + 5
    while not fake.requests and time.monotonic() < deadline:  # the slow server finishes
        time.sleep(0.05)
    clock.advance(hours=1)
    cases_of(services).run_outbox()
    (case,) = cases(services)
    assert case.status == "filed" and len(fake.posts()) == 1 and len(fake.requests) == 1


def test_lost_answer_on_a_server_without_descriptions_is_held(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    fake.hide_descriptions = True
    services = make(transports={"open311": CrashingTransport()})
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    with pytest.raises(Crash):
        cases_of(services).run_outbox()
    clock.advance(minutes=11)
    cases_of(make()).run_outbox()
    (case,) = cases(services)
    assert case.status == "held" and "cannot be confirmed" in (case.last_error or "")
    assert len(fake.posts()) == 1


def test_status_sync_to_closed_drafts_the_follow_up(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    services = make()
    events = recorder(services)
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    cases_of(services).run_outbox()
    (case,) = cases(services)
    assert case.open311_id is not None
    fake.set_status(case.open311_id, "open", "Crew assigned")
    clock.advance(minutes=16)
    assert cases_of(services).run_sync().changed == 1
    fake.set_status(case.open311_id, "closed", "Pothole filled")
    assert cases_of(services).run_sync().checked == 0  # not due yet
    clock.advance(minutes=16)
    report = cases_of(services).run_sync()
    assert report.closed == 1
    (case,) = cases(services)
    assert case.status == "closed" and case.closed_at is not None
    assert [n["note"] for n in case.status_notes or []] == ["Crew assigned", "Pothole filled"]
    assert events[-1] == ("closed", case.city_id, case.id)
    assert [e[0] for e in events].count("closed") == 1
    with Session(services.engine) as s:  # the reply workflow drafted the follow-up
        followups = s.exec(select(Reply).where(Reply.kind == "followup")).all()
    assert [(r.post_id, r.case_id, r.state) for r in followups] == [
        (case.post_id, case.id, "draft")
    ]
    clock.advance(minutes=16)
    assert cases_of(services).run_sync().checked == 0  # closed cases are no longer followed
    with Session(services.engine) as s:
        history = [e.status for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert history[:2] == ["queued", "filed"] and history[-2:] == ["open", "closed"]


def test_token_service_gets_its_id_then_closes(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    fake.token_mode.add("REQPOTHL")
    fake.token_polls_before_id = 1
    services = make()
    events = recorder(services)
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    cases_of(services).run_outbox()
    (case,) = cases(services)
    assert case.status == "filed" and case.token and case.open311_id is None
    cases_of(services).run_sync(force=True)
    assert cases(services)[0].open311_id is None  # not assigned yet
    cases_of(services).run_sync(force=True)
    (case,) = cases(services)
    assert case.open311_id in fake.requests
    fake.set_status(case.open311_id, "closed", "Done")  # type: ignore[arg-type]
    cases_of(services).run_sync(force=True)
    assert cases(services)[0].status == "closed" and events[-1][0] == "closed"
    assert fake.calls("tokens/")


def test_without_a_url_cases_are_kept_locally(make: Any, fake: FakeOpen311, tmp_path: Path) -> None:
    services = make(open311_url=None)
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    cases_of(services).run_outbox()
    cases_of(services).run_sync()
    (case,) = cases(services)
    assert case.status == "not_filed" and "no Open311 URL" in (case.last_error or "")
    assert fake.recorded == []


def test_dry_run_files_only_when_a_person_turned_filing_on(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    # URL and dry run, automatic filing off: everything waits; a person's filing is recorded only
    services = make(cases_auto_file=False)
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    (case,) = cases(services)
    assert case.status == "pending" and "automatic filing is off" in (case.last_error or "")
    actor = Actor("sam", roles={case.city_id: "strategist"})
    desk = cases_of(services).desk
    file_case(
        desk,
        actor,
        city_id=case.city_id,
        post_id=case.post_id,
        service_code="REQPOTHL",
        description="Pothole",
        lat=HERE[0],
        lon=HERE[1],
    )
    cases_of(services).run_outbox()
    (case,) = cases(services)
    assert case.status == "not_filed" and "dry run" in (case.last_error or "")
    assert fake.recorded == []
    # dry run off: a person's filing goes out
    live = make(cases_auto_file=False, dry_run=False)
    file_case(
        cases_of(live).desk,
        actor,
        city_id=case.city_id,
        post_id=case.post_id,
        case_id=case.id,
        service_code="REQPOTHL",
        description="Pothole, edited",
        address_string="1 Savin Hill Ave, Boston",
    )
    cases_of(live).run_outbox()
    (case,) = cases(live)
    assert case.status == "filed"
    sent = fake.posts()[0]
    assert sent.field("address_string") == "1 Savin Hill Ave, Boston" and sent.field("lat") is None
    assert (sent.field("description") or "").startswith("Pothole, edited")


def test_permissions_and_audit_on_every_console_action(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    services = make(cases_auto_file=False)
    ingest(
        services,
        tmp_path,
        [
            geo_post(1, "pothole", *HERE),
            geo_post(2, "pothole!", *FAR),
            geo_post(3, "gas leak", *FAR),
        ],
    )
    desk = cases_of(services).desk
    a, b = cases(services)
    city = a.city_id
    viewer, staff = Actor("vi", roles={city: "viewer"}), Actor("st", roles={city: "staff"})
    boss = Actor("sam", roles={city: "strategist"})
    other_city = Actor("x", roles={city + 100: "admin"})
    for who in (viewer, staff, other_city):
        with pytest.raises(PermissionDenied):
            file_case(
                desk,
                who,
                city_id=city,
                post_id=a.post_id,
                service_code="REQPOTHL",
                description="d",
                lat=1.0,
                lon=1.0,
            )
    with pytest.raises(PermissionDenied):
        dismiss_case(desk, staff, city_id=city, case_id=a.id)  # type: ignore[arg-type]
    with pytest.raises(CaseActionError, match="emergency"):
        file_case(
            desk,
            boss,
            city_id=city,
            post_id=3,
            service_code="REQPOTHL",
            description="d",
            lat=1.0,
            lon=1.0,
        )
    link_post(desk, boss, city_id=city, post_id=b.post_id, case_id=a.id)  # type: ignore[arg-type]
    dismiss_case(desk, boss, city_id=city, case_id=a.id, reason="fixed already")  # type: ignore[arg-type]
    a2, b2 = cases(services)
    assert a2.status == "dismissed" and (b2.status, b2.duplicate_of_id) == ("duplicate", a.id)
    with Session(services.engine) as s:
        log = [(e.actor, e.action) for e in s.exec(select(AuditEvent).order_by(AuditEvent.id))]  # type: ignore[arg-type]
    assert ("sam", "case.link") in log and ("sam", "case.dismiss") in log
    assert ("system", "case.draft") in log


def test_each_city_files_to_its_own_server(
    make: Any, fake: FakeOpen311, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = FakeOpen311(api_key="k-springfield-1").start()
    try:
        monkeypatch.setenv("SPRINGFIELD_311_KEY", "k-springfield-1")
        services = make(
            default_city="boston",
            cities={
                "boston": CitySettings(),
                "springfield": CitySettings(
                    name="Springfield",
                    open311_url=other.url,
                    open311_api_key_env="SPRINGFIELD_311_KEY",
                    open311_jurisdiction_id="springfield.gov",
                    service_codes={"pothole": "BOS311GEN"},
                ),
            },
        )
        ingest(
            services,
            tmp_path,
            [
                geo_post(1, "pothole in boston", *HERE),
                geo_post(2, "pothole in springfield", 42.10, -72.59, city="springfield"),
            ],
        )
        assert cases_of(services).run_outbox().filed == 2
        (boston,) = fake.posts()
        (spring,) = other.posts()
        assert boston.field("api_key") == KEY and "boston" in (boston.field("description") or "")
        assert spring.field("api_key") == "k-springfield-1"
        assert spring.field("jurisdiction_id") == "springfield.gov"
        assert spring.field("service_code") == "BOS311GEN"
    finally:
        other.stop()


def test_bearer_token_auth_end_to_end(make: Any, fake: FakeOpen311, tmp_path: Path) -> None:
    fake.api_key = None
    fake.oauth_client = ("civic-listener", "oauth-s3cret-1")
    services = make(
        open311_api_key=None,
        open311_oauth_token_url=fake.token_url,
        open311_oauth_client_id="civic-listener",
        open311_oauth_client_secret="oauth-s3cret-1",
    )
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)], "a")
    cases_of(services).run_outbox()
    fake.expire_tokens()
    ingest(services, tmp_path, [geo_post(2, "light out", *FAR)], "b")
    cases_of(services).run_outbox()
    assert [c.status for c in cases(services)] == ["filed", "filed"]
    assert len(fake.calls("/oauth/token", "POST")) == 2


def test_a_service_code_the_server_does_not_offer_holds_the_case(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    services = make(cities={"default": CitySettings(service_codes={"pothole": "NOSUCHCODE"})})
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    cases_of(services).run_outbox()
    (case,) = cases(services)
    assert case.status == "held" and "does not offer service code NOSUCHCODE" in (
        case.last_error or ""
    )
    assert "NOSUCHCODE" in cases_of(services).desk.city(case.city_id).unknown_codes
    assert fake.posts() == []


def test_xml_only_server_with_201_files_and_syncs(
    make: Any, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    fake.xml_only = True
    fake.status_201 = True
    services = make()
    ingest(services, tmp_path, [geo_post(1, "pothole", *HERE)])
    assert cases_of(services).run_outbox().filed == 1
    (case,) = cases(services)
    fake.set_status(case.open311_id, "closed", "Filled")  # type: ignore[arg-type]
    assert cases_of(services).run_sync(force=True).closed == 1
    assert all(r.path.endswith(".xml") for r in fake.recorded[1:])
    assert len(fake.calls("services.json")) == 1  # found once, remembered across runs


@pytest.mark.postgres
def test_triage_outbox_and_sync_on_postgresql(
    pg_url: str, fake: FakeOpen311, tmp_path: Path, clock: Clock
) -> None:
    services = build_services(
        load_settings(
            database_url=pg_url,
            replay_file=None,
            open311_url=fake.url,
            open311_api_key=KEY,
            cases_auto_file=True,
        ),
        classifier=KeywordClassifier(),
        clock=clock,
    )
    try:
        ingest(
            services,
            tmp_path,
            [
                geo_post(1, "pothole", *HERE),
                geo_post(2, "same pothole", *NEAR),
                geo_post(3, "light out", *FAR),
            ],
        )
        assert cases_of(services).run_outbox().filed == 2
        ids = post_case_ids(services)
        assert ids["2000001"] == ids["2000002"]
        fake.set_status(next(iter(fake.requests)), "closed", "Done")
        assert cases_of(services).run_sync(force=True).closed == 1
    finally:
        services.close()


def test_triage_and_the_outbox_read_only_the_cases_they_need(
    make: Any, fake: FakeOpen311, tmp_path: Path
) -> None:
    """The duplicate search reads the city's recent cases of the services at hand, the outbox
    the city's due ones: neither reads every case of the city (SQLite's plans)."""
    services = make()
    rows = [
        geo_post(1, "Huge pothole on Dorchester Ave @BOS311", *HERE),
        geo_post(2, "street light out for a week", *FAR),
    ]
    lines = plans_while(
        services.engine,
        lambda: (ingest(services, tmp_path, rows), cases_of(services).run_outbox()),
    )
    assert len(fake.posts()) == 2
    assert any("servicerequest" in line for line in lines), lines
    assert city_wide(lines) == [], lines
