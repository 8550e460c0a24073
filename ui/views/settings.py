"""City settings in the console: keywords and accounts to listen to, the response target,
alert thresholds, the Open311 triage rules; the templates; the person's own password.
Admins change them (each change is an audit event, the role checked again on the server);
other roles see them read-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import streamlit as st

from models.auth import PermissionDenied, reset_password
from models.tables import AuditEvent
from ui.context import Context, get_context
from ui.logic.settings import EDITABLE, change, change_rule, parse_list, rules_in_force

PLATFORMS = ("x", "mastodon", "bluesky", "reddit")


def _apply(ctx: Context, values: dict[str, Any], change_one: Callable[[str, Any], bool]) -> None:
    """Apply each changed value through ``change_one``; report what was saved or refused."""
    changed, errors = [], []
    for key, value in values.items():
        try:
            if change_one(key, value):
                changed.append(key)
        except PermissionDenied as exc:
            st.error(f"Not allowed: {exc}")
            return
        except ValueError as exc:
            errors.append(str(exc))
    for e in errors:
        st.error(e)
    if changed:
        st.session_state["settings_msg"] = f"Saved: {', '.join(changed)}."
        st.rerun()
    elif not errors:
        st.info("Nothing changed.")


def _save(ctx: Context, values: dict[str, Any]) -> None:
    assert ctx.city is not None
    base = ctx.city.settings
    _apply(
        ctx,
        values,
        lambda key, value: change(
            ctx.services.engine, ctx.actor, city_id=ctx.city_id, base=base, key=key, value=value
        ),
    )


def _recent_changes(ctx: Context) -> list[dict[str, Any]]:
    t = AuditEvent.__table__  # type: ignore[attr-defined]
    with ctx.services.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.at, t.c.actor, t.c.object_id, t.c.details)
            .where(t.c.city_id == ctx.city_id, t.c.action == "settings.change")
            .order_by(t.c.id.desc())
            .limit(20)
        ).all()
    return [
        {
            "at": r.at,
            "by": r.actor,
            "setting": r.object_id,
            "old": str((r.details or {}).get("old")),
            "new": str((r.details or {}).get("new")),
        }
        for r in rows
    ]


def _triage_rules(ctx: Context, *, can_rules: bool) -> None:
    """The city's Open311 triage rules: admins change them here (the triage reads them at
    its next batch); the review threshold stays a file setting, shown for reference."""
    settings = ctx.services.settings
    rows = rules_in_force(ctx.services.engine, settings, city_id=ctx.city_id)
    now = {r["rule"]: r["value"] for r in rows}
    with st.form("triage_rules"):
        st.subheader("Triage rules (service requests)")
        st.caption(
            "Which labelled posts become Open311 requests without a person. Emergencies are "
            "never filed automatically; they are shown to a person at once."
        )
        auto_file = st.checkbox(
            "File automatically when every rule passes",
            value=bool(now["cases_auto_file"]),
            key="rule_auto_file",
            disabled=not can_rules,
        )
        topics = st.text_input(
            "Topics filed automatically (comma-separated; empty: every topic with a code)",
            ", ".join(now["cases_auto_topics"]),
            key="rule_topics",
            disabled=not can_rules,
        )
        urgencies = st.multiselect(
            "Urgencies filed automatically",
            ["high", "normal", "low"],
            default=[u for u in now["cases_auto_urgencies"] if u in ("high", "normal", "low")],
            key="rule_urgencies",
            disabled=not can_rules,
        )
        confidence = st.number_input(
            "Lowest topic score filed automatically",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            value=float(now["cases_min_confidence"]),
            key="rule_confidence",
            disabled=not can_rules,
        )
        location = st.checkbox(
            "Only posts with a usable location",
            value=bool(now["cases_require_location"]),
            key="rule_location",
            disabled=not can_rules,
        )
        if st.form_submit_button("Save triage rules", disabled=not can_rules):
            _save_rules(
                ctx,
                {
                    "cases_auto_file": auto_file,
                    "cases_auto_topics": parse_list(topics),
                    "cases_auto_urgencies": list(urgencies),
                    "cases_min_confidence": float(confidence),
                    "cases_require_location": location,
                },
            )
    st.dataframe(
        [{**r, "value": str(r["value"])} for r in rows]
        + [
            {
                "rule": "review_threshold",
                "value": str(settings.review_threshold),
                "set by": "settings file",
                "meaning": "a label scored below this needs review",
            }
        ],
        hide_index=True,
        width="stretch",
    )


def _save_rules(ctx: Context, values: dict[str, Any]) -> None:
    _apply(
        ctx,
        values,
        lambda key, value: change_rule(
            ctx.services.engine,
            ctx.actor,
            city_id=ctx.city_id,
            settings=ctx.services.settings,
            key=key,
            value=value,
        ),
    )


def render() -> None:
    ctx = get_context()
    assert ctx.settings is not None and ctx.city is not None
    cs = ctx.settings
    st.title(f"Settings · {ctx.city_name}")
    if msg := st.session_state.pop("settings_msg", None):
        st.success(msg)
    can = ctx.can("settings.manage")
    if not can:
        st.caption("Only a city admin can change these; you see them read-only.")

    with st.form("listening"):
        st.subheader("Listening")
        st.caption(EDITABLE["keywords"])
        keywords = st.text_area(
            "Keywords (one per line)", "\n".join(cs.keywords), key="set_keywords", disabled=not can
        )
        st.caption(EDITABLE["accounts"])
        accounts = {
            p: st.text_input(
                f"Accounts on {p} (comma-separated)",
                ", ".join(cs.accounts.get(p, [])),
                key=f"set_accounts_{p}",
                disabled=not can,
            )
            for p in PLATFORMS
        }
        if st.form_submit_button("Save listening", disabled=not can):
            _save(
                ctx,
                {
                    "keywords": parse_list(keywords),
                    "accounts": {p: parse_list(v) for p, v in accounts.items()},
                },
            )

    with st.form("targets"):
        st.subheader("Response target and alerts")
        target = st.number_input(
            "Response target (minutes)",
            min_value=1,
            value=cs.response_target_minutes,
            key="set_target",
            disabled=not can,
        )
        factor = st.number_input(
            "Spike alert: times the usual level",
            min_value=1.1,
            value=float(cs.spike_factor),
            step=0.5,
            key="set_spike_factor",
            disabled=not can,
        )
        min_posts = st.number_input(
            "Spike alert: at least this many posts in the hour",
            min_value=1,
            value=cs.spike_min_posts,
            key="set_spike_min",
            disabled=not can,
        )
        if st.form_submit_button("Save targets", disabled=not can):
            _save(
                ctx,
                {
                    "response_target_minutes": int(target),
                    "spike_factor": float(factor),
                    "spike_min_posts": int(min_posts),
                },
            )

    _triage_rules(ctx, can_rules=ctx.can("rule.manage"))
    pages = st.session_state.get("_pages", {})
    if "templates" in pages:
        st.page_link(pages["templates"], label="Reply templates →")

    st.subheader("Recent changes")
    changes = _recent_changes(ctx)
    if changes:
        st.dataframe(changes, hide_index=True, width="stretch")
    else:
        st.caption("No setting has been changed in the console.")

    if ctx.actor.user_id is not None:
        with st.form("my_password"):
            st.subheader("My password")
            pw1 = st.text_input("New password", type="password", key="my_pw1")
            pw2 = st.text_input("Again", type="password", key="my_pw2")
            if st.form_submit_button("Change my password"):
                if pw1 != pw2:
                    st.error("The passwords differ.")
                else:
                    try:
                        reset_password(
                            ctx.services.engine,
                            ctx.actor,
                            city_id=ctx.city_id,
                            user_id=ctx.actor.user_id,
                            password=pw1,
                        )
                        st.success("Password changed; sign in again with it.")
                    except (ValueError, PermissionDenied, LookupError) as exc:
                        st.error(str(exc))
