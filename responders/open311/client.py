"""A GeoReport v2 client on httpx, with the transport injectable.

Covers service discovery (``services.json``, ``services/{code}.json``), ``POST
requests.json`` (form-encoded), ``GET requests.json`` with filters, ``GET requests/{id}.json``
and ``GET tokens/{token}.json``. It accepts what real servers send (200 or 201, a single
object instead of an array, XML when a server has no JSON) and turns every refusal into an
:mod:`responders.open311.errors` exception that says in plain words what was refused.

The format is found once per client: ``.json`` first, and ``.xml`` from then on when the
server answers the JSON URL with 404/406/415 or with an XML body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from responders.open311.auth import ApiKeyAuth, BearerTokenAuth
from responders.open311.errors import (
    Open311AuthFailed,
    Open311Error,
    Open311ProtocolError,
    Open311Refused,
    Open311Unavailable,
)
from responders.open311.wire import as_list, decode, is_xml, server_errors, strip_html

MAX_DESCRIPTION = 4000
USER_AGENT = "civic-listener (Open311 GeoReport v2 client)"


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a service definition."""

    code: str
    description: str = ""
    datatype: str = "string"
    required: bool = False
    variable: bool = True
    order: int = 0
    values: tuple[tuple[str, str], ...] = ()  # (key, name)


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    description: str = ""
    metadata: bool = False
    type: str = "realtime"
    group: str = ""
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the server answered to a new request: an id, or a token to look the id up later."""

    service_request_id: str | None
    token: str | None
    service_notice: str | None = None


@dataclass(slots=True)
class NewRequest:
    """A service request to file. Give coordinates or an address (or both)."""

    service_code: str
    description: str
    lat: float | None = None
    lon: float | None = None
    address_string: str | None = None
    media_url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def form(self) -> list[tuple[str, str]]:
        if self.lat is None and not self.address_string:
            raise ValueError("a service request needs coordinates or an address")
        pairs: list[tuple[str, str]] = [("service_code", self.service_code)]
        if self.lat is not None and self.lon is not None:
            pairs += [("lat", f"{self.lat:.6f}"), ("long", f"{self.lon:.6f}")]
        if self.address_string:
            pairs.append(("address_string", self.address_string))
        pairs.append(("description", clean_description(self.description)))
        if self.media_url:
            pairs.append(("media_url", self.media_url))
        for code, value in self.attributes.items():
            if isinstance(value, list | tuple):
                pairs += [(f"attribute[{code}][]", str(v)) for v in value]
            elif value is not None and value != "":
                pairs.append((f"attribute[{code}]", str(value)))
        return pairs


def clean_description(text: str) -> str:
    """No HTML, no control characters, under the spec's 4,000 characters."""
    text = strip_html(text)
    text = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    return text[: MAX_DESCRIPTION - 1]


