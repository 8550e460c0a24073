"""Routing: which city a post from a shared source (a state-wide keyword stream, a subreddit)
is about.

In order: the city a source already named; mentions of a city's own accounts; place names
from each city's gazetteer (the city's name, neighborhoods, landmarks; street names are left
out because every town has a Main Street); coordinates inside a city's bounding box. A post
that matches two cities is shown to both; one that matches none goes to the state-level
queue. With one city configured, everything is that city's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from civic_listener.cities import CityDirectory, CityInfo
from listener.base import PostIn

STATE_QUEUE = "_state"


@dataclass(slots=True)
class _CityMatcher:
    city: CityInfo
    places: re.Pattern[str] | None
    bbox: tuple[float, float, float, float] | None  # south, west, north, east


def _place_names(city: CityInfo) -> tuple[list[str], list[tuple[float, float]]]:
    from classifiers import Gazetteer

    path = city.settings.gazetteer
    gz = Gazetteer.load(path) if path else Gazetteer.load_default()
    names = {city.settings.name}
    points = []
    for place in gz.places:
        if place.kind in ("neighborhood", "landmark"):
            names.add(place.name)
            if place.lat is not None and place.lon is not None:
                points.append((place.lat, place.lon))
    for key, place in gz.aliases.items():
        if place.kind in ("neighborhood", "landmark") and len(" ".join(key)) >= 4:
            names.add(" ".join(key))
    return sorted(n for n in names if len(n) >= 4), points


class Router:
    def __init__(self, cities: CityDirectory) -> None:
        self.cities = cities
        self.state = cities.by_slug.get(STATE_QUEUE)
        self.matchers: list[_CityMatcher] = []
        for city in cities:
            if city.slug == STATE_QUEUE:
                continue
            names, points = _place_names(city)
            pattern = (
                re.compile(
                    r"(?<!\w)(?:"
                    + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                    + r")(?!\w)",
                    re.IGNORECASE,
                )
                if names
                else None
            )
            bbox = city.settings.bbox
            if bbox is None and points:
                lats, lons = [p[0] for p in points], [p[1] for p in points]
                bbox = (min(lats) - 0.03, min(lons) - 0.03, max(lats) + 0.03, max(lons) + 0.03)
            self.matchers.append(_CityMatcher(city, pattern, tuple(bbox) if bbox else None))  # type: ignore[arg-type]

    def route(self, post: PostIn) -> list[CityInfo]:
        if post.city:
            return [self.cities.get(post.city)]
        real = [m for m in self.matchers]
        if len(real) == 1 and self.state is None:
            return [real[0].city]
        mentions = {m.lower().lstrip("@") for m in post.mentions}
        hits = [m.city for m in real if mentions & m.city.accounts.get(post.platform, frozenset())]
        if not hits:
            hits = [m.city for m in real if m.places is not None and m.places.search(post.text)]
        if not hits and post.lat is not None and post.lon is not None:
            hits = [
                m.city
                for m in real
                if m.bbox
                and m.bbox[0] <= post.lat <= m.bbox[2]
                and m.bbox[1] <= post.lon <= m.bbox[3]
            ]
        if hits:
            return hits
        return [self.state] if self.state is not None else [self.cities.default]
