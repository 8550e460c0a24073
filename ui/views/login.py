"""Sign-in: a local account's password, or the city's OIDC provider through ``st.login``.

When no account exists yet the page offers to create the first admin, but only while the
console listens on a loopback address (``console_host`` is localhost, the default): a console
reachable from the network says to run ``civic-listener user add`` instead.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from civic_listener.wiring import Services
from models.auth import (
    PermissionDenied,
    SignedIn,
    SignInRefused,
    actor_for_email,
    create_first_admin,
    sign_in,
    start_session,
    user_count,
)
from ui.context import (
    ACTOR_KEY,
    TOKEN_KEY,
    console_is_local,
    get_services,
    oidc_signed_in,
    session_policy,
)
from ui.safe import md_escape


def oidc_providers(services: Services) -> list[str]:
    """Providers configured by any city (``oidc_provider``), in a stable order."""
    return sorted({c.settings.oidc_provider for c in services.cities if c.settings.oidc_provider})


def _remember(signed: SignedIn) -> None:
    st.session_state[TOKEN_KEY] = signed.token
    st.session_state[ACTOR_KEY] = signed.actor


def _user_info() -> dict[str, Any]:
    return dict(st.user.to_dict()) if oidc_signed_in() else {}


def _finish_oidc(services: Services, info: dict[str, Any]) -> None:
    """The provider vouched for an identity: map its verified e-mail to a local account."""
    email = str(info.get("email") or "")
    if not email or info.get("email_verified") is False:
        st.error("The identity provider did not give a verified e-mail address.")
        return
    user = actor_for_email(services.engine, email=email)
    if user is None or user.id is None:
        st.error(
            f"No active account here for {md_escape(email)}. Ask an admin to add you "
            "(Users page, with this e-mail address)."
        )
        if st.button("Sign out of the provider"):
            st.logout()
        return
    signed = start_session(
        services.engine,
        user_id=user.id,
        method="oidc",
        policy=session_policy(services),
        now=services.clock(),
    )
    _remember(signed)
    st.rerun()


def _first_run(services: Services) -> None:
    st.subheader("First run: create the first admin")
    if not console_is_local(services):
        st.info(
            "No account exists yet. On the server, run\n\n"
            "`civic-listener user add USERNAME --role admin`\n\n"
            "(it asks for the password), then sign in here."
        )
        return
    st.caption(
        "No account exists yet, and this console only listens on this machine. The account "
        "you create here is admin of every configured city. You can also run "
        "`civic-listener user add USERNAME --role admin`."
    )
    with st.form("first_run"):
        username = st.text_input("Username", key="fr_username")
        password = st.text_input("Password (10 characters or more)", type="password", key="fr_pw")
        again = st.text_input("Password again", type="password", key="fr_pw2")
        submitted = st.form_submit_button("Create admin and sign in")
    if not submitted:
        return
    if password != again:
        st.error("The passwords differ.")
        return
    try:
        user_id = create_first_admin(
            services.engine,
            username=username.strip(),
            password=password,
            city_ids=[c.id for c in services.cities],
        )
    except (ValueError, PermissionDenied) as exc:
        st.error(str(exc))
        return
    _remember(
        start_session(
            services.engine,
            user_id=user_id,
            method="first-run",
            policy=session_policy(services),
            now=services.clock(),
        )
    )
    st.rerun()


def render() -> None:
    services = get_services()
    st.title("Civic Listener")
    reason = st.session_state.pop("signed_out_reason", None)
    if reason:
        st.info(reason)
    if user_count(services.engine) == 0:
        _first_run(services)
        return
    info = _user_info()
    if info:
        _finish_oidc(services, info)
        return
    st.subheader("Sign in")
    for provider in oidc_providers(services):
        if st.button(f"Sign in with {provider}", key=f"oidc_{provider}"):
            st.login(provider)
    with st.form("sign_in"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            signed = sign_in(
                services.engine,
                username=username,
                password=password,
                policy=session_policy(services),
                now=services.clock(),
            )
        except SignInRefused as exc:
            st.error(str(exc))
            return
        _remember(signed)
        st.rerun()
