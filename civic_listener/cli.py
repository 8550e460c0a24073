"""``civic-listener``: the command line. Every command builds its services through
``build_services`` from the same settings the console uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from civic_listener import cli_city as city_cli
from civic_listener.settings import Settings, SettingsError, load_settings

log = logging.getLogger("civic_listener")
UI_APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(args.config, **overrides)


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping cleanly", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def console_command(settings: Settings, config: Path | None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(UI_APP),
        "--server.headless=true",
        f"--server.address={settings.console_host}",
        f"--server.port={settings.console_port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=minimal",  # no "Deploy" button in a city's console
    ]
    if config is not None:
        cmd += ["--", "--config", str(config.resolve())]
    return cmd


def _city_scope(services: Any, slug: str | None) -> Any:
    """The command's scope in the city ``--city`` names (None without ``--city``).

    The command line acts as the machine's owner (``models.auth.SYSTEM``), still through a
    :class:`models.scope.Scope`, so ``--city`` limits what a command reads and changes."""
    from models.scope import system_scope

    if slug is None:
        return None
    try:
        city = services.cities.get(slug)
    except LookupError as exc:
        raise SettingsError(str(exc)) from None
    return system_scope(city.id)


class _ForCity:
    """A source whose every post is one city's (``ingest --city``): routing is skipped."""

    def __init__(self, source: Any, slug: str) -> None:
        self._source, self._slug = source, slug

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def iter_items(self, cursor: Any, stop: Any) -> Any:
        from listener.base import PostIn

        for item in self._source.iter_items(cursor, stop):
            if isinstance(item, PostIn):
                item.city = self._slug
            yield item


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from civic_listener.service import run_forever, run_once
    from civic_listener.wiring import build_services

    settings = _settings(args)
    _setup_logging(settings)
    services = build_services(settings)
    try:
        if args.once:
            report = run_once(services)
            print(json.dumps({"stats": report.stats.as_dict(), "jobs": report.jobs}))
            return 0
        console = None
        if args.console:
            console = subprocess.Popen(console_command(settings, args.config))
            print(
                f"Console: http://{settings.console_host}:{settings.console_port}",
                file=sys.stderr,
            )
        stop = _stop_event()
        try:
            report = run_forever(services, stop)
        finally:
            if console is not None:
                console.terminate()
                console.wait(timeout=10)
        log.info("stopped: %s", report.stats.as_dict())
        return 0
    finally:
        services.close()


def cmd_console(args: argparse.Namespace) -> int:
    from civic_listener.wiring import build_services

    settings = _settings(args)
    build_services(settings, with_sources=False).close()  # upgrade the schema before serving
    return subprocess.call(console_command(settings, args.config))


def cmd_classify(args: argparse.Namespace) -> int:
    from civic_listener.wiring import CityClassifier, default_classifier_factory

    settings = _settings(args)
    classifier: Any = default_classifier_factory(settings)()
    if args.city and args.city != settings.default_city:
        if args.city not in settings.cities:
            raise SettingsError(
                f"unknown city {args.city!r}; configured: {', '.join(settings.cities)}"
            )
        classifier = CityClassifier.for_city(classifier, settings.cities[args.city])
    size = args.batch_size or settings.batch_size
    src = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    dst = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    errors = 0
    try:
        ids: list[Any] = []
        texts: list[str] = []

        def flush() -> None:
            for pid, pred in zip(ids, classifier.predict(texts), strict=True):
                dst.write(json.dumps(pred.to_output(pid), ensure_ascii=False) + "\n")
            ids.clear()
            texts.clear()

        for lineno, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError('each line needs {"id": ..., "text": "..."}')
            except ValueError as exc:
                errors += 1
                print(f"line {lineno}: {exc}", file=sys.stderr)
                continue
            ids.append(obj.get("id"))
            texts.append(obj["text"])
            if len(texts) >= size:
                flush()
        flush()
    finally:
        if src is not sys.stdin:
            src.close()
        if dst is not sys.stdout:
            dst.close()
    return 1 if errors else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from civic_listener.service import run_once
    from civic_listener.wiring import build_services
    from listener.replay import ReplaySource

    settings = _settings(args, replay_file=None)
    _setup_logging(settings)
    services = build_services(settings)
    try:
        source: Any = ReplaySource(
            f"ingest:{Path(args.file).name}", Path(args.file), fmt=args.format
        )
        scope = _city_scope(services, args.city)
        if scope is not None:
            source = _ForCity(source, services.cities.by_id[scope.city_id].slug)
        services.sources = [source]
        report = run_once(services)
        print(json.dumps(report.stats.as_dict()))
        return 0
    finally:
        services.close()


