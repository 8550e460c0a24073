"""A fake GeoReport v2 (Open311) server: real HTTP on 127.0.0.1 in a thread.

It speaks the wire format: ``services.json``, ``services/{code}.json``, form-encoded ``POST
requests.json``, ``GET requests.json`` with filters, ``requests/{id}.json``,
``tokens/{token}.json``, error arrays of ``{code, description}``, an ``api_key`` check (403),
and an OAuth client-credentials token endpoint (``/oauth/token``) whose bearer tokens it
checks (401). It can be told to misbehave: answer 503 or drop the connection for the next N
calls, answer slowly, answer 201, speak XML only, send errors in another shape, hide
descriptions from listings. It records every request it receives.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

PREFIX = "/open311/v2/"

DEFAULT_SERVICES: list[dict[str, Any]] = [
    {
        "service_code": code,
        "service_name": name,
        "description": name,
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": "Boston",
    }
    for code, name in [
        ("REQPOTHL", "Request Pothole Repair"),
        ("STRLGTOUT", "Street Light Outages"),
        ("EMPLITBSKT", "Empty Litter Basket"),
        ("IMPSTRTRSH", "Improper Storage of Trash"),
        ("GENERALGRAFFITI", "Graffiti Removal"),
        ("TREEMAINT", "Tree Maintenance"),
        ("SDWRPR", "Sidewalk Repair"),
        ("TFCSGNINSP", "Traffic Signal Inspection"),
        ("MISDMGSGN", "Missing or Damaged Sign"),
        ("PRKGENFORC", "Parking Enforcement"),
        ("ABNDVHCL", "Abandoned Vehicles"),
        ("CATCHBASE", "Clean Catch Basin"),
        ("EQUIPREPR", "Park Equipment Repair"),
        ("LGHTELEC", "Park Lights"),
        ("RODENTACT", "Rodent Activity"),
        ("PUDEADANML", "Pick up Dead Animal"),
        ("NEEDRMVL", "Needle Pickup"),
        ("BOS311GEN", "General Request"),
    ]
]


@dataclass
class Recorded:
    method: str
    path: str  # without the prefix, e.g. "requests.json"
    query: dict[str, str]
    form: list[tuple[str, str]]
    headers: dict[str, str]

    def field(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name), None)


@dataclass
class FakeOpen311:
    api_key: str | None = None  # when set, POST requests.json needs it (403 otherwise)
    oauth_client: tuple[str, str] | None = None  # (id, secret): bearer tokens required
    token_lifetime: int = 3600
    services: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(s) for s in DEFAULT_SERVICES]
    )
    definitions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    token_mode: set[str] = field(default_factory=set)  # service codes answered with a token
    token_polls_before_id: int = 0
    status_201: bool = False
    xml_only: bool = False
    error_shape: str = "spec"  # spec | object | text
    require_description: bool = False
    hide_descriptions: bool = False
    delay: float = 0.0  # every answer waits this long
    slow_seconds: float = 0.6  # how long a "slow" fault waits
    # misbehaviour for the next N calls: ("503" | "drop" | "slow", n, only this path or None)
    _faults: list[list[Any]] = field(default_factory=list)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    bearer_tokens: dict[str, datetime] = field(default_factory=dict)
    recorded: list[Recorded] = field(default_factory=list)
    _next_id: int = 101004500
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> FakeOpen311:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/token"

    def fail_next(
        self, n: int, mode: str = "503", path: str | None = None, method: str | None = None
    ) -> None:
        """Misbehave on the next ``n`` calls (matching ``path`` prefix and ``method``)."""
        with self._lock:
            self._faults.append([mode, n, path, method])

    def expire_tokens(self) -> None:
        with self._lock:
            self.bearer_tokens.clear()

    def posts(self) -> list[Recorded]:
        return [r for r in self.recorded if r.method == "POST" and r.path.startswith("requests.")]

    def calls(self, path_prefix: str, method: str = "GET") -> list[Recorded]:
        return [r for r in self.recorded if r.method == method and r.path.startswith(path_prefix)]

    def add_request(
        self,
        service_code: str,
        *,
        lat: float | None = None,
        lon: float | None = None,
        address: str | None = None,
        status: str = "open",
        description: str = "reported by phone",
        requested: datetime | None = None,
    ) -> str:
        """A request filed by someone else (phone, app): for duplicate tests."""
        with self._lock:
            rid = self._new_id()
            self.requests[rid] = self._request_row(
                rid, service_code, description, lat, lon, address, {}, requested
            )
            self.requests[rid]["status"] = status
            return rid

    def set_status(self, rid: str, status: str, notes: str | None = None) -> None:
        with self._lock:
            row = self.requests[rid]
            row["status"] = status
            row["status_notes"] = notes
            row["updated_datetime"] = _iso(datetime.now(UTC))

    # ------------------------------------------------------------------ internals

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _request_row(
        self,
        rid: str,
        code: str,
        description: str,
        lat: float | None,
        lon: float | None,
        address: str | None,
        attributes: dict[str, Any],
        requested: datetime | None = None,
    ) -> dict[str, Any]:
        now = _iso(requested or datetime.now(UTC))
        name = next((s["service_name"] for s in self.services if s["service_code"] == code), code)
        return {
            "service_request_id": rid,
            "status": "open",
            "status_notes": None,
            "service_name": name,
            "service_code": code,
            "description": description,
            "agency_responsible": "Public Works",
            "service_notice": None,
            "requested_datetime": now,
            "updated_datetime": now,
            "expected_datetime": None,
            "address": address,
            "address_id": None,
            "zipcode": None,
            "lat": lat,
            "long": lon,
            "media_url": None,
            "attributes": attributes,
        }

    def _take_fault(self, path: str, method: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                mode, n, only, verb = fault
                if n > 0 and (only is None or path.startswith(only)) and verb in (None, method):
                    fault[1] -= 1
                    return str(mode)
        return None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _parse_dt(value: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _to_xml(tag: str, value: Any) -> str:
    item_tag = {
        "services": "service",
        "service_requests": "request",
        "errors": "error",
        "attributes": "attribute",
        "values": "value",
        "tokens": "token",
    }
    if isinstance(value, list):
        inner = "".join(_to_xml(item_tag.get(tag, "item"), v) for v in value)
    elif isinstance(value, dict):
        inner = "".join(_to_xml(k, v) for k, v in value.items())
    elif value is None:
        inner = ""
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpen311
    protocol_version = "HTTP/1.1"
    # a response is written as headers, then body: with Nagle's algorithm on, the body waits
    # for the client's delayed acknowledgement of the headers (about 40 ms a request on a
    # kept-alive connection)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    # ------------------------------------------------------------------ plumbing

    def _read(self) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        form = parse_qsl(body, keep_blank_values=True) if body else []
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), form

    def _send(self, status: int, body: Any, fmt: str, root: str = "service_requests") -> None:
        if fmt == "xml":
            data = ('<?xml version="1.0" encoding="utf-8"?>' + _to_xml(root, body)).encode()
            ctype = "text/xml; charset=utf-8"
        elif isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str | int, description: str, fmt: str) -> None:
        fake = self.server_fake
        errors = [{"code": code, "description": description}]
        if fmt == "xml":
            self._send(status, errors, "xml", "errors")
        elif fake.error_shape == "object":
            self._send(status, {"errors": errors}, "json")
        elif fake.error_shape == "text":
            self._send(status, f"<html><body><h1>Error</h1>{description}</body></html>", "json")
        else:
            self._send(status, errors, "json")

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        try:
            self._dispatch(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a timeout test)

    def _dispatch(self, method: str) -> None:
        fake = self.server_fake
        path, query, form = self._read()
        rel = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        fake.recorded.append(
            Recorded(method, rel, query, form, {k.lower(): v for k, v in self.headers.items()})
        )
        fault = fake._take_fault(rel, method)
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "503":
            self._error(503, 503, "Service temporarily unavailable", "json")
            return
        if fault == "slow" or fake.delay:
            time.sleep(fake.slow_seconds if fault == "slow" else fake.delay)
        if path == "/oauth/token" and method == "POST":
            self._token_endpoint(dict(form))
            return
        if not path.startswith(PREFIX):
            self._error(404, 404, "Not found", "json")
            return
        stem, _, fmt = rel.rpartition(".")
        if fmt not in ("json", "xml") or (fake.xml_only and fmt == "json"):
            self._send(404, "Not Found", "json")
            return
        if fake.oauth_client is not None:
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip()
            expires = fake.bearer_tokens.get(token)
            if not auth.startswith("Bearer ") or expires is None or expires < datetime.now(UTC):
                self._error(401, 401, "Invalid or expired access token", fmt)
                return
        if method == "GET" and stem == "services":
            self._send(200, fake.services, fmt, "services")
        elif method == "GET" and stem.startswith("services/"):
            code = stem.split("/", 1)[1]
            if not any(s["service_code"] == code for s in fake.services):
                self._error(404, 404, f"service_code {code} not found", fmt)
                return
            body = {"service_code": code, "attributes": fake.definitions.get(code, [])}
            self._send(200, body, fmt, "service_definition")
        elif method == "POST" and stem == "requests":
            self._create(form, fmt)
        elif method == "GET" and stem == "requests":
            self._list(query, fmt)
        elif method == "GET" and stem.startswith("requests/"):
            rid = stem.split("/", 1)[1]
            row = fake.requests.get(rid)
            if row is None:
                self._error(404, 404, f"service_request_id {rid} not found", fmt)
                return
            self._send(200, [self._public(row)], fmt)
        elif method == "GET" and stem.startswith("tokens/"):
            token = stem.split("/", 1)[1]
            info = fake.tokens.get(token)
            if info is None:
                self._error(404, 404, f"token {token} not found", fmt)
                return
            info["polls"] += 1
            answer: dict[str, Any] = {"token": token}
            if info["polls"] > fake.token_polls_before_id:
                answer["service_request_id"] = info["rid"]
            self._send(200, [answer], fmt, "tokens")
        else:
            self._error(404, 404, "Not found", fmt)

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k != "attributes"}
        if self.server_fake.hide_descriptions:
            out.pop("description", None)
        return out

    def _token_endpoint(self, form: dict[str, str]) -> None:
        fake = self.server_fake
        if (
            fake.oauth_client is None
            or form.get("grant_type") != "client_credentials"
            or (form.get("client_id"), form.get("client_secret")) != fake.oauth_client
        ):
            self._send(401, {"error": "invalid_client", "error_description": "bad client"}, "json")
            return
        token = secrets.token_hex(12)
        fake.bearer_tokens[token] = datetime.now(UTC) + timedelta(seconds=fake.token_lifetime)
        self._send(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": fake.token_lifetime},
            "json",
        )

    def _create(self, form: list[tuple[str, str]], fmt: str) -> None:
        fake = self.server_fake
        data = dict(form)
        if fake.api_key is not None and data.get("api_key") != fake.api_key:
            self._error(403, 403, "Invalid api_key", fmt)
            return
        code = data.get("service_code", "")
        service = next((s for s in fake.services if s["service_code"] == code), None)
        if service is None:
            self._error(400, "service_code", f"Service code {code} is not valid", fmt)
            return
        lat, lon = data.get("lat"), data.get("long")
        if not (lat and lon) and not data.get("address_string") and not data.get("address_id"):
            self._error(400, "location", "A location (lat/long or address_string) is required", fmt)
            return
        description = data.get("description", "")
        if fake.require_description and not description.strip():
            self._error(400, "description", "description is required", fmt)
            return
        if len(description) > 4000 or "<" in description and ">" in description:
            self._error(
                400, "description", "description must be plain text under 4000 characters", fmt
            )
            return
        attributes: dict[str, Any] = {}
        for key, value in form:
            if key.startswith("attribute["):
                name = key[len("attribute[") :].split("]", 1)[0]
                if key.endswith("[]"):
                    attributes.setdefault(name, []).append(value)
                else:
                    attributes[name] = value
        for attr in fake.definitions.get(code, []):
            if (
                attr.get("required")
                and attr.get("variable", True)
                and not attributes.get(attr["code"])
            ):
                self._error(
                    400, f"attribute[{attr['code']}]", f"{attr['description']} is required", fmt
                )
                return
        with fake._lock:
            rid = fake._new_id()
            fake.requests[rid] = fake._request_row(
                rid,
                code,
                description,
                float(lat) if lat else None,
                float(lon) if lon else None,
                data.get("address_string"),
                attributes,
            )
        status = 201 if fake.status_201 else 200
        if code in fake.token_mode:
            token = secrets.token_hex(8)
            fake.tokens[token] = {"rid": rid, "polls": 0}
            self._send(status, [{"token": token, "service_notice": "Queued for review"}], fmt)
        else:
            self._send(
                status,
                [{"service_request_id": rid, "service_notice": "Thank you", "account_id": None}],
                fmt,
            )

    def _list(self, query: dict[str, str], fmt: str) -> None:
        fake = self.server_fake
        rows = list(fake.requests.values())
        if query.get("service_request_id"):
            ids = set(query["service_request_id"].split(","))
            rows = [r for r in rows if r["service_request_id"] in ids]
        if query.get("service_code"):
            codes = set(query["service_code"].split(","))
            rows = [r for r in rows if r["service_code"] in codes]
        if query.get("status"):
            statuses = set(query["status"].split(","))
            rows = [r for r in rows if r["status"] in statuses]
        start = _parse_dt(query.get("start_date", "")) if query.get("start_date") else None
        end = _parse_dt(query.get("end_date", "")) if query.get("end_date") else None
        if start:
            rows = [r for r in rows if _parse_dt(r["requested_datetime"]) >= start]  # type: ignore[operator]
        if end:
            rows = [r for r in rows if _parse_dt(r["requested_datetime"]) <= end]  # type: ignore[operator]
        self._send(200, [self._public(r) for r in rows], fmt)


# --------------------------------------------------------------------------- test helpers


class Clock:
    """An injected clock that tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def geo_post(
    i: int, text: str, lat: float | None = None, lon: float | None = None, **extra: Any
) -> dict[str, Any]:
    """A replay line with a link and, when given, the post's coordinates."""
    row: dict[str, Any] = {
        "platform": "x",
        "external_id": str(2_000_000 + i),
        "author": f"resident{i}",
        "text": text,
        "created_at": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "url": f"https://x.com/resident{i}/status/{2_000_000 + i}",
        "lat": lat,
        "lon": lon,
    }
    row.update(extra)
    return row
