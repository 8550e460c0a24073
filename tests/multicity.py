"""Three cities sharing one database: Boston (shipped gazetteer), Worcester, Springfield."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def three_cities() -> dict[str, Any]:
    return {
        "boston": {"name": "Boston"},
        "worcester": {
            "name": "Worcester",
            "accounts": {"x": ["WorcesterMA"], "mastodon": [], "bluesky": [], "reddit": []},
            "keywords": ["worcester"],
            "gazetteer": str(DATA / "gazetteer_worcester.json"),
        },
        "springfield": {
            "name": "Springfield",
            "accounts": {"x": ["SpringfieldMA311"], "mastodon": [], "bluesky": [], "reddit": []},
            "keywords": ["springfield"],
            "gazetteer": str(DATA / "gazetteer_springfield.json"),
            "default_language": "es",
        },
    }
