"""The triage inbox: open emergencies pinned on top, then urgency and age; filters, saved
views, assignment and bulk actions. Pages with a keyset, so a million posts cost what a
hundred do. Post text is shown by ``st.dataframe``, which renders every cell as text."""

from __future__ import annotations

from typing import Any

import streamlit as st

from classifiers.api import SENTIMENTS, TOPICS, URGENCIES
from models.auth import PermissionDenied
from models.console import city_members, delete_view, list_views, save_view
from models.queries import OPEN_STATES, ORDERS, STATES, InboxFilter, distinct_values
from ui.context import Context, get_context
from ui.logic.export import to_csv
from ui.logic.inbox import COUNT_CAP, InboxPage, build_filter, bulk_action, load_page
from ui.logic.inbox import table_rows as make_rows

FILTER_KEYS = {
    "f_platform": "platforms",
    "f_topic": "topics",
    "f_urgency": "urgencies",
    "f_sentiment": "sentiments",
    "f_hood": "neighborhoods",
    "f_state": "statuses",
    "f_search": "search",
}
RELABEL_CHOICES = {"topic": TOPICS, "urgency": URGENCIES, "sentiment": SENTIMENTS}


def _reset_paging() -> None:
    st.session_state["inbox_keys"] = [None]


def _apply_view(views: dict[str, dict[str, Any]]) -> None:
    """Callback: load a saved view's filters into the filter widgets."""
    name = st.session_state.get("saved_view")
    view = views.get(name or "")
    if not view:
        return
    flt = InboxFilter.from_dict(view["filters"])
    for key, attr in FILTER_KEYS.items():
        value = getattr(flt, attr)
        st.session_state[key] = value or ("" if attr == "search" else [])
    st.session_state["f_assigned"] = {None: "anyone", "": "unassigned"}.get(
        flt.assigned_to, "anyone"
    )
    st.session_state["f_order"] = view["filters"].get("order", "triage")
    _reset_paging()


def _filters(ctx: Context) -> tuple[InboxFilter, str]:
    engine = ctx.services.engine
    st.session_state.setdefault("f_state", list(OPEN_STATES))
    views = {v["name"]: v for v in list_views(engine, ctx.actor, city_id=ctx.city_id)}
    top = st.columns([2, 2, 1])
    top[0].selectbox(
        "Saved view",
        [""] + list(views),
        key="saved_view",
        on_change=_apply_view,
        args=(views,),
        format_func=lambda n: n or "—",
    )
    order = top[1].selectbox(
        "Order",
        ORDERS,
        key="f_order",
        on_change=_reset_paging,
        format_func={
            "triage": "Urgency, then longest waiting",
            "newest": "Newest first",
            "oldest": "Oldest first",
        }.get,
    )
    assigned = top[2].selectbox(
        "Assigned", ["anyone", "me", "unassigned"], key="f_assigned", on_change=_reset_paging
    )
    c = st.columns(6)
    platforms = distinct_values(engine, city_id=ctx.city_id, column="platform")
    hoods = distinct_values(engine, city_id=ctx.city_id, column="neighborhood")
    kw: dict[str, Any] = {"on_change": _reset_paging}
    flt = build_filter(
        platforms=c[0].multiselect("Platform", platforms, key="f_platform", **kw),
        topics=c[1].multiselect("Topic", TOPICS, key="f_topic", **kw),
        urgencies=c[2].multiselect("Urgency", URGENCIES, key="f_urgency", **kw),
        sentiments=c[3].multiselect("Sentiment", SENTIMENTS, key="f_sentiment", **kw),
        neighborhoods=c[4].multiselect("Neighborhood", hoods, key="f_hood", **kw),
        states=c[5].multiselect("State", STATES, key="f_state", **kw),
        dates=st.session_state.get("f_dates") or (),
        search=st.session_state.get("f_search") or "",
        assigned=assigned,
        me=ctx.actor.username,
        tz=ctx.settings.timezone if ctx.settings else "UTC",
    )
    c2 = st.columns([3, 2, 2])
    c2[0].text_input("Search text", key="f_search", on_change=_reset_paging)
    c2[1].date_input("Posted between", value=[], key="f_dates", on_change=_reset_paging)
    with c2[2].popover("Save this view"):
        name = st.text_input("Name", key="view_name")
        shared = st.checkbox("Share with the city team", key="view_shared")
        if st.button("Save view", key="save_view"):
            try:
                save_view(
                    engine,
                    ctx.actor,
                    city_id=ctx.city_id,
                    name=name,
                    filters={**flt.to_dict(), "order": order},
                    shared=shared,
                )
                st.toast(f"Saved view {name}")
            except (PermissionDenied, ValueError) as exc:
                st.error(str(exc))
        chosen = views.get(st.session_state.get("saved_view") or "")
        if chosen and st.button(f"Delete view {chosen['name']}", key="delete_view"):
            try:
                delete_view(engine, ctx.actor, city_id=ctx.city_id, view_id=chosen["id"])
                st.rerun()
            except (PermissionDenied, LookupError) as exc:
                st.error(str(exc))
    return flt, order


