"""The cities this deployment serves, as the pipeline sees them: ids, accounts, routing."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from civic_listener.settings import CitySettings, Settings
from models.store import ensure_city


def _handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


@dataclass(slots=True)
class CityInfo:
    id: int
    slug: str
    settings: CitySettings
    # platform -> lowercased handles of the city's own accounts
    accounts: dict[str, frozenset[str]] = field(default_factory=dict)

    def is_own(self, platform: str, author: str) -> bool:
        return _handle(author) in self.accounts.get(platform, frozenset())


class CityDirectory:
    """Every configured city, created in the database on first start."""

    def __init__(self, cities: dict[str, CityInfo], default_slug: str) -> None:
        self.by_slug = cities
        self.by_id = {c.id: c for c in cities.values()}
        self.default = cities[default_slug]

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> CityDirectory:
        infos: dict[str, CityInfo] = {}
        for slug, cs in settings.cities.items():
            cid = ensure_city(engine, slug=slug, name=cs.name, timezone=cs.timezone)
            infos[slug] = CityInfo(
                id=cid,
                slug=slug,
                settings=cs,
                accounts={p: frozenset(_handle(a) for a in acc) for p, acc in cs.accounts.items()},
            )
        if len(infos) > 1:
            from civic_listener.routing import STATE_QUEUE

            cid = ensure_city(engine, slug=STATE_QUEUE, name=settings.state_queue_name)
            infos[STATE_QUEUE] = CityInfo(
                id=cid,
                slug=STATE_QUEUE,
                settings=CitySettings(name=settings.state_queue_name, accounts={}, keywords=[]),
            )
        return cls(infos, settings.default_city)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_slug.values())

    def __len__(self) -> int:
        return len(self.by_slug)

    def get(self, slug: str) -> CityInfo:
        try:
            return self.by_slug[slug]
        except KeyError:
            raise LookupError(
                f"unknown city {slug!r}; configured: {', '.join(sorted(self.by_slug))}"
            ) from None
