"""Every console page renders for every role, and each role sees what it may do."""

from __future__ import annotations

import pytest

from civic_listener.wiring import Services
from models.tables import ROLES
from tests.ui.conftest import HOSTILE, AppFactory

MY_PAGES = ("inbox", "post", "dashboard", "quarantine", "settings", "users")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(
    console: AppFactory, seeded: dict[str, int], role: str
) -> None:
    for page in MY_PAGES:
        at = console(role=role, page=page)
        assert not at.exception, (page, role, [e.value for e in at.exception])
        assert at.title, (page, role)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_the_app_renders_for_every_role(
    console: AppFactory, seeded: dict[str, int], role: str
) -> None:
    """Every page in ``ui/app.py``'s menu, including those other work adds."""
    first = console(role=role)
    paths = [
        info["url_pathname"]
        for info in first._registered_pages.values()
        if info.get("url_pathname")
    ]
    assert "dashboard" in paths
    for path in paths:
        at = console(role=role, page=path)
        assert not at.exception, (path, role, [e.value for e in at.exception])
        assert at.title, (path, role)


def test_without_sign_in_only_the_sign_in_page_shows(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    from models.auth import create_user

    create_user(
        services.engine,
        username="ana",
        password="correct horse battery",
        roles={services.cities.default.id: "staff"},
    )
    for page in ("inbox", "dashboard", "users"):
        at = console(role=None, page=page)
        assert not at.exception
        assert [b.label for b in at.button] == ["Sign in"] or any(
            b.label == "Sign in" for b in at.button
        )
        assert not at.dataframe  # no post is shown
        assert HOSTILE not in str(at)


def test_inbox_shows_hostile_text_as_text(console: AppFactory, seeded: dict[str, int]) -> None:
    at = console(role="viewer", page="inbox")
    texts = [str(v) for df in at.dataframe for v in df.value["text"]]
    assert HOSTILE in texts
    # emergencies pinned above the rest
    assert at.subheader[0].value.startswith("Emergencies")
