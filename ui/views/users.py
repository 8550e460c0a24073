"""People and their roles in this city (admin only): add, change a role, deactivate,
reset a password. Every change is checked (``user.manage``) and audited."""

from __future__ import annotations

import streamlit as st

from models.auth import (
    PermissionDenied,
    add_user,
    list_users,
    reset_password,
    set_active,
    set_role,
)
from models.tables import ROLES
from ui.context import get_context

ROLE_HELP = {
    "admin": "everything, including people, settings, templates and rules",
    "strategist": "approves and sends replies, files and links cases",
    "staff": "triages: corrects labels, drafts replies and cases, assigns, dismisses",
    "viewer": "reads the inbox and dashboards, exports",
}


def render() -> None:
    ctx = get_context()
    st.title(f"Users · {ctx.city_name}")
    if not ctx.can("user.manage"):
        st.error("Only a city admin can manage people.")
        return
    engine = ctx.services.engine
    if msg := st.session_state.pop("users_msg", None):
        st.success(msg)
    users = list_users(engine, city_id=ctx.city_id)
    st.dataframe(users, hide_index=True, width="stretch")
    st.caption(" · ".join(f"**{r}**: {h}" for r, h in ROLE_HELP.items()))

    try:
        with st.form("add_user"):
            st.subheader("Add a person")
            c = st.columns(4)
            username = c[0].text_input("Username", key="new_username")
            email = c[1].text_input("E-mail (for single sign-on)", key="new_email")
            role = c[2].selectbox("Role", ROLES, index=ROLES.index("staff"), key="new_role")
            password = c[3].text_input("Initial password", type="password", key="new_password")
            if st.form_submit_button("Add"):
                add_user(
                    engine,
                    ctx.actor,
                    city_id=ctx.city_id,
                    username=username,
                    password=password,
                    role=role,
                    email=email or None,
                )
                st.session_state["users_msg"] = f"Added {username} as {role}."
                st.rerun()

        if users:
            st.subheader("Change a person")
            by_name = {u["username"]: u for u in users}
            name = st.selectbox("Person", list(by_name), key="edit_user")
            u = by_name[name]
            c = st.columns(3)
            new_role = c[0].selectbox(
                "Role",
                ROLES,
                index=ROLES.index(u["role"]) if u["role"] in ROLES else 0,
                key="edit_role",
            )
            if c[0].button("Set role", key="set_role"):
                set_role(engine, ctx.actor, city_id=ctx.city_id, user_id=u["id"], role=new_role)
                st.session_state["users_msg"] = f"{name} is now {new_role}."
                st.rerun()
            label = "Deactivate" if u["active"] else "Reactivate"
            if c[1].button(label, key="toggle_active"):
                set_active(
                    engine, ctx.actor, city_id=ctx.city_id, user_id=u["id"], active=not u["active"]
                )
                st.session_state["users_msg"] = f"{label}d {name}."
                st.rerun()
            pw = c[2].text_input("New password", type="password", key="edit_password")
            if c[2].button("Reset password", key="reset_password"):
                reset_password(engine, ctx.actor, city_id=ctx.city_id, user_id=u["id"], password=pw)
                st.session_state["users_msg"] = (
                    f"New password set for {name}; their sessions ended."
                )
                st.rerun()
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
    except (ValueError, LookupError) as exc:
        st.error(str(exc))
