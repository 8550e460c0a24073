"""``civic-listener cases check``: what each city's 311 server offers, against the service map."""

from __future__ import annotations

from typing import Any

from responders.open311.attach import Cases
from responders.open311.errors import Open311Error


def check_cities(cases: Cases) -> dict[str, Any]:
    """Per city: endpoint, whether filing is live, the mapped codes the server lacks."""
    out: dict[str, Any] = {}
    desk = cases.desk
    try:
        for city in desk.cities.values():
            entry: dict[str, Any] = {
                "open311_url": city.endpoint.url if city.endpoint else None,
                "filing_live": city.live,
                "service_codes": city.services_map.codes,
            }
            if city.endpoint is None:
                entry["note"] = city.not_filed_reason()
            else:
                try:
                    offered = desk.client(city).services()
                except Open311Error as exc:
                    entry["error"] = str(exc)
                else:
                    entry["services_offered"] = len(offered)
                    entry["mapped_codes_not_offered"] = city.services_map.check(offered)
                    entry["format"] = desk.client(city).fmt
            out[city.info.slug] = entry
    finally:
        desk.close_clients()
    return out
