"""Reply templates: an admin edits, adds, resets and deletes them; everyone else reads them.
Shows the placeholders, a preview with sample values and each platform's length count, and
the auto-send rules (set in the configuration, read-only here)."""

from __future__ import annotations

import streamlit as st

from models.auth import PermissionDenied
from responders.replies.defaults import LANGUAGES, PLACEHOLDERS, TEMPLATES
from responders.replies.errors import ReplyError
from responders.replies.length import measure
from responders.replies.templates import (
    delete_template,
    list_templates,
    reset_to_shipped,
    save_template,
)
from responders.replies.templates import (
    render as render_template,
)
from ui.context import get_context

NEW = "(new template)"
SAMPLE: dict[str, str | None] = {
    "handle": "@resident",
    "case_number": "101005551234",
    "case_link": "https://311.example.gov/tickets/101005551234",
    "neighborhood": "Dorchester",
    "expected_time": "2 business days",
    "topic_name": "pothole",
    "city_name": "Boston",
}


def render() -> None:
    ctx = get_context()
    st.title(f"Reply templates · {ctx.city_name}")
    admin = ctx.can("template.manage")
    if not admin:
        st.info("Only an admin edits templates; you can read them.")
    engine = ctx.services.engine
    rows = list_templates(engine, city_id=ctx.city_id)
    st.dataframe(
        [
            {
                "id": t.id,
                "key": t.key,
                "language": t.language,
                "text": t.body,
                "by": t.updated_by,
                "at": t.updated_at,
            }
            for t in rows
        ],
        hide_index=True,
        width="stretch",
    )
    labels = {f"{t.key} · {t.language}": t for t in rows}
    choice = st.selectbox("Edit", [NEW, *labels], key="tpl_choice")
    current = labels.get(choice)
    c1, c2 = st.columns(2)
    key = c1.text_input(
        "Key",
        value=current.key if current else "topic:",
        key=f"tpl_key_{choice}",
        disabled=current is not None,
    )
    language = c2.selectbox(
        "Language",
        list(LANGUAGES) + sorted({t.language for t in rows} - set(LANGUAGES)),
        index=list(LANGUAGES).index(current.language)
        if current and current.language in LANGUAGES
        else 0,
        format_func=lambda c: f"{LANGUAGES.get(c, c)} ({c})",
        key=f"tpl_lang_{choice}",
        disabled=current is not None,
    )
    body = st.text_area(
        "Text", value=current.body if current else "", height=120, key=f"tpl_body_{choice}"
    )
    with st.expander("Placeholders"):
        st.dataframe(
            [{"placeholder": "{" + k + "}", "meaning": v} for k, v in PLACEHOLDERS.items()],
            hide_index=True,
        )
    if body.strip():
        try:
            sample = render_template(body, SAMPLE).text
            st.caption("Preview with sample values")
            st.text(sample)
            st.caption(
                " · ".join(
                    f"{p}: {m.count}/{m.limit}" + ("" if m.ok else " (too long)")
                    for p in ("x", "mastodon", "bluesky", "reddit")
                    for m in [measure(p, sample)]
                )
            )
        except ReplyError as exc:
            st.error(str(exc))
    b1, b2, b3 = st.columns(3)
    try:
        if b1.button("Save", key="tpl_save", disabled=not admin):
            saved = save_template(
                engine, actor=ctx.actor, city_id=ctx.city_id, key=key, language=language, body=body
            )
            st.success(f"Saved {saved.key} · {saved.language}.")
        shipped = current is not None and current.language in TEMPLATES.get(current.key, {})
        if current is not None and b2.button(
            "Reset to shipped text", key="tpl_reset", disabled=not (admin and shipped)
        ):
            reset_to_shipped(
                engine,
                actor=ctx.actor,
                city_id=ctx.city_id,
                key=current.key,
                language=current.language,
            )
            st.success("Reset to the shipped text.")
        if current is not None and b3.button("Delete", key="tpl_delete", disabled=not admin):
            assert current.id is not None
            delete_template(engine, actor=ctx.actor, city_id=ctx.city_id, template_id=current.id)
            st.success("Deleted.")
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
    except ReplyError as exc:
        st.error(str(exc))

    st.subheader("Auto-send rules")
    topics = ctx.services.settings.reply_auto_send_topics
    if topics:
        st.write("Drafts from unedited templates are sent without approval for:", ", ".join(topics))
    else:
        st.write("None: every reply waits for a person's approval.")
    st.caption(
        "Set in the configuration (`reply_auto_send_topics`), so a change is deliberate and reviewed."
    )