def cmd_train(args: argparse.Namespace) -> int:
    from classifiers import train_main

    argv = list(args.train_args)
    if args.with_feedback:
        import tempfile

        from civic_listener.wiring import build_services
        from models.store import feedback_examples

        services = build_services(_settings(args), with_sources=False)
        scope = _city_scope(services, args.city)
        examples = feedback_examples(
            services.engine, city_id=scope.city_id if scope is not None else None
        )
        services.close()
        if examples:
            with tempfile.NamedTemporaryFile(
                "w", suffix=".jsonl", delete=False, encoding="utf-8"
            ) as fh:
                for ex in examples:
                    fh.write(json.dumps(ex, ensure_ascii=False) + "\n")
            argv += ["--feedback", fh.name]
            print(f"training with {len(examples)} corrections from the console", file=sys.stderr)
    return train_main(argv)


def cmd_cases(args: argparse.Namespace) -> int:
    """``cases check``: each city's 311 server against its service map; ``cases run``: one
    outbox pass and one status-sync pass now."""
    from civic_listener.wiring import build_services
    from responders.open311 import cases_of
    from responders.open311.check import check_cities

    settings = _settings(args)
    _setup_logging(settings)
    services = build_services(settings, with_sources=False)
    try:
        scope = _city_scope(services, args.city)
        only = [scope.city_id] if scope is not None else None
        cases = cases_of(services)
        if args.action == "check":
            result = check_cities(cases)
            if scope is not None:
                result = {k: v for k, v in result.items() if k == args.city}
            print(json.dumps(result, indent=2))
            return 1 if any("error" in c for c in result.values()) else 0
        outbox = cases.run_outbox(city_ids=only)
        sync = cases.run_sync(force=args.force, city_ids=only)
        print(json.dumps({"outbox": vars(outbox), "sync": vars(sync)}))
        return 1 if outbox.errors or sync.errors else 0
    finally:
        services.close()


def cmd_replies(args: argparse.Namespace) -> int:
    """``replies send``: one outbox pass now; ``replies status``: what sends for real, the
    outbox and the response-time figures of each city."""
    import dataclasses

    from civic_listener.wiring import build_services
    from responders.replies import desk_for
    from responders.replies.figures import response_times
    from responders.replies.outbox import run_outbox
    from responders.replies.queries import state_counts

    settings = _settings(args)
    _setup_logging(settings)
    services = build_services(settings, with_sources=False)
    try:
        scope = _city_scope(services, args.city)
        desk = desk_for(services)
        if args.action == "send":
            report = run_outbox(
                desk, only=None if scope is None else _city_reply_ids(services, scope.city_id)
            )
            print(json.dumps(report.as_dict()))
            return 1 if report.failed else 0
        platforms = ("x", "mastodon", "bluesky", "reddit")
        status: dict[str, Any] = {
            "sending": {p: "live" if desk.sends_for_real(p) else "dry run" for p in platforms},
            "cities": {},
        }
        for city in services.cities:
            if scope is not None and city.id != scope.city_id:
                continue
            rt = response_times(
                services.engine,
                city_id=city.id,
                target_minutes=city.settings.response_target_minutes,
            )
            status["cities"][city.slug] = {
                "sending": {
                    p: "live" if desk.sends_for_real(p, city.id) else "dry run" for p in platforms
                },
                "replies": state_counts(services.engine, city_id=city.id),
                "response_times": dataclasses.asdict(rt),
            }
        print(json.dumps(status, indent=2, default=str))
        return 0
    finally:
        services.close()


def _city_reply_ids(services: Any, city_id: int) -> list[int]:
    """The city's replies the outbox may send now (``replies send --city``)."""
    import sqlalchemy as sa

    from models.tables import Reply

    t = Reply.__table__  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.c.id).where(
                    t.c.city_id == city_id, t.c.state.in_(("approved", "sending"))
                )
            ).scalars()
        )


