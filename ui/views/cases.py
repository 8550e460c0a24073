"""Cases: what waits for a person, the outbox, filed cases, failures, linked duplicates,
closed cases, and each case's status history. Emergencies are shown first, always."""

from __future__ import annotations

from typing import Any

import streamlit as st

from models.auth import PermissionDenied, require
from responders.open311 import cases_of
from responders.open311.actions import dismiss_case, file_case, retry_case
from responders.open311.cases import WAITING_FOR_PERSON, CaseActionError
from responders.open311.queries import (
    VIEWS,
    case_counts,
    case_detail,
    case_history,
    case_list,
    emergencies,
    linked_duplicates,
)
from ui.context import Context, get_context

TABS = {
    "waiting": "Waiting for a person",
    "outbox": "Outbox",
    "filed": "Filed",
    "failures": "Failures",
    "linked": "Linked duplicates",
    "not filed": "Not filed",
    "closed": "Closed",
    "dismissed": "Dismissed",
}


def filing_status(ctx: Context) -> str:
    city = cases_of(ctx.services).desk.city(ctx.city_id)
    if city.live and city.endpoint is not None:
        return f"Filing to {city.endpoint.url}"
    return f"Not filing: {city.not_filed_reason()}"


def load_view(ctx: Context, view: str) -> list[dict[str, Any]]:
    engine = ctx.services.engine
    if view == "linked":
        return linked_duplicates(engine, city_id=ctx.city_id)
    return case_list(engine, city_id=ctx.city_id, view=view)


def do_action(ctx: Context, action: str, case_id: int, reason: str = "") -> str:
    """Run a case action for the signed-in person; returns what happened, in words."""
    desk = cases_of(ctx.services).desk
    if action == "retry":
        retry_case(desk, ctx.actor, city_id=ctx.city_id, case_id=case_id)
        return f"Case {case_id} is queued again."
    if action == "dismiss":
        dismiss_case(desk, ctx.actor, city_id=ctx.city_id, case_id=case_id, reason=reason)
        return f"Case {case_id} dismissed."
    if action == "outbox":
        ctx.scope.require("case.file")
        report = cases_of(ctx.services).run_outbox(city_ids=[ctx.city_id])  # this city's only
        return (
            f"Outbox: {report.filed} filed, {report.linked} linked, {report.retried} to retry, "
            f"{report.failed} failed, {report.held} held."
            + (f" {'; '.join(report.errors)}" if report.errors else "")
        )
    raise ValueError(f"unknown action {action}")


def _emergencies(ctx: Context) -> None:
    rows = emergencies(ctx.services.engine, city_id=ctx.city_id)
    if rows:
        st.error(
            f"{len(rows)} emergency post(s): never filed as 311 requests. Someone must act now."
        )
        st.dataframe(rows, hide_index=True, width="stretch")


def _case_panel(ctx: Context) -> None:
    st.subheader("Case")
    case_id = int(st.number_input("Case id", min_value=0, value=0, step=1, key="case_id"))
    if not case_id:
        return
    case = case_detail(ctx.services.engine, city_id=ctx.city_id, case_id=case_id)
    if case is None:
        st.warning(f"No case {case_id} in {ctx.city_name}.")
        return
    st.dataframe(
        [
            {
                k: case[k]
                for k in (
                    "status",
                    "service_code",
                    "open311_id",
                    "token",
                    "external_status",
                    "address_string",
                    "lat",
                    "lon",
                    "attempts",
                    "last_error",
                )
            }
        ],
        hide_index=True,
        width="stretch",
    )
    st.text(case["description"])
    st.caption("Status history")
    st.dataframe(
        case_history(ctx.services.engine, city_id=ctx.city_id, case_id=case_id),
        hide_index=True,
        width="stretch",
    )
    if case["status"] in WAITING_FOR_PERSON and ctx.actor.can(ctx.city_id, "case.file"):
        _edit_form(ctx, case)
    if case["status"] in (*WAITING_FOR_PERSON, "queued") and ctx.actor.can(
        ctx.city_id, "case.dismiss"
    ):
        reason = st.text_input("Reason to dismiss", key="case_dismiss_reason")
        if st.button("Dismiss", key="case_dismiss"):
            _run(ctx, "dismiss", case_id, reason)


