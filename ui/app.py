"""Civic Listener console entry point: ``streamlit run ui/app.py`` (or ``civic-listener console``).

Nobody sees a page before signing in: without a live session the only page is the sign-in
page (which offers the first-run screen while no account exists). Each page checks the
person's role for what it shows, and every action checks it again on the server side
(``models.auth.require``).
"""

from __future__ import annotations

import streamlit as st

from ui.context import cities_for, current_actor, get_services, oidc_signed_in, sign_out
from ui.views import (
    approvals,
    audit,
    cases,
    dashboard,
    inbox,
    login,
    post,
    quarantine,
    rollup,
    settings,
    sources,
    templates,
    users,
)

st.set_page_config(page_title="Civic Listener", layout="wide")

pages = {
    "inbox": st.Page(inbox.render, title="Inbox", url_path="inbox", default=True),
    "post": st.Page(post.render, title="Post", url_path="post"),
    "dashboard": st.Page(dashboard.render, title="Dashboard", url_path="dashboard"),
    "cases": st.Page(cases.render, title="Cases", url_path="cases"),
    "approvals": st.Page(approvals.render, title="Approvals", url_path="approvals"),
    "audit": st.Page(audit.render, title="Audit", url_path="audit"),
    "templates": st.Page(templates.render, title="Reply templates", url_path="templates"),
    "quarantine": st.Page(quarantine.render, title="Quarantine", url_path="quarantine"),
    "sources": st.Page(sources.render, title="Sources", url_path="sources"),
    "settings": st.Page(settings.render, title="Settings", url_path="settings"),
    "users": st.Page(users.render, title="Users", url_path="users"),
    "rollup": st.Page(rollup.render, title="State roll-up", url_path="rollup"),
}
# Pages only a city's admins see in the menu (the pages check the role again themselves).
ADMIN_PAGES = {"users"}
STATE_PAGES = {"rollup"}  # state admins only (the page checks again)

services = get_services()
actor = current_actor(services)
if actor is None:
    st.navigation(
        [st.Page(login.render, title="Sign in", url_path="login", default=True)],
        position="hidden",
    ).run()
else:
    st.session_state["_pages"] = pages
    allowed = cities_for(services, actor)
    with st.sidebar:
        if len(allowed) > 1:
            slugs = [c.slug for c in allowed]
            current = st.session_state.get("city")
            st.selectbox(
                "City",
                slugs,
                index=slugs.index(current) if current in slugs else 0,
                format_func=lambda s: services.cities.get(s).settings.name,
                key="city",
            )
        city_id = next(
            (c.id for c in allowed if c.slug == st.session_state.get("city")),
            allowed[0].id if allowed else None,
        )
        role = actor.role_in(city_id) if city_id is not None else None
        st.caption(f"Signed in as **{actor.username}** ({role or 'no role'})")
        if st.button("Sign out", key="sign_out"):
            sign_out(services)
            if oidc_signed_in():
                st.logout()  # also drops the identity provider's cookie
            st.rerun()
    is_admin = city_id is not None and actor.can(city_id, "user.manage")
    visible = [
        p
        for key, p in pages.items()
        if (key not in ADMIN_PAGES or is_admin) and (key not in STATE_PAGES or actor.state_admin)
    ]
    st.navigation(visible).run()