def cmd_export(args: argparse.Namespace) -> int:
    """``export posts|audit --city SLUG``: one city's posts or audit events as CSV, with
    phone numbers and e-mail addresses masked, exactly as the console exports them."""
    from zoneinfo import ZoneInfo

    from civic_listener.wiring import build_services
    from models.queries import InboxFilter, inbox_page, page_key
    from responders.replies.queries import audit_csv, audit_events
    from ui.logic.export import to_csv
    from ui.logic.inbox import table_rows

    settings = _settings(args)
    services = build_services(settings, with_sources=False)
    try:
        scope = _city_scope(services, args.city)
        scope.require("export")
        city = services.cities.by_id[scope.city_id]
        since = None
        if args.since:
            from datetime import date, datetime, time

            zone = ZoneInfo(city.settings.timezone)
            since = datetime.combine(date.fromisoformat(args.since), time.min, zone)
        if args.what == "audit":
            text = audit_csv(
                audit_events(services.engine, city_id=scope.city_id, since=since, limit=None)
            )
        else:
            rows: list[dict[str, Any]] = []
            after = None
            while True:
                page = inbox_page(
                    services.engine,
                    city_id=scope.city_id,
                    filters=InboxFilter(since=since),
                    order="oldest",
                    limit=500,
                    after=after,
                )
                rows += page
                if len(page) < 500:
                    break
                after = page_key(page[-1], "oldest")
            text = to_csv(
                table_rows(
                    rows,
                    now=services.clock(),
                    target_minutes=city.settings.response_target_minutes,
                    tz=city.settings.timezone,
                )
            )
        if args.output == "-":
            sys.stdout.write(text)
        else:
            Path(args.output).write_text(text, encoding="utf-8")
        return 0
    finally:
        services.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    from models.db import current_revision, make_engine, upgrade

    settings = _settings(args)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"schema at revision {current_revision(engine)}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from civic_listener.health import health_report
    from models.db import make_engine

    settings = _settings(args)
    engine = make_engine(settings.database_url)
    try:
        report = health_report(engine)
    finally:
        engine.dispose()
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["status"] == "ok" else 1