def _table(rows: list[dict[str, Any]], key: str) -> list[int]:
    """Show rows; return the ids of the selected ones."""
    shown = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=key,
        column_config={"text": st.column_config.TextColumn("text", width="large")},
    )
    picked = getattr(getattr(event, "selection", None), "rows", None) or []
    return [shown[i]["id"] for i in picked if i < len(shown)]


def _actions(ctx: Context, selected: list[int]) -> None:
    engine = ctx.services.engine
    st.caption(f"{len(selected)} selected")
    cols = st.columns([1, 1, 3, 3])
    if cols[0].button("Open post", key="open_post", disabled=len(selected) != 1):
        st.session_state["post_id"] = selected[0]
        st.switch_page(st.session_state["_pages"]["post"], query_params={"id": str(selected[0])})
    msg = None
    try:
        if cols[1].button("Dismiss", key="bulk_dismiss", disabled=not selected):
            msg = bulk_action(
                engine, ctx.actor, city_id=ctx.city_id, action="dismiss", post_ids=selected
            )
        with cols[2]:
            members = city_members(engine, city_id=ctx.city_id)
            who = st.selectbox("Assign to", ["(nobody)"] + members, key="bulk_assignee")
            if st.button("Assign", key="bulk_assign", disabled=not selected):
                msg = bulk_action(
                    engine,
                    ctx.actor,
                    city_id=ctx.city_id,
                    action="assign",
                    post_ids=selected,
                    assignee=None if who == "(nobody)" else who,
                )
        with cols[3]:
            task = st.selectbox("Relabel", list(RELABEL_CHOICES), key="bulk_task")
            label = st.selectbox("as", RELABEL_CHOICES[task], key="bulk_label")
            if st.button("Relabel", key="bulk_relabel", disabled=not selected):
                msg = bulk_action(
                    engine,
                    ctx.actor,
                    city_id=ctx.city_id,
                    action="relabel",
                    post_ids=selected,
                    task=task,
                    label=label,
                )
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
    except (LookupError, ValueError) as exc:
        st.error(str(exc))
    if msg:
        st.session_state["inbox_msg"] = msg
        st.rerun()


def render() -> None:
    ctx = get_context()
    st.title(f"Inbox · {ctx.city_name}")
    if msg := st.session_state.pop("inbox_msg", None):
        st.success(msg)
    flt, order = _filters(ctx)
    keys: list[Any] = st.session_state.setdefault("inbox_keys", [None])
    now = ctx.services.clock()
    target = ctx.settings.response_target_minutes if ctx.settings else 240
    tz = ctx.settings.timezone if ctx.settings else "UTC"
    page: InboxPage = load_page(
        ctx.services.engine, city_id=ctx.city_id, filters=flt, order=order, after=keys[-1]
    )
    total = f"{COUNT_CAP:,}+" if page.total > COUNT_CAP else f"{page.total:,}"
    selected: list[int] = []
    if page.pinned:
        st.subheader(f"Emergencies ({len(page.pinned)} open)")
        selected += _table(make_rows(page.pinned, now=now, target_minutes=target, tz=tz), "pinned")
    st.caption(f"{total} posts match · page {len(keys)} · response target {target} min")
    rows = make_rows(page.rows, now=now, target_minutes=target, tz=tz)
    if rows:
        selected += _table(rows, "inbox_table")
    elif not page.pinned:
        st.info("No posts match these filters.")
    nav = st.columns([1, 1, 6])
    if nav[0].button("Previous page", key="prev_page", disabled=len(keys) == 1):
        keys.pop()
        st.rerun()
    if nav[1].button("Next page", key="next_page", disabled=page.next_key is None):
        keys.append(page.next_key)
        st.rerun()
    _actions(ctx, selected)
    if ctx.can("export") and (rows or page.pinned):
        st.download_button(
            "Export this page (CSV, phone numbers and e-mail addresses masked)",
            to_csv(make_rows(page.pinned + page.rows, now=now, target_minutes=target, tz=tz)),
            file_name="inbox.csv",
            mime="text/csv",
            key="inbox_csv",
        )
