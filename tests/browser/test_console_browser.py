"""The console in a real browser: Debian's chromium driven by Playwright against
``streamlit run ui/app.py`` on a loopback port and a temp database. Signs in, opens the
inbox, shows hostile post text as text, approves a drafted reply, takes a screenshot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from civic_listener.settings import load_settings
from civic_listener.wiring import build_services
from models.auth import create_user
from models.tables import Reply
from tests.fakes.classifier import KeywordClassifier
from tests.ui.conftest import add_draft, seed_posts

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CIVIC_REQUIRE_SYSTEM_TESTS") == "1":
        pytest.fail("chromium is not installed but system tests are required")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _artifacts() -> Path:
    path = Path(os.environ.get("CIVIC_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def console_url(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, int]]]:
    """A seeded database and the console serving it; yields (url, db_url, post ids)."""
    _require_chromium()
    db_url = f"sqlite:///{tmp_path / 'browser.db'}"
    services = build_services(
        load_settings(database_url=db_url, replay_file=None),
        classifier=KeywordClassifier(),
        with_sources=False,
    )
    ids = seed_posts(services)
    add_draft(services, ids["pothole"], text="Thanks for reporting, a crew is on the way")
    create_user(
        services.engine,
        username="strategist",
        password=PASSWORD,
        roles={services.cities.default.id: "strategist"},
    )
    services.close()
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")},
        "CIVIC_DATABASE_URL": db_url,
        "CIVIC_REPLAY_FILE": "",
        "CIVIC_CONSOLE_HOST": "127.0.0.1",
    }
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "ui" / "app.py"),
            "--server.headless=true",
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
            "--client.toolbarMode=minimal",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp_path / "streamlit.log").read_text()) from None
                time.sleep(0.3)
        else:
            raise RuntimeError("the console did not start within 60 s")
        yield f"http://127.0.0.1:{port}", db_url, ids
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _approved_by(db_url: str) -> list[tuple[int, str, str]]:
    """(post id, state, approver) of every reply a person approved."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(Reply.post_id, Reply.state, Reply.approved_by).where(  # type: ignore[call-overload]
                    Reply.approved_by.is_not(None)  # type: ignore[union-attr]
                )
            ).all()
        return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def test_sign_in_inbox_hostile_text_and_approve(
    console_url: tuple[str, str, dict[str, int]],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, db_url, ids = console_url
    dialogs: list[str] = []
    shots = _artifacts()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            page.wait_for_selector("[data-testid=stApp]")

            # sign in
            page.get_by_role("textbox", name="Username").fill("strategist")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
            expect(page.get_by_text("Emergencies")).to_be_visible()
            expect(page.get_by_role("button", name="Next page")).to_be_visible()
            expect(page.locator("[data-testid=stDataFrame]").first).to_be_visible()
            _settled(page)
            page.screenshot(path=str(shots / "inbox.png"), full_page=True)

            # the hostile post, in the post view: its text is shown literally
            # (a Streamlit session lives as long as the page: navigate inside the app)
            _open_post(page, ids["hostile"])
            # (a table of posts may show it too: the post's own paragraph is the one checked)
            shown = page.get_by_role("paragraph").filter(has_text="<script>alert(1)</script>")
            expect(shown.first).to_be_visible()
            body = page.locator("[data-testid=stMain]").inner_text()
            assert "<script>alert(1)</script>" in body and "<b>bold</b>" in body
            assert page.locator("[data-testid=stMain] b", has_text="bold").count() == 0
            _settled(page)
            page.screenshot(path=str(shots / "hostile-post.png"), full_page=True)

            # approve the drafted reply: on the Approvals page, else in the post view's composer
            clicked = _approve(page, url, ids["pothole"])
            _settled(page)
            page.screenshot(path=str(shots / "approved.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert clicked, "neither the Approvals page nor the composer offered to approve the draft"
    approved = _approved_by(db_url)
    assert approved and all(
        who == "strategist" and state in ("approved", "sending", "sent")
        for _, state, who in approved
    ), approved


def _settled(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the script run has finished and the page has painted."""
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden")
    page.wait_for_timeout(700)


def _nav(page, title: str) -> bool:  # type: ignore[no-untyped-def]
    """Follow the sidebar's link to a page; False when the app has no such page."""
    link = page.locator("[data-testid=stSidebarNav] a", has_text=title)
    if link.count() == 0:
        return False
    link.first.click()
    page.get_by_role("heading", name=title).first.wait_for()
    return True


def _open_post(page, post_id: int) -> None:  # type: ignore[no-untyped-def]
    assert _nav(page, "Post")
    box = page.get_by_role("spinbutton", name="Post id")
    box.fill(str(post_id))
    box.press("Enter")
    page.get_by_text("Correct a label").wait_for()


def _approve(page, url: str, post_id: int) -> bool:  # type: ignore[no-untyped-def]
    """Approve the drafted reply on the Approvals page, else in the post view's composer;
    False when neither offers it."""
    import re

    from playwright.sync_api import expect

    openers = (
        (lambda: _nav(page, "Approvals"), re.compile(r"^Approve all")),
        (lambda: (_open_post(page, post_id), True)[1], re.compile(r"^Approve")),
    )
    for opener, name in openers:
        if not opener():
            continue
        page.wait_for_timeout(1000)
        button = page.get_by_role("button", name=name).first
        if button.count() and button.is_visible() and button.is_enabled():
            button.click()
            expect(page.get_by_text(re.compile("Approved")).first).to_be_visible()
            return True
    return False
