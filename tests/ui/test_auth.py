"""Sign-in, lockout, sessions that expire, first run, OIDC offered when configured."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from civic_listener.wiring import Services
from models.auth import (
    PermissionDenied,
    SessionPolicy,
    SignInRefused,
    create_first_admin,
    create_user,
    end_session,
    resume_session,
    set_active,
    set_role,
    sign_in,
)
from models.tables import AuditEvent, ConsoleSession
from tests.ui.conftest import NOW, AppFactory, actor_for

PW = "correct horse battery"
POLICY = SessionPolicy(
    idle=timedelta(minutes=30),
    max_age=timedelta(hours=8),
    max_failures=3,
    lockout=timedelta(minutes=15),
)


def _user(services: Services, name: str = "ana", role: str = "staff") -> int:
    return create_user(
        services.engine, username=name, password=PW, roles={services.cities.default.id: role}
    )


def test_sign_in_starts_a_session_storing_only_the_token_hash(services: Services) -> None:
    _user(services)
    signed = sign_in(services.engine, username="ana", password=PW, policy=POLICY, now=NOW)
    assert signed.actor.role_in(services.cities.default.id) == "staff"
    with services.engine.connect() as conn:
        stored = conn.execute(sa.select(ConsoleSession.token_hash)).scalar_one()  # type: ignore[call-overload]
    assert signed.token not in stored and len(stored) == 64
    assert resume_session(services.engine, token=signed.token, policy=POLICY, now=NOW) is not None


def test_wrong_password_and_unknown_user_get_the_same_answer(services: Services) -> None:
    _user(services)
    with pytest.raises(SignInRefused) as a:
        sign_in(services.engine, username="ana", password="wrong password!", policy=POLICY, now=NOW)
    with pytest.raises(SignInRefused) as b:
        sign_in(services.engine, username="nobody", password=PW, policy=POLICY, now=NOW)
    assert str(a.value) == str(b.value)


def test_repeated_failures_lock_the_account_for_a_while(services: Services) -> None:
    _user(services)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            sign_in(
                services.engine, username="ana", password="wrong password!", policy=POLICY, now=NOW
            )
    with pytest.raises(SignInRefused, match="locked"):
        sign_in(services.engine, username="ana", password=PW, policy=POLICY, now=NOW)
    later = NOW + timedelta(minutes=16)
    assert sign_in(services.engine, username="ana", password=PW, policy=POLICY, now=later)


def test_sessions_end_when_idle_at_max_age_and_at_sign_out(services: Services) -> None:
    _user(services)
    e = services.engine
    s1 = sign_in(e, username="ana", password=PW, policy=POLICY, now=NOW)
    assert resume_session(e, token=s1.token, policy=POLICY, now=NOW + timedelta(minutes=29))
    assert resume_session(e, token=s1.token, policy=POLICY, now=NOW + timedelta(minutes=58))
    assert resume_session(e, token=s1.token, policy=POLICY, now=NOW + timedelta(minutes=89)) is None
    # active all along, but past the maximum age
    s2 = sign_in(e, username="ana", password=PW, policy=POLICY, now=NOW)
    t = NOW
    while t < NOW + timedelta(hours=8):
        assert resume_session(e, token=s2.token, policy=POLICY, now=t)
        t += timedelta(minutes=20)
    assert resume_session(e, token=s2.token, policy=POLICY, now=NOW + timedelta(hours=8)) is None
    s3 = sign_in(e, username="ana", password=PW, policy=POLICY, now=NOW)
    end_session(e, token=s3.token, now=NOW)
    assert resume_session(e, token=s3.token, policy=POLICY, now=NOW) is None


def test_role_changes_apply_at_the_next_click_and_deactivation_ends_sessions(
    services: Services,
) -> None:
    city = services.cities.default.id
    uid = _user(services)
    admin = actor_for(services, "admin")
    signed = sign_in(services.engine, username="ana", password=PW, policy=POLICY, now=NOW)
    set_role(services.engine, admin, city_id=city, user_id=uid, role="viewer")
    actor = resume_session(services.engine, token=signed.token, policy=POLICY, now=NOW)
    assert actor is not None and actor.role_in(city) == "viewer"
    set_active(services.engine, admin, city_id=city, user_id=uid, active=False)
    assert resume_session(services.engine, token=signed.token, policy=POLICY, now=NOW) is None
    with pytest.raises(SignInRefused):
        sign_in(services.engine, username="ana", password=PW, policy=POLICY, now=NOW)
    with services.engine.connect() as conn:
        actions = set(conn.execute(sa.select(AuditEvent.action)).scalars())  # type: ignore[call-overload]
    assert {"user.role", "user.deactivate", "session.start"} <= actions


def test_only_admins_manage_people(services: Services) -> None:
    uid = _user(services)
    for role in ("strategist", "staff", "viewer"):
        with pytest.raises(PermissionDenied):
            set_role(
                services.engine,
                actor_for(services, role),
                city_id=services.cities.default.id,
                user_id=uid,
                role="admin",
            )


def test_first_admin_only_while_no_account_exists(services: Services) -> None:
    ids = [c.id for c in services.cities]
    create_first_admin(services.engine, username="root", password=PW, city_ids=ids)
    with pytest.raises(PermissionDenied):
        create_first_admin(services.engine, username="other", password=PW, city_ids=ids)


# --------------------------------------------------------------------------- the sign-in page


def test_sign_in_page_signs_in_and_shows_the_inbox(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    _user(services)
    at = console(role=None)
    assert at.title[0].value == "Civic Listener"
    at.text_input(key="login_username").set_value("ana")
    at.text_input(key="login_password").set_value("wrong password!")
    at.button[0].click().run()
    assert "wrong password" in at.error[0].value
    at.text_input(key="login_password").set_value(PW)
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value.startswith("Inbox")
    assert at.session_state["session_token"]


def test_an_expired_session_returns_to_the_sign_in_page(
    console: AppFactory, services: Services, seeded: dict[str, int]
) -> None:
    _user(services)
    at = console(role=None)
    at.text_input(key="login_username").set_value("ana")
    at.text_input(key="login_password").set_value(PW)
    at.button[0].click().run()
    assert at.title[0].value.startswith("Inbox")
    services.clock = lambda: NOW + timedelta(hours=13)
    at.run()
    assert at.title[0].value == "Civic Listener"
    assert "session has ended" in at.info[0].value


def test_first_run_screen_creates_the_admin_when_local(
    console: AppFactory, services: Services
) -> None:
    at = console(role=None)
    assert "First run" in at.subheader[0].value
    at.text_input(key="fr_username").set_value("root")
    at.text_input(key="fr_pw").set_value(PW)
    at.text_input(key="fr_pw2").set_value(PW)
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value.startswith("Inbox")


def test_first_run_screen_refuses_when_reachable_from_the_network(
    console: AppFactory, services: Services
) -> None:
    services.settings.console_host = "0.0.0.0"
    at = console(role=None)
    assert "civic-listener user add" in at.info[0].value
    assert not at.text_input


def test_oidc_sign_in_is_offered_when_a_city_configures_a_provider(
    console: AppFactory, services: Services
) -> None:
    _user(services)
    assert not any("Sign in with" in b.label for b in console(role=None).button)
    services.cities.default.settings.oidc_provider = "microsoft"
    at = console(role=None)
    assert [b.label for b in at.button if "Sign in with" in b.label] == ["Sign in with microsoft"]
