"""The console's Sources page: health, budget and quiet alerts, rendered as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from civic_listener.wiring import Services
from listener.budget import ReadBudget
from listener.health import HealthMonitor
from listener.state import DatabaseState
from models.auth import Actor
from tests.listener.conftest import Clock
from ui.views.sources import load_rows

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _seed(services: Services) -> None:
    store = DatabaseState(services.engine, services.cities.default.id)
    clock = Clock(NOW - timedelta(hours=2))
    quiet = HealthMonitor(
        "masto-city", kind="mastodon", clock=clock, store=store, quiet_alert_minutes=30
    )
    quiet.set_state("running")
    quiet.on_error("<script>alert(1)</script> 502 from the instance")
    clock.now = NOW
    x = HealthMonitor("x-city", kind="x", clock=clock, store=store, quiet_alert_minutes=60)
    budget = ReadBudget("x-city", monthly_reads=1000, clock=clock, store=store)
    budget.charge(990)
    x.budget = budget.snapshot
    x.set_state("running")


def test_load_rows_flags_quiet_sources_and_shows_the_budget(services: Services) -> None:
    _seed(services)
    rows = {r["source"]: r for r in load_rows(services.engine, services.cities.default.id, now=NOW)}
    assert rows["masto-city"]["alert"] == "no events for 120 minutes (limit 30)"
    assert rows["x-city"]["alert"] == ""
    assert rows["x-city"]["spend (USD)"] == 4.95 and rows["x-city"]["budget state"] == "stopped"


def test_the_page_renders_alerts_and_escapes_error_text(services: Services) -> None:
    import os

    _seed(services)
    services.clock = lambda: NOW
    at = AppTest.from_file(
        os.path.join(os.path.dirname(__file__), "..", "..", "ui", "app.py"), default_timeout=30
    )
    at.session_state["services"] = services
    at.session_state["actor"] = Actor("viewer-person", roles={services.cities.default.id: "viewer"})
    at.run()
    at._page_hash = calc_hash("sources")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Sources"
    warnings = [w.value for w in at.warning]
    assert any("masto\\-city" in w and "120 minutes" in w for w in warnings)
    assert any("x\\-city" in e.value for e in at.error)
    table = at.dataframe[0].value
    assert "<script>alert(1)</script> 502 from the instance" in set(table["last error"])