def parse_attributes(text: str) -> dict[str, Any]:
    """``CODE=value`` lines (``CODE=a,b`` for several values of a multi-value list)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        code, sep, value = line.partition("=")
        if not sep or not code.strip():
            raise CaseActionError(f"write each attribute as CODE=value, not {line.strip()!r}")
        values = [v.strip() for v in value.split(",")] if "," in value else value.strip()
        out[code.strip()] = values
    return out


def format_attributes(attributes: dict[str, Any] | None) -> str:
    return "\n".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in (attributes or {}).items()
    )


def refile(ctx: Context, case: dict[str, Any], values: dict[str, Any]) -> int:
    """File a waiting case again with the person's edits; returns its id."""
    lat, lon = values.get("lat"), values.get("lon")
    return file_case(
        cases_of(ctx.services).desk,
        ctx.actor,
        city_id=ctx.city_id,
        case_id=int(case["id"]),
        post_id=case["post_id"],
        service_code=str(values["service_code"]),
        description=str(values["description"]),
        lat=float(lat) if lat is not None else None,
        lon=float(lon) if lon is not None else None,
        address_string=str(values.get("address_string") or "") or None,
        attributes=parse_attributes(str(values.get("attributes") or "")),
    )


def _edit_form(ctx: Context, case: dict[str, Any]) -> None:
    with st.form(key=f"case_edit_{case['id']}"):
        code = st.text_input("Service code", value=case["service_code"])
        description = st.text_area("Description", value=case["description"], height=160)
        c1, c2 = st.columns(2)
        lat = c1.number_input("Latitude", value=case["lat"], format="%.6f", step=0.0001)
        lon = c2.number_input("Longitude", value=case["lon"], format="%.6f", step=0.0001)
        address = st.text_input("Address", value=case["address_string"] or "")
        attributes = st.text_area(
            "Attributes (CODE=value, one per line)",
            value=format_attributes(case["attributes"]),
            help="The information the service asks for; the reason above names what is missing.",
        )
        submitted = st.form_submit_button("File again")
    if submitted:
        try:
            refile(
                ctx,
                case,
                {
                    "service_code": code,
                    "description": description,
                    "lat": lat,
                    "lon": lon,
                    "address_string": address,
                    "attributes": attributes,
                },
            )
        except (CaseActionError, PermissionDenied) as exc:
            st.error(str(exc))
        else:
            st.success(f"Case {case['id']} is queued again.")


def _run(ctx: Context, action: str, case_id: int, reason: str = "") -> None:
    try:
        st.success(do_action(ctx, action, case_id, reason))
    except (CaseActionError, PermissionDenied) as exc:
        st.error(str(exc))


def render() -> None:
    ctx = get_context()
    st.title(f"Cases · {ctx.city_name}")
    try:
        require(ctx.actor, ctx.city_id, "view")
    except PermissionDenied as exc:
        st.error(str(exc))
        return
    st.caption(filing_status(ctx))
    _emergencies(ctx)
    counts = case_counts(ctx.services.engine, city_id=ctx.city_id)
    cols = st.columns(len(VIEWS))
    for col, (view, statuses) in zip(cols, VIEWS.items(), strict=True):
        col.metric(TABS[view], sum(counts.get(s, 0) for s in statuses))
    if ctx.actor.can(ctx.city_id, "case.file") and st.button(
        "Run the outbox now", key="case_outbox"
    ):
        _run(ctx, "outbox", 0)
    tabs = st.tabs(list(TABS.values()))
    for tab, view in zip(tabs, TABS, strict=True):
        with tab:
            rows = load_view(ctx, view)
            if rows:
                st.dataframe(rows, hide_index=True, width="stretch")
            else:
                st.caption("Nothing here.")
    _case_panel(ctx)