def _new_password() -> str:
    """The new account's password: CIVIC_NEW_USER_PASSWORD, else asked twice (never a flag)."""
    import getpass

    password = os.environ.get("CIVIC_NEW_USER_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise SystemExit(
            "civic-listener user: set CIVIC_NEW_USER_PASSWORD or run in a terminal to be asked"
        )
    first = getpass.getpass("Password (10 characters or more): ")
    if first != getpass.getpass("Password again: "):
        raise SystemExit("civic-listener user: the passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from models.auth import create_user, list_users, set_password
    from models.db import make_engine, upgrade
    from models.store import ensure_city

    settings = _settings(args)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        if args.user_command == "list":
            for slug, cs in settings.cities.items():
                cid = ensure_city(engine, slug=slug, name=cs.name, timezone=cs.timezone)
                for u in list_users(engine, city_id=cid):
                    state = "active" if u["active"] else "inactive"
                    print(f"{slug}\t{u['username']}\t{u['role']}\t{state}")
            return 0
        if args.user_command == "passwd":
            set_password(engine, username=args.username, password=_new_password())
            print(f"password changed for {args.username}; their console sessions ended")
            return 0
        if args.user_command == "role":
            return _user_role(engine, settings, args)
        if args.role is None and not args.state_admin:
            print(
                "civic-listener user: give --role (and --city), or --state-admin", file=sys.stderr
            )
            return 2
        slugs = (args.city or list(settings.cities)) if args.role else []
        unknown = [s for s in slugs if s not in settings.cities]
        if unknown:
            print(f"civic-listener user: unknown city {unknown[0]!r}", file=sys.stderr)
            return 2
        roles = {
            ensure_city(
                engine, slug=s, name=settings.cities[s].name, timezone=settings.cities[s].timezone
            ): args.role
            for s in slugs
        }
        try:
            user_id = create_user(
                engine,
                username=args.username,
                password=_new_password(),
                roles=roles,
                display_name=args.username,
            )
        except ValueError as exc:
            print(f"civic-listener user: {exc}", file=sys.stderr)
            return 1
        if args.state_admin:
            _make_state_admin(engine, user_id)
        what = [f"{args.role} of {', '.join(slugs)}"] if slugs else []
        what += ["state admin (every city, the roll-up)"] if args.state_admin else []
        print(f"added {args.username} as {' and '.join(what)}")
        return 0
    finally:
        engine.dispose()


def _make_state_admin(engine: Any, user_id: int) -> None:
    from sqlmodel import Session

    from models.tables import User

    with Session(engine) as s:
        user = s.get(User, user_id)
        assert user is not None
        user.state_admin = True
        s.add(user)
        s.commit()


def _user_role(engine: Any, settings: Settings, args: argparse.Namespace) -> int:
    """``user role NAME --city SLUG --role ROLE|none``: a person's role in one city."""
    from sqlmodel import Session, select

    from models.auth import SYSTEM, set_role
    from models.store import ensure_city
    from models.tables import User

    if args.city not in settings.cities:
        print(f"civic-listener user: unknown city {args.city!r}", file=sys.stderr)
        return 2
    cs = settings.cities[args.city]
    city_id = ensure_city(engine, slug=args.city, name=cs.name, timezone=cs.timezone)
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == args.username)).first()
    if user is None or user.id is None:
        print(f"civic-listener user: no user {args.username!r}", file=sys.stderr)
        return 1
    role = None if args.role == "none" else args.role
    set_role(engine, SYSTEM, city_id=city_id, user_id=user.id, role=role)
    print(f"{args.username} is now {role or 'without a role'} in {args.city}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from civic_listener.bench import run_benchmarks

    figures = run_benchmarks(posts=args.posts, only=args.only)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civic-listener",
        description="Listen to residents on social media, understand, act through Open311, reply.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ["CIVIC_CONFIG"]) if os.environ.get("CIVIC_CONFIG") else None,
        help="TOML settings file (default: civic-listener.toml when it exists)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the service: sources, pipeline and scheduled jobs")
    p.add_argument(
        "--once",
        action="store_true",
        help="process what the sources have now, run each job once, exit",
    )
    p.add_argument("--console", action="store_true", help="also serve the console")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("console", help="serve the Streamlit console")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("classify", help="classify JSON Lines without touching the database")
    p.add_argument("--input", required=True, help='JSON Lines of {"id", "text"}, or - for stdin')
    p.add_argument("--output", required=True, help="JSON Lines of labels, or - for stdout")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument(
        "--city", help="find places with this city's gazetteer (default: the default city)"
    )
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("ingest", help="store (and label) posts from a file")
    p.add_argument("file")
    p.add_argument("--format", default="post", help="payload format of each line (default: post)")
    p.add_argument("--city", help="every post is this city's (default: routed as they come)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "train",
        help="train the classifiers (prepare, train, evaluate, export)",
        epilog="trainer options: --data DIR (default ../shared/data), --out DIR (default "
        "classifiers/artifacts), --force, --limit N, --feedback FILE.jsonl, --seed N, --no-eval",
    )
    p.add_argument(
        "--with-feedback", action="store_true", help="add the console's label corrections"
    )
    p.add_argument("--city", help="with --with-feedback: only this city's corrections")
    # any other option goes to the trainer: --data, --out, --force, --limit, --feedback, --seed,
    # --no-eval (see ``classifiers.training.train_main``)
    p.set_defaults(func=cmd_train, train_args=[])

    p = sub.add_parser("cases", help="Open311 service requests: check the setup, or run a pass")
    p.add_argument("action", choices=["check", "run"])
    p.add_argument("--force", action="store_true", help="run: sync every open case now")
    p.add_argument("--city", help="only this city (default: every city)")
    p.set_defaults(func=cmd_cases)

    p = sub.add_parser("replies", help="replies: one outbox pass now, or the sending status")
    p.add_argument("action", choices=["send", "status"])
    p.add_argument("--city", help="only this city (default: every city)")
    p.set_defaults(func=cmd_replies)

    p = sub.add_parser("export", help="one city's posts or audit events as CSV (masked)")
    p.add_argument("what", choices=["posts", "audit"])
    p.add_argument("--city", required=True, help="the city's slug")
    p.add_argument("--since", help="from this day (YYYY-MM-DD, the city's time zone)")
    p.add_argument("--output", default="-", help="a file, or - for stdout (default)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("migrate", help="upgrade the database schema to the newest revision")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "health", help="each job's last run and each source's state (exit 1 when degraded)"
    )
    p.set_defaults(func=cmd_health)

    city_cli.add_parser(sub)

    p = sub.add_parser("user", help="console accounts: add, role, passwd, list")
    user_sub = p.add_subparsers(dest="user_command", required=True)
    u = user_sub.add_parser(
        "add", help="add an account (password from a prompt or CIVIC_NEW_USER_PASSWORD)"
    )
    u.add_argument("username")
    u.add_argument("--role", choices=("admin", "strategist", "staff", "viewer"))
    u.add_argument(
        "--city",
        action="append",
        help="the city's slug, repeatable (default: every configured city)",
    )
    u.add_argument(
        "--state-admin", action="store_true", help="sees every city and the state roll-up"
    )
    u = user_sub.add_parser(
        "role", help="give a person a role in one more city, change or remove it"
    )
    u.add_argument("username")
    u.add_argument("--city", required=True, help="the city's slug")
    u.add_argument(
        "--role", required=True, choices=("admin", "strategist", "staff", "viewer", "none")
    )
    u = user_sub.add_parser("passwd", help="set an account's password and end its sessions")
    u.add_argument("username")
    user_sub.add_parser("list", help="accounts and their role in each city")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("bench", help="print throughput and memory figures")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--posts", type=int, default=50_000, help="posts in the replay benchmark")
    p.add_argument("--only", action="append", help="run only the named benchmark(s)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "func", None) is not cmd_train:
            parser.error("unrecognized arguments: " + " ".join(extra))
        args.train_args = extra  # the trainer's own options
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"civic-listener: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