@dataclass(frozen=True, slots=True)
class RemoteRequest:
    """A service request as the server reports it."""

    service_request_id: str
    status: str
    service_code: str = ""
    description: str | None = None
    status_notes: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    requested_datetime: datetime | None = None
    updated_datetime: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> RemoteRequest:
        return cls(
            service_request_id=str(obj.get("service_request_id") or ""),
            status=str(obj.get("status") or "").lower(),
            service_code=str(obj.get("service_code") or ""),
            description=None if obj.get("description") is None else str(obj["description"]),
            status_notes=str(obj["status_notes"]) if obj.get("status_notes") else None,
            lat=_float(obj.get("lat")),
            lon=_float(obj.get("long", obj.get("lon"))),
            address=str(obj["address"]) if obj.get("address") else None,
            requested_datetime=_when(obj.get("requested_datetime")),
            updated_datetime=_when(obj.get("updated_datetime")),
            raw=dict(obj),
        )


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _bool(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


class Open311Client:
    """One city's GeoReport v2 endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        jurisdiction_id: str | None = None,
        api_key: ApiKeyAuth | None = None,
        bearer: BearerTokenAuth | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 20.0,
        fmt: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.jurisdiction_id = jurisdiction_id
        self.api_key = api_key
        self.fmt = fmt  # "json", "xml", or None until found
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            auth=bearer,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json, text/xml;q=0.5"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Open311Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _params(self, extra: Mapping[str, Any] | None = None, *, write: bool) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.jurisdiction_id:
            params["jurisdiction_id"] = self.jurisdiction_id
        if self.api_key is not None:
            params.update(self.api_key.params(write=write))
        for k, v in (extra or {}).items():
            if v is not None:
                params[k] = v.isoformat() if isinstance(v, datetime) else str(v)
        return params

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.base_url + path
        try:
            return self._http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Open311Unavailable(
                f"the 311 server at {self.base_url} could not be reached ({type(exc).__name__})"
            ) from exc
        except httpx.TimeoutException as exc:
            raise Open311Unavailable(
                f"the 311 server at {self.base_url} did not answer in time ({type(exc).__name__})",
                maybe_sent=True,
            ) from exc
        except httpx.TransportError as exc:
            raise Open311Unavailable(
                f"the 311 server at {self.base_url} dropped the connection: {exc}", maybe_sent=True
            ) from exc

    def _call(self, method: str, stem: str, **kwargs: Any) -> Any:
        fmts = [self.fmt] if self.fmt else ["json", "xml"]
        response: httpx.Response | None = None
        for fmt in fmts:
            response = self._send(method, f"{stem}.{fmt}", **kwargs)
            if self.fmt is None and fmt == "json" and response.status_code in (404, 406, 415):
                continue  # maybe an XML-only server
            if self.fmt is None and response.status_code < 400:
                self.fmt = "xml" if is_xml(response) else "json"
            break
        assert response is not None
        self._raise_for(response, method, stem)
        return decode(response)

    def _raise_for(self, response: httpx.Response, method: str, stem: str) -> None:
        code = response.status_code
        if code < 300:
            return
        what = f"{method} {stem}"
        errors = server_errors(response)
        said = "; ".join(str(e) for e in errors) or "no reason given"
        if code in (401, 403):
            raise Open311AuthFailed(
                f"the 311 server refused our credentials for {what} ({code}): {said}. "
                "Check the API key or the OAuth client settings.",
                status=code,
            )
        if code == 429 or code >= 500:
            retry = response.headers.get("Retry-After")
            raise Open311Unavailable(
                f"the 311 server is unavailable for {what} ({code}): {said}",
                status=code,
                retry_after=float(retry) if retry and retry.isdigit() else None,
            )
        if code >= 400:
            raise Open311Refused(
                f"the 311 server refused {what} ({code}): {said}", status=code, errors=errors
            )
        raise Open311ProtocolError(f"the 311 server answered {what} with {code}", status=code)

    # ------------------------------------------------------------------ discovery

    def services(self) -> list[Service]:
        """``GET services.json``: every service the server offers."""
        rows = as_list(self._call("GET", "services", params=self._params(write=False)))
        out = []
        for r in rows:
            if not r.get("service_code"):
                continue
            kw = r.get("keywords") or ""
            out.append(
                Service(
                    code=str(r["service_code"]),
                    name=str(r.get("service_name") or r["service_code"]),
                    description=str(r.get("description") or ""),
                    metadata=_bool(r.get("metadata")),
                    type=str(r.get("type") or "realtime"),
                    group=str(r.get("group") or ""),
                    keywords=tuple(
                        k.strip() for k in (kw.split(",") if isinstance(kw, str) else kw) if k
                    ),
                )
            )
        return out

    def service_definition(self, code: str) -> list[Attribute]:
        """``GET services/{code}.json``: the attributes a service asks for."""
        body = self._call("GET", f"services/{code}", params=self._params(write=False))
        if isinstance(body, list):  # some servers wrap the definition in an array
            body = body[0] if body else {}
        if not isinstance(body, dict):
            raise Open311ProtocolError(f"the service definition of {code} is not an object")
        attrs = body.get("attributes") or []
        if isinstance(attrs, dict):
            attrs = as_list(attrs)
        out = []
        for a in attrs:
            if not isinstance(a, dict) or not a.get("code"):
                continue
            values = a.get("values") or []
            if isinstance(values, dict):
                values = as_list(values)
            out.append(
                Attribute(
                    code=str(a["code"]),
                    description=str(a.get("description") or a.get("datatype_description") or ""),
                    datatype=str(a.get("datatype") or "string"),
                    required=_bool(a.get("required")),
                    variable=_bool(a.get("variable", True)),
                    order=int(a.get("order") or 0),
                    values=tuple(
                        (str(v.get("key")), str(v.get("name") or v.get("key")))
                        for v in values
                        if isinstance(v, dict)
                    ),
                )
            )
        return sorted(out, key=lambda a: a.order)

    # ------------------------------------------------------------------ requests

    def create_request(self, request: NewRequest) -> Receipt:
        """``POST requests.json``: file a request; the answer holds an id or a token."""
        form = list(self._params(write=True).items()) + request.form()
        rows = as_list(
            self._call(
                "POST",
                "requests",
                content=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        )
        if not rows:
            raise Open311ProtocolError("the 311 server accepted the request but sent no receipt")
        first = rows[0]
        rid, token = first.get("service_request_id"), first.get("token")
        if not rid and not token:
            raise Open311ProtocolError(
                "the 311 server answered without a service_request_id or a token"
            )
        return Receipt(
            service_request_id=str(rid) if rid else None,
            token=str(token) if token else None,
            service_notice=str(first["service_notice"]) if first.get("service_notice") else None,
        )

    def requests(
        self,
        *,
        service_request_ids: Sequence[str] = (),
        service_code: str | None = None,
        status: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> list[RemoteRequest]:
        """``GET requests.json`` with the spec's filters."""
        params = self._params(
            {
                "service_request_id": ",".join(service_request_ids) or None,
                "service_code": service_code,
                "status": status,
                "start_date": start_date,
                "end_date": end_date,
            },
            write=False,
        )
        rows = as_list(self._call("GET", "requests", params=params))
        return [RemoteRequest.parse(r) for r in rows if r.get("service_request_id")]

    def request(self, service_request_id: str) -> RemoteRequest | None:
        """``GET requests/{id}.json``; None when the server does not know it."""
        try:
            body = self._call(
                "GET", f"requests/{service_request_id}", params=self._params(write=False)
            )
        except Open311Refused as exc:
            if exc.status == 404:
                return None
            raise
        rows = as_list(body)
        return RemoteRequest.parse(rows[0]) if rows else None

    def token(self, token: str) -> str | None:
        """``GET tokens/{token}.json``: the request id once the server assigned one."""
        try:
            body = self._call("GET", f"tokens/{token}", params=self._params(write=False))
        except Open311Refused as exc:
            if exc.status == 404:
                return None
            raise
        for row in as_list(body):
            if row.get("service_request_id"):
                return str(row["service_request_id"])
        return None


__all__ = [
    "Attribute",
    "NewRequest",
    "Open311Client",
    "Open311Error",
    "Receipt",
    "RemoteRequest",
    "Service",
    "clean_description",
]
