"""The GeoReport v2 client against the fake server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from responders.open311.auth import ApiKeyAuth, BearerTokenAuth
from responders.open311.client import NewRequest, Open311Client, clean_description
from responders.open311.errors import (
    Open311AuthFailed,
    Open311Refused,
    Open311Unavailable,
)
from tests.fakes.open311 import FakeOpen311

KEY = "k-test-5f2a"


@pytest.fixture
def fake() -> Iterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY).start()
    yield server
    server.stop()


def client_for(fake: FakeOpen311, key: str = KEY, **kw) -> Open311Client:  # type: ignore[no-untyped-def]
    return Open311Client(
        fake.url, jurisdiction_id="boston.gov", api_key=ApiKeyAuth(SecretStr(key)), **kw
    )


def test_service_discovery_and_definition(fake: FakeOpen311) -> None:
    fake.services[0]["metadata"] = True
    fake.definitions["REQPOTHL"] = [
        {
            "variable": True,
            "code": "SIZE",
            "datatype": "singlevaluelist",
            "required": True,
            "description": "How big is it?",
            "order": 1,
            "values": [{"key": "S", "name": "Small"}, {"key": "L", "name": "Huge"}],
        },
    ]
    with client_for(fake) as client:
        services = client.services()
        attrs = client.service_definition("REQPOTHL")
    codes = {s.code for s in services}
    assert {"REQPOTHL", "STRLGTOUT", "BOS311GEN"} <= codes
    assert next(s for s in services if s.code == "REQPOTHL").metadata is True
    assert attrs[0].code == "SIZE" and attrs[0].required
    assert attrs[0].values == (("S", "Small"), ("L", "Huge"))
    listing = fake.calls("services.json")[0]
    assert listing.query["jurisdiction_id"] == "boston.gov"
    assert "api_key" not in listing.query  # the key is sent on writes only


def test_file_by_coordinates_and_by_address(fake: FakeOpen311) -> None:
    with client_for(fake) as client:
        a = client.create_request(
            NewRequest("REQPOTHL", "Pothole <b>huge</b>", lat=42.3118, lon=-71.0532)
        )
        b = client.create_request(
            NewRequest("STRLGTOUT", "Light out", address_string="12 Elm St, Boston")
        )
    assert a.service_request_id and b.service_request_id and a.token is None
    first, second = fake.posts()
    assert first.field("service_code") == "REQPOTHL"
    assert (first.field("lat"), first.field("long")) == ("42.311800", "-71.053200")
    assert first.field("description") == "Pothole huge"  # no HTML
    assert first.field("api_key") == KEY
    assert first.field("jurisdiction_id") == "boston.gov"
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert second.field("address_string") == "12 Elm St, Boston"
    assert second.field("lat") is None
    with client_for(fake) as client:
        got = client.request(b.service_request_id)  # type: ignore[arg-type]
    assert got is not None and got.status == "open" and got.address == "12 Elm St, Boston"


def test_201_and_token_service(fake: FakeOpen311) -> None:
    fake.status_201 = True
    fake.token_mode.add("GENERALGRAFFITI")
    fake.token_polls_before_id = 1
    with client_for(fake) as client:
        receipt = client.create_request(
            NewRequest("GENERALGRAFFITI", "Tag on the wall", lat=42.35, lon=-71.06)
        )
        assert receipt.service_request_id is None and receipt.token
        assert client.token(receipt.token) is None  # not assigned yet
        rid = client.token(receipt.token)
    assert rid is not None and rid in fake.requests


def test_bad_key_is_refused_in_plain_words(fake: FakeOpen311) -> None:
    with (
        client_for(fake, key="wrong-key-1") as client,
        pytest.raises(Open311AuthFailed, match="refused our credentials.*403.*Invalid api_key"),
    ):
        client.create_request(NewRequest("REQPOTHL", "x", lat=42.3, lon=-71.0))


@pytest.mark.parametrize("shape", ["spec", "object", "text"])
def test_400_error_array_in_any_shape(fake: FakeOpen311, shape: str) -> None:
    fake.error_shape = shape
    with client_for(fake) as client, pytest.raises(Open311Refused) as info:
        client.create_request(NewRequest("NOPE", "x", lat=42.3, lon=-71.0))
    assert info.value.status == 400
    assert "Service code NOPE is not valid" in str(info.value)
    if shape != "text":
        assert info.value.errors[0].code == "service_code"
    assert "<html>" not in str(info.value)


def test_xml_only_server(fake: FakeOpen311) -> None:
    fake.xml_only = True
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
    with client_for(fake) as client:
        services = client.services()
        assert client.fmt == "xml"
        attrs = client.service_definition("STRLGTOUT")
        receipt = client.create_request(
            NewRequest("STRLGTOUT", "dark", lat=42.3, lon=-71.0, attributes={"POLE": "77"})
        )
        listed = client.requests(service_code="STRLGTOUT")
        with (
            client_for(fake, key="bad-key-2", fmt="xml") as bad,
            pytest.raises(Open311AuthFailed, match="Invalid api_key"),
        ):
            bad.create_request(NewRequest("STRLGTOUT", "dark", lat=42.3, lon=-71.0))
    assert len(services) == len(fake.services)
    assert attrs[0].code == "POLE" and attrs[0].required
    assert receipt.service_request_id in {r.service_request_id for r in listed}
    assert [r.path for r in fake.recorded[:2]] == ["services.json", "services.xml"]


def test_requests_filters(fake: FakeOpen311) -> None:
    old = fake.add_request(
        "REQPOTHL", lat=42.3, lon=-71.0, requested=datetime.now(UTC) - timedelta(days=10)
    )
    new = fake.add_request("REQPOTHL", lat=42.3, lon=-71.0)
    closed = fake.add_request("REQPOTHL", lat=42.3, lon=-71.0, status="closed")
    fake.add_request("STRLGTOUT", lat=42.3, lon=-71.0)
    with client_for(fake) as client:
        got = client.requests(
            service_code="REQPOTHL", status="open", start_date=datetime.now(UTC) - timedelta(days=1)
        )
        by_id = client.requests(service_request_ids=[old, closed])
    assert [r.service_request_id for r in got] == [new]
    assert {r.service_request_id for r in by_id} == {old, closed}
    assert fake.calls("requests.json")[-1].query["service_request_id"] == f"{old},{closed}"


def test_bearer_token_fetched_reused_and_refreshed_on_401(fake: FakeOpen311) -> None:
    fake.api_key = None
    fake.oauth_client = ("civic", "s3cret-value")
    bearer = BearerTokenAuth(fake.token_url, "civic", SecretStr("s3cret-value"))
    with Open311Client(fake.url, bearer=bearer) as client:
        client.services()
        client.services()
        assert bearer.fetched == 1
        fake.expire_tokens()
        client.create_request(NewRequest("REQPOTHL", "x", lat=42.3, lon=-71.0))
    assert bearer.fetched == 2
    assert len(fake.posts()) == 2  # refused once with 401, then sent again with the new token
    assert fake.posts()[-1].headers["authorization"].startswith("Bearer ")
    bad = BearerTokenAuth(fake.token_url, "civic", SecretStr("wrong-secret"))
    with (
        Open311Client(fake.url, bearer=bad) as client,
        pytest.raises(Open311AuthFailed, match="token endpoint refused"),
    ):
        client.services()


def test_outages_say_whether_the_request_may_have_landed(fake: FakeOpen311) -> None:
    with client_for(fake, timeout=0.2) as client:
        fake.fail_next(1, "503")
        with pytest.raises(Open311Unavailable) as info:
            client.services()
        assert info.value.status == 503 and not info.value.maybe_sent
        fake.fail_next(1, "drop")
        with pytest.raises(Open311Unavailable) as info:
            client.create_request(NewRequest("REQPOTHL", "x", lat=42.3, lon=-71.0))
        assert info.value.maybe_sent
        fake.fail_next(1, "slow")
        with pytest.raises(Open311Unavailable, match="did not answer in time") as info:
            client.services()
        assert info.value.maybe_sent
    port = fake.port
    fake.stop()
    with (
        Open311Client(f"http://127.0.0.1:{port}/open311/v2/") as client,
        pytest.raises(Open311Unavailable, match="could not be reached") as info,
    ):
        client.services()
    assert not info.value.maybe_sent


def test_mock_transport_is_accepted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"service_request_id": "9", "service_notice": None})

    with Open311Client("https://311.example.gov/v2", transport=httpx.MockTransport(handler)) as c:
        assert (
            c.create_request(NewRequest("A", "b", address_string="1 Main St")).service_request_id
            == "9"
        )


def test_description_is_clean_and_short() -> None:
    text = clean_description("<script>x</script>Hi\x00 there " + "a" * 5000)
    assert "<" not in text and "\x00" not in text and len(text) < 4000
