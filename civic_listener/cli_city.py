"""``civic-listener city add|list|show``: the cities this deployment serves."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from civic_listener.settings import DEFAULT_CONFIG_FILE, SettingsError, load_settings

_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}$")


def _toml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def city_add(args: argparse.Namespace) -> int:
    if not _SLUG.match(args.slug):
        raise SettingsError(f"city slug {args.slug!r}: use lowercase letters, digits and '-'")
    path: Path = args.config or DEFAULT_CONFIG_FILE
    existing: dict[str, Any] = {}
    if path.exists():
        existing = tomllib.loads(path.read_text(encoding="utf-8"))
    if args.slug in existing.get("cities", {}):
        raise SettingsError(f"city {args.slug!r} is already in {path}")
    lines = []
    if not existing.get("cities"):
        # Until now the deployment ran as the one implicit default city: keep it, and its data.
        current = load_settings(args.config)
        slug = current.default_city
        lines += [f"\n[cities.{slug}]", f"name = {_toml_value(current.cities[slug].name)}"]
    lines += [f"\n[cities.{args.slug}]", f"name = {_toml_value(args.name)}"]
    if args.timezone:
        lines.append(f"timezone = {_toml_value(args.timezone)}")
    if args.gazetteer:
        lines.append(f"gazetteer = {_toml_value(str(Path(args.gazetteer).resolve()))}")
    if args.open311_url:
        lines.append(f"open311_url = {_toml_value(args.open311_url)}")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    settings = load_settings(path)  # validates the file as a whole
    from civic_listener.wiring import build_services

    services = build_services(settings, with_sources=False)
    city = services.cities.get(args.slug)
    services.close()
    print(f"added city {args.slug} (id {city.id}) to {path}")
    return 0


def _counts(engine: sa.Engine) -> dict[int, dict[str, int]]:
    from models.store import POST
    from models.tables import Reply, ServiceRequest

    out: dict[int, dict[str, int]] = {}
    with engine.connect() as conn:
        for key, table, col in (
            ("posts", POST, POST.c.city_id),
            ("cases", ServiceRequest.__table__, ServiceRequest.__table__.c.city_id),  # type: ignore[attr-defined]
            ("replies", Reply.__table__, Reply.__table__.c.city_id),  # type: ignore[attr-defined]
        ):
            for cid, n in conn.execute(
                sa.select(col, sa.func.count()).select_from(table).group_by(col)
            ):
                out.setdefault(cid, {})[key] = n
    return out


def city_list(args: argparse.Namespace) -> int:
    from civic_listener.wiring import build_services

    services = build_services(load_settings(args.config), with_sources=False)
    counts = _counts(services.engine)
    for city in services.cities:
        c = counts.get(city.id, {})
        default = " (default)" if city is services.cities.default else ""
        print(
            f"{city.slug}\t{city.settings.name}{default}\tposts={c.get('posts', 0)}\tcases={c.get('cases', 0)}\treplies={c.get('replies', 0)}"
        )
    services.close()
    return 0


def city_show(args: argparse.Namespace) -> int:
    from civic_listener.wiring import build_services

    services = build_services(load_settings(args.config), with_sources=False)
    city = services.cities.get(args.slug)
    info = {
        "slug": city.slug,
        "id": city.id,
        **city.settings.model_dump(mode="json"),
        "counts": _counts(services.engine).get(city.id, {}),
    }
    services.close()
    print(json.dumps(info, indent=2, ensure_ascii=False))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("city", help="the cities this deployment serves: add, list, show")
    city_sub = p.add_subparsers(dest="city_command", required=True)
    a = city_sub.add_parser("add", help="add a [cities.<slug>] section to the config file")
    a.add_argument("slug")
    a.add_argument("--name", required=True)
    a.add_argument("--timezone")
    a.add_argument(
        "--gazetteer", help="JSON gazetteer of the city's neighborhoods, streets, landmarks"
    )
    a.add_argument("--open311-url")
    a.set_defaults(func=city_add)
    city_sub.add_parser("list", help="every city with its counts").set_defaults(func=city_list)
    s = city_sub.add_parser("show", help="one city's settings and counts")
    s.add_argument("slug")
    s.set_defaults(func=city_show)
