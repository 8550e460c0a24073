"""Decoding GeoReport v2 answers: JSON or XML bodies, and error lists in whatever shape a
real server sends them.

The spec answers with arrays (``[{"service_request_id": ...}]``) and errors as arrays of
``{code, description}``. Real servers bend it: a single object instead of an array,
``{"errors": [...]}``, ``{"error": "..."}``, ``{"message": "..."}``, plain text, or XML only.
Everything here turns those into plain Python values and :class:`ServerError` lists.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 (expat >= 2.4 refuses entity expansion bombs)
from typing import Any

import httpx

from responders.open311.errors import Open311ProtocolError, ServerError

# Container elements whose children are list items even when there is only one.
_LIST_PARENTS = {
    "services",
    "service_requests",
    "errors",
    "attributes",
    "values",
    "tokens",
    "keywords",
}
_TAGS = re.compile(r"<[^>]+>")


def is_xml(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    return "xml" in ctype or response.text.lstrip().startswith("<?xml")


def _element(elem: ET.Element) -> Any:
    children = list(elem)
    if not children:
        return (elem.text or "").strip()
    if elem.tag in _LIST_PARENTS or (
        len(children) > 1 and len({c.tag for c in children}) == 1 and elem.tag.endswith("s")
    ):
        return [_element(c) for c in children]
    out: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[child.tag] = value
    return out


def parse_xml(text: str) -> Any:
    try:
        root = ET.fromstring(text)  # noqa: S314 (see import note)
    except ET.ParseError as exc:
        raise Open311ProtocolError(f"the 311 server sent XML that does not parse: {exc}") from exc
    return _element(root)


def decode(response: httpx.Response) -> Any:
    """The body as Python values, from JSON or XML."""
    if not response.content.strip():
        return None
    if is_xml(response):
        return parse_xml(response.text)
    try:
        return response.json()
    except ValueError as exc:
        raise Open311ProtocolError(
            f"the 311 server answered {response.status_code} with a body that is neither JSON "
            f"nor XML: {response.text[:200]!r}"
        ) from exc


def as_list(value: Any) -> list[dict[str, Any]]:
    """A spec array of objects, from an array, a single object or a wrapped list."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        for key in ("service_requests", "requests", "services", "tokens", "data", "results"):
            if isinstance(value.get(key), list):
                return [v for v in value[key] if isinstance(v, dict)]
        # XML: <service_requests><request>..</request></service_requests> decodes to {"request": ...}
        if len(value) == 1:
            (only,) = value.values()
            if isinstance(only, list) and all(isinstance(v, dict) for v in only):
                return only
            if isinstance(only, dict):
                return [only]
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    raise Open311ProtocolError(f"expected a list of objects, got {type(value).__name__}")


def server_errors(response: httpx.Response) -> list[ServerError]:
    """Whatever the server said went wrong, as ``{code, description}`` entries."""
    try:
        body = decode(response)
    except Open311ProtocolError:
        body = response.text
    return _errors_from(body)


def _errors_from(body: Any) -> list[ServerError]:
    if body is None or body == "":
        return []
    if isinstance(body, str):
        text = _TAGS.sub(" ", body)
        text = " ".join(text.split())[:300]
        return [ServerError("", text)] if text else []
    if isinstance(body, list):
        out: list[ServerError] = []
        for item in body:
            out += _errors_from(item)
        return out
    if isinstance(body, dict):
        for key in ("errors", "error"):
            if key in body and not isinstance(body[key], str | int):
                return _errors_from(body[key])
        if "description" in body or "code" in body:
            return [ServerError(str(body.get("code", "")), str(body.get("description", "")))]
        for key in ("error_description", "message", "error", "detail"):
            if body.get(key):
                return [ServerError(str(body.get("code", "")), str(body[key]))]
        return [ServerError("", json.dumps(body)[:300])]
    return [ServerError("", str(body)[:300])]


def strip_html(text: str) -> str:
    """Text without tags (GeoReport descriptions carry no HTML)."""
    return _TAGS.sub("", text)
