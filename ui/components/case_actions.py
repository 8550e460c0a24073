"""File-a-case and link-to-case actions on the post view.

The service, description and location come prefilled from what triage would file
(``responders.open311.actions.draft_for_post``) and stay editable. Every action checks the
person's role again on the server side and is audited. Post text only ever appears inside
input widgets or ``st.text``/``st.dataframe``, never as Markdown or HTML.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from models.auth import PermissionDenied
from responders.open311 import cases_of
from responders.open311.actions import (
    CaseDraft,
    cases_near,
    draft_for_post,
    file_case,
    link_post,
)
from responders.open311.cases import WAITING_FOR_PERSON, CaseActionError
from responders.open311.queries import case_detail
from ui.safe import md_escape


def case_summary(ctx: Any, case_id: int) -> str | None:
    """One line about the post's case, for the post view."""
    case = case_detail(ctx.services.engine, city_id=ctx.city_id, case_id=case_id)
    if case is None:
        return None
    number = f"311 request {case['open311_id']}" if case["open311_id"] else "no 311 number yet"
    why = f" · {case['last_error']}" if case["last_error"] else ""
    return f"Case {case['id']} · {case['status']} · {case['service_code']} · {number}{why}"


def submit_file(ctx: Any, draft: CaseDraft, values: dict[str, Any]) -> int:
    """File the (edited) draft; returns the case id. Raises CaseActionError/PermissionDenied."""
    lat, lon = values.get("lat"), values.get("lon")
    return file_case(
        cases_of(ctx.services).desk,
        ctx.actor,
        city_id=ctx.city_id,
        post_id=draft.post_id,
        case_id=draft.existing_case_id,
        service_code=str(values.get("service_code") or ""),
        description=str(values.get("description") or ""),
        lat=float(lat) if lat is not None else None,
        lon=float(lon) if lon is not None else None,
        address_string=str(values.get("address_string") or "") or None,
    )


def render_case_actions(ctx: Any, post: dict[str, Any]) -> None:
    """Service, description and location prefilled and editable; file or link."""
    st.subheader("Service request")
    post_id = int(post["id"])
    if post.get("case_id"):
        line = case_summary(ctx, int(post["case_id"]))
        if line:
            st.text(line)
    if post.get("urgency") == "emergency":
        st.error(
            "Emergency: this is never filed as a 311 request. Make sure someone acts now "
            "(the reply points the resident to 911). Correct the urgency label if it is wrong."
        )
        return
    can_file, can_link = (
        ctx.actor.can(ctx.city_id, "case.file"),
        ctx.actor.can(ctx.city_id, "case.link"),
    )
    if not (can_file or can_link):
        st.caption("Your role can see cases but not file or link them.")
        return
    desk = cases_of(ctx.services).desk
    try:
        draft = draft_for_post(desk, city_id=ctx.city_id, post_id=post_id)
    except CaseActionError as exc:
        st.warning(str(exc))
        return
    city = desk.city(ctx.city_id)
    if not city.live:
        st.caption(md_escape(f"Filing is not live here: {city.not_filed_reason()}."))
    own_case_open = post.get("case_id") and draft.existing_case_id is None
    if can_file and not own_case_open:
        codes = list(draft.service_codes)
        if draft.service_code and draft.service_code not in codes:
            codes.insert(0, draft.service_code)
        with st.form(key=f"case_file_{post_id}"):
            code = st.selectbox(
                "Service",
                codes,
                index=codes.index(draft.service_code) if draft.service_code in codes else 0,
                format_func=lambda c: f"{c} · {draft.service_codes.get(c) or ''}".rstrip(" ·"),
            )
            description = st.text_area("Description", value=draft.description, height=180)
            c1, c2 = st.columns(2)
            lat = c1.number_input("Latitude", value=draft.lat, format="%.6f", step=0.0001)
            lon = c2.number_input("Longitude", value=draft.lon, format="%.6f", step=0.0001)
            address = st.text_input("Address", value=draft.address_string or "")
            label = "File this case" if draft.existing_case_id else "File a case"
            submitted = st.form_submit_button(label)
        if submitted:
            try:
                case_id = submit_file(
                    ctx,
                    draft,
                    {
                        "service_code": code,
                        "description": description,
                        "lat": lat,
                        "lon": lon,
                        "address_string": address,
                    },
                )
            except (CaseActionError, PermissionDenied) as exc:
                st.error(str(exc))
            else:
                st.success(f"Case {case_id} saved; the outbox files it with 311.")
    if can_link:
        with st.expander("Link to an existing case"):
            options = cases_near(desk, city_id=ctx.city_id, post_id=post_id)
            if not options:
                st.caption("No open case to link to.")
                return
            by_id = {o["id"]: o for o in options}
            choice = st.selectbox(
                "Case",
                list(by_id),
                format_func=lambda i: " · ".join(
                    str(v)
                    for v in (
                        f"#{i}",
                        by_id[i]["service_code"],
                        by_id[i]["status"],
                        by_id[i]["open311_id"] or "",
                        by_id[i]["address"] or "",
                    )
                    if v
                ),
                key=f"case_link_choice_{post_id}",
            )
            if st.button("Link to case", key=f"case_link_{post_id}"):
                try:
                    link_post(desk, ctx.actor, city_id=ctx.city_id, post_id=post_id, case_id=choice)
                except (CaseActionError, PermissionDenied) as exc:
                    st.error(str(exc))
                else:
                    st.success(f"Linked to case {choice}.")


__all__ = ["WAITING_FOR_PERSON", "render_case_actions"]
