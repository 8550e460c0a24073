"""Open311 triage rules per city: admins change them in Settings (checked on the server,
audited), and the triage reads the city's rules at its next batch, without a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from civic_listener.wiring import Services
from listener.base import PostIn
from models.auth import PermissionDenied
from models.console import get_overrides
from models.tables import AuditEvent, ServiceRequest
from responders.open311.triage import rules_for
from tests.ui.conftest import NOW, AppFactory, actor_for
from ui.logic.settings import change_rule, rules_in_force

CASES = ServiceRequest.__table__  # type: ignore[attr-defined]


def _pothole(services: Services, i: int) -> tuple[str, str | None]:
    """Ingest and label one located pothole post; returns its case's status and reason."""
    services.pipeline.ingest(
        "t",
        [
            PostIn(
                platform="x",
                external_id=str(7000 + i),
                text=f"pothole number {i} on Main St",
                created_at=NOW - timedelta(minutes=i),
                author=f"resident{i}",
                lat=42.30 + i / 100,  # over a kilometre apart: never duplicates
                lon=-71.05,
            )
        ],
    )
    services.pipeline.classify_pending()
    with services.engine.connect() as conn:
        row = conn.execute(
            sa.select(CASES.c.status, CASES.c.last_error).order_by(CASES.c.id.desc()).limit(1)
        ).one()
    return row[0], row[1]


def test_rules_are_admin_only_validated_and_audited(services: Services) -> None:
    city = services.cities.default.id
    admin, staff = actor_for(services, "admin"), actor_for(services, "strategist")
    s = services.settings
    with pytest.raises(PermissionDenied):
        change_rule(
            services.engine, staff, city_id=city, settings=s, key="cases_auto_file", value=True
        )
    assert get_overrides(services.engine, city_id=city) == {}
    for key, bad in (
        ("cases_auto_urgencies", ["emergency", "high"]),
        ("cases_min_confidence", 1.5),
        ("cases_auto_file", "sometimes"),
        ("dry_run", False),
    ):
        with pytest.raises(ValueError):
            change_rule(services.engine, admin, city_id=city, settings=s, key=key, value=bad)
    assert change_rule(
        services.engine, admin, city_id=city, settings=s, key="cases_auto_file", value=True
    )
    assert change_rule(
        services.engine,
        admin,
        city_id=city,
        settings=s,
        key="cases_auto_topics",
        value=["trash", " pothole", "trash"],
    )
    assert not change_rule(  # the same value again: nothing to record
        services.engine, admin, city_id=city, settings=s, key="cases_auto_file", value=True
    )
    rows = {r["rule"]: r for r in rules_in_force(services.engine, s, city_id=city)}
    assert rows["cases_auto_file"]["value"] is True
    assert rows["cases_auto_file"]["set by"] == "this city (console)"
    assert rows["cases_auto_topics"]["value"] == ["pothole", "trash"]
    assert rows["cases_min_confidence"]["set by"] == "settings file"
    # back to the file's value: the city's own value is removed
    assert change_rule(
        services.engine, admin, city_id=city, settings=s, key="cases_auto_file", value=False
    )
    assert "cases_auto_file" not in get_overrides(services.engine, city_id=city)
    with services.engine.connect() as conn:
        events = conn.execute(
            sa.select(AuditEvent.actor, AuditEvent.object_id, AuditEvent.details)  # type: ignore[call-overload]
            .where(AuditEvent.action == "settings.change")
            .order_by(AuditEvent.id)
        ).all()
    assert [(a, k) for a, k, _ in events] == [
        ("admin-person", "cases_auto_file"),
        ("admin-person", "cases_auto_topics"),
        ("admin-person", "cases_auto_file"),
    ]
    assert events[-1][2] == {"old": True, "new": None}


def test_triage_reads_the_citys_rules_at_run_time(services: Services) -> None:
    city = services.cities.default.id
    admin, s = actor_for(services, "admin"), services.settings
    assert s.cases_auto_file is False
    status, reason = _pothole(services, 1)
    assert status == "pending" and "automatic filing is off" in (reason or "")
    # the same running services: the next batch follows the admin's change
    change_rule(services.engine, admin, city_id=city, settings=s, key="cases_auto_file", value=True)
    change_rule(
        services.engine, admin, city_id=city, settings=s, key="cases_min_confidence", value=0.5
    )
    assert rules_for(services.engine, s, city_id=city).auto_file
    status, reason = _pothole(services, 2)
    assert status == "not_filed"  # filed automatically; no Open311 URL here, so kept locally
    change_rule(
        services.engine, admin, city_id=city, settings=s, key="cases_auto_topics", value=["trash"]
    )
    status, reason = _pothole(services, 3)
    assert status == "pending" and "topic pothole is not filed automatically" in (reason or "")
    change_rule(
        services.engine, admin, city_id=city, settings=s, key="cases_require_location", value=True
    )
    change_rule(services.engine, admin, city_id=city, settings=s, key="cases_auto_topics", value=[])
    change_rule(
        services.engine, admin, city_id=city, settings=s, key="cases_auto_urgencies", value=["low"]
    )
    status, reason = _pothole(services, 4)
    assert status == "pending" and "urgency normal is not filed automatically" in (reason or "")


def test_settings_page_edits_rules_for_admins_only(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    city = services.cities.default.id
    at = console(role="admin", page="settings")
    assert not at.exception
    at.checkbox(key="rule_auto_file").check()
    at.text_input(key="rule_topics").set_value("pothole, trash")
    at.number_input(key="rule_confidence").set_value(0.85)
    next(b for b in at.button if b.label == "Save triage rules").click().run()
    assert not at.exception
    assert "Saved: cases_auto_file, cases_auto_topics, cases_min_confidence" in at.success[0].value
    assert get_overrides(services.engine, city_id=city) == {
        "cases_auto_file": True,
        "cases_auto_topics": ["pothole", "trash"],
        "cases_min_confidence": 0.85,
    }
    rules = rules_for(services.engine, services.settings, city_id=city)
    assert rules.auto_file and rules.topics == frozenset({"pothole", "trash"})
    for role in ("strategist", "staff", "viewer"):
        other = console(role=role, page="settings")
        assert not other.exception
        assert other.checkbox(key="rule_auto_file").disabled
        assert other.checkbox(key="rule_auto_file").value is True  # sees what is in force
