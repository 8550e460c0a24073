"""Service map, attribute filling, triage rules and answer decoding: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from hypothesis import given
from hypothesis import strategies as st

from civic_listener.settings import load_settings
from responders.open311.cases import PostInfo, distance_m, where_of
from responders.open311.client import Attribute, Service
from responders.open311.mapping import DEFAULT_SERVICE_CODES, PostFacts, ServiceMap, fill_attributes
from responders.open311.triage import PostLabels, TriageRules, decide
from responders.open311.wire import as_list, server_errors


def test_default_map_is_taxonomys_boston_codes_with_refinements() -> None:
    m = ServiceMap.for_city({})
    assert m.code_for("pothole") == "REQPOTHL" == DEFAULT_SERVICE_CODES["pothole"]
    assert m.code_for("parking", "abandoned car for weeks") == "ABNDVHCL"
    assert m.code_for("parking", "car blocking my driveway") == "PRKGENFORC"
    assert m.code_for("pests", "dead raccoon in the road") == "PUDEADANML"
    assert m.code_for("signal_sign", "stop sign knocked down") == "MISDMGSGN"
    assert m.code_for("snow_ice") is None and m.code_for("none") is None
    city = ServiceMap.for_city({"snow_ice": "SNOWPLOW", "pothole": ""})
    assert city.code_for("snow_ice") == "SNOWPLOW" and city.code_for("pothole") == "REQPOTHL"
    missing = city.check([Service("REQPOTHL", "Pothole")])
    assert "SNOWPLOW" in missing and "REQPOTHL" not in missing
    assert not city.is_offered("SNOWPLOW") and city.name_of("REQPOTHL") == "Pothole"


def test_required_attributes_are_filled_from_the_post_or_reported_missing() -> None:
    facts = PostFacts(
        text="Huge pothole near the library",
        platform="x",
        url="https://x.com/a/status/1",
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
        location_text="Dorchester Ave",
        neighborhood="Dorchester",
    )
    attrs = [
        Attribute("SIZE", "Size", "singlevaluelist", True, values=(("S", "Small"), ("L", "Huge"))),
        Attribute("WHERE", "Exact location", "string", True),
        Attribute("SRC", "How was this reported", "string", True),
        Attribute("DEPTH", "Depth in inches", "number", True),
        Attribute("OPT", "Optional note", "string", False),
        Attribute("INFO", "Crew info", "text", True, variable=False),
    ]
    values, missing = fill_attributes(attrs, facts, {"OPT": "kept"})
    assert values == {
        "SIZE": "L",
        "WHERE": "Dorchester Ave",
        "SRC": "Social media (x)",
        "OPT": "kept",
    }
    assert [a.code for a in missing] == ["DEPTH"]
    values, missing = fill_attributes(attrs, facts, {"DEPTH": "4"})
    assert values["DEPTH"] == "4" and not missing


def _labels(**kw: object) -> PostLabels:
    base: dict[str, object] = {
        "topic": "pothole",
        "topic_score": 0.9,
        "urgency": "normal",
        "relevant": True,
        "needs_review": False,
        "has_location": True,
    }
    base.update(kw)
    return PostLabels(**base)  # type: ignore[arg-type]


def test_triage_rules() -> None:
    rules = TriageRules(auto_file=True, min_confidence=0.7)
    assert decide(rules, _labels(), "REQPOTHL").action == "auto"
    assert decide(rules, _labels(urgency="emergency"), "REQPOTHL").action == "surface"
    assert (
        decide(
            TriageRules(auto_file=True, urgencies=frozenset({"emergency"})),
            _labels(urgency="emergency"),
            "X",
        ).action
        == "surface"
    )
    assert decide(rules, _labels(topic="none", relevant=False), None).action == "skip"
    assert decide(rules, _labels(topic="snow_ice"), None).action == "skip"
    for kw, why in [
        ({"topic_score": 0.5}, "below"),
        ({"urgency": "low"}, "urgency low"),
        ({"has_location": False}, "no usable location"),
        ({"needs_review": True}, "needs review"),
    ]:
        d = decide(rules, _labels(**kw), "REQPOTHL")
        assert d.action == "review" and why in d.reason, kw
    only_trash = TriageRules(auto_file=True, topics=frozenset({"trash"}))
    assert "not filed automatically" in decide(only_trash, _labels(), "REQPOTHL").reason
    assert "automatic filing is off" in decide(TriageRules(), _labels(), "REQPOTHL").reason
    from_settings = TriageRules.from_settings(
        load_settings(cases_auto_file=True, cases_auto_urgencies=["emergency", "high"])
    )
    assert from_settings.urgencies == frozenset({"high"})  # emergency can never be allowed


def _post(**kw: object) -> PostInfo:
    base: dict[str, object] = dict(
        id=1,
        city_id=1,
        platform="x",
        author="a",
        text="t",
        url=None,
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
        lat=None,
        lon=None,
        topic="pothole",
        topic_score=0.9,
        urgency="normal",
        relevant=True,
        needs_review=False,
        case_id=None,
        location_text=None,
        neighborhood=None,
        deleted=False,
        locations=[],
    )
    base.update(kw)
    return PostInfo(**base)  # type: ignore[arg-type]


def test_where_a_case_is_filed() -> None:
    geo = where_of(_post(lat=42.3, lon=-71.0), "Boston")
    assert (geo.lat, geo.lon, geo.specific) == (42.3, -71.0, True)
    addr = where_of(_post(locations=[{"text": "12 Elm St", "kind": "address"}]), "Boston")
    assert (addr.address_string, addr.lat, addr.specific) == ("12 Elm St, Boston", None, True)
    mark = where_of(
        _post(locations=[{"text": "City Hall", "kind": "landmark", "lat": 42.36, "lon": -71.06}]),
        "Boston",
    )
    assert (mark.lat, mark.specific) == (42.36, True)
    street = where_of(_post(locations=[{"text": "Dorchester Ave", "kind": "street"}]), "Boston")
    assert street.address_string == "Dorchester Ave, Boston" and not street.specific
    hood = where_of(_post(neighborhood="Dorchester"), "Boston")
    assert hood.address_string == "Dorchester, Boston" and not hood.specific
    assert not where_of(_post(), "Boston").specific
    assert 25 < distance_m(42.3118, -71.0532, 42.3120, -71.0534) < 35


def test_answers_in_odd_shapes() -> None:
    assert as_list({"service_requests": [{"service_request_id": "1"}]}) == [
        {"service_request_id": "1"}
    ]
    assert as_list({"service_request_id": "1"}) == [{"service_request_id": "1"}]
    assert as_list({"request": {"service_request_id": "2"}}) == [{"service_request_id": "2"}]
    r = httpx.Response(400, json={"error": {"code": 7, "description": "bad lat"}})
    assert [str(e) for e in server_errors(r)] == ["bad lat (code 7)"]
    r = httpx.Response(422, json={"message": "nope"})
    assert [e.description for e in server_errors(r)] == ["nope"]


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_error_decoding_never_crashes(body: bytes | str) -> None:
    content = body.encode() if isinstance(body, str) else body
    for ctype in ("application/json", "text/xml", "text/plain"):
        errors = server_errors(
            httpx.Response(500, content=content, headers={"content-type": ctype})
        )
        assert all(isinstance(e.description, str) for e in errors)
