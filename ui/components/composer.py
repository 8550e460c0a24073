"""The reply composer on the post view: template picker, the reply's text, a preview with
the platform's length count (and, on X, what the post costs), then save, approve or send.

Every button calls a service function that checks the person's role again and audits the
action; buttons a role may not use are disabled. Reply and post text only appear inside
input widgets or ``st.text``/``st.dataframe``, never as Markdown or HTML.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from models.auth import PermissionDenied
from responders.replies import desk_for
from responders.replies.cost import cost_note
from responders.replies.defaults import LANGUAGES
from responders.replies.drafts import draft_reply, preview
from responders.replies.errors import ReplyError
from responders.replies.length import measure
from responders.replies.queries import replies_for_post
from responders.replies.templates import list_templates
from responders.replies.workflow import (
    approve_reply,
    dismiss_reply,
    edit_reply,
    retry_reply,
    send_now,
)

SUGGESTED = "(suggested)"
EDITABLE = ("draft", "approved", "failed")


def active_reply(replies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The reply being worked on: the newest one not yet sent or dismissed."""
    open_ = [r for r in replies if r["state"] in EDITABLE + ("sending",)]
    return open_[-1] if open_ else None


def length_line(platform: str, text: str) -> tuple[str, bool]:
    m = measure(platform, text)
    line = f"{m.count} / {m.limit} {m.unit} on {platform}"
    if m.note:
        line += f" · {m.note}"
    return line, m.ok


def save(
    ctx: Any,
    post: dict[str, Any],
    current: dict[str, Any] | None,
    text: str,
    template_key: str | None,
    language: str | None,
    suggested_text: str | None,
) -> int:
    """Store the composer's text as the post's draft; returns the reply id."""
    desk = desk_for(ctx.services)
    if current is not None:
        if text.strip() != (current["text"] or "").strip():
            edit_reply(
                desk,
                actor=ctx.actor,
                city_id=ctx.city_id,
                reply_id=current["id"],
                text=text,
                language=language,
            )
        return int(current["id"])
    kind = "followup" if template_key == "followup" else "reply"
    own_words = suggested_text is None or text.strip() != suggested_text.strip()
    reply = draft_reply(
        desk,
        actor=ctx.actor,
        city_id=ctx.city_id,
        post_id=post["id"],
        kind=kind,
        template_key=template_key,
        language=language,
        text=text if own_words else None,
    )
    assert reply.id is not None
    return reply.id


def reply_state(ctx: Any, post_id: int, reply_id: int) -> str | None:
    for r in replies_for_post(ctx.services.engine, city_id=ctx.city_id, post_id=post_id):
        if r["id"] == reply_id:
            return str(r["state"])
    return None


def render_composer(ctx: Any, post: dict[str, Any]) -> None:
    """Template picker, preview with the platform's length count, approve, send."""
    st.subheader("Reply")
    desk = desk_for(ctx.services)
    pid = post["id"]
    replies = replies_for_post(ctx.services.engine, city_id=ctx.city_id, post_id=pid)
    for r in replies:
        if r["state"] in ("sent", "dismissed", "sending"):
            when = r["sent_at"] or r["created_at"]
            mark = " (dry run)" if r["dry_run"] else ""
            st.caption(f"{r['kind']} {r['id']} · {r['state']}{mark} · {when:%Y-%m-%d %H:%M} UTC")
            st.text(r["text"])
    current = active_reply(replies)
    if current is not None and current["state"] == "sending":
        st.info("This reply is being sent.")
        return
    if post.get("deleted_at") is not None:
        st.info("The author deleted this post; there is nothing to reply to.")
        return

    templates = list_templates(ctx.services.engine, city_id=ctx.city_id)
    keys = sorted({t.key for t in templates})
    langs = sorted({t.language for t in templates}, key=lambda c: (c not in LANGUAGES, c))
    c1, c2 = st.columns(2)
    template = c1.selectbox("Template", [SUGGESTED, *keys], key=f"composer_tpl_{pid}")
    default_lang = (current or {}).get("language") or post.get("detected_language") or ""
    lang_options = ["(post's language)", *langs]
    language = c2.selectbox(
        "Language",
        lang_options,
        format_func=lambda c: LANGUAGES.get(c, c),
        key=f"composer_lang_{pid}",
    )
    chosen_lang = None if language == lang_options[0] else language
    template_key = None if template == SUGGESTED else template
    suggestion = preview(
        desk,
        city_id=ctx.city_id,
        post_id=pid,
        template_key=template_key,
        language=chosen_lang or default_lang or None,
    )
    picked = template_key is not None or chosen_lang is not None
    if current is not None and not picked:
        start = current["text"]
        st.caption(
            f"{current['kind']} {current['id']} · {current['state']}"
            + (f" · approved by {current['approved_by']}" if current["approved_by"] else "")
        )
        if current["state"] == "failed":
            st.error(f"Sending failed: {current['last_error']}")
    else:
        start = suggestion.text if suggestion else ""
    if suggestion and suggestion.missing and (current is None or picked):
        st.warning("No value yet for: " + ", ".join("{" + m + "}" for m in suggestion.missing))
    text = st.text_area(
        "Reply text",
        value=start,
        height=120,
        key=f"composer_text_{pid}_{(current or {}).get('id')}_{template}_{language}",
    )
    line, fits = length_line(post["platform"], text)
    m = measure(post["platform"], text)
    st.progress(min(1.0, m.count / m.limit), text=line)
    if not fits:
        st.error("Too long for this platform: shorten it before approving.")
    note = cost_note(ctx.services.settings, post["platform"], text)
    if note:
        st.caption(note)
    if not desk.sends_for_real(post["platform"], ctx.city_id):
        st.caption("Dry run: an approved reply is recorded as it would have been sent, not posted.")

    can_draft = ctx.actor.can(ctx.city_id, "reply.draft")
    can_approve = ctx.actor.can(ctx.city_id, "reply.approve")
    b1, b2, b3, b4 = st.columns(4)
    suggested_text = suggestion.text if suggestion else None
    try:
        if b1.button("Save draft", key=f"composer_save_{pid}", disabled=not can_draft):
            rid = save(ctx, post, current, text, template_key, chosen_lang, suggested_text)
            st.success(f"Draft {rid} saved.")
        if b2.button("Approve", key=f"composer_approve_{pid}", disabled=not (can_approve and fits)):
            rid = save(ctx, post, current, text, template_key, chosen_lang, suggested_text)
            state = reply_state(ctx, pid, rid)
            if state == "failed":
                retry_reply(desk, actor=ctx.actor, city_id=ctx.city_id, reply_id=rid)
            elif state == "draft":
                approve_reply(desk, actor=ctx.actor, city_id=ctx.city_id, reply_id=rid)
            st.success(f"Reply {rid} approved: the outbox sends it next.")
        if b3.button(
            "Approve and send now",
            key=f"composer_send_{pid}",
            disabled=not (ctx.actor.can(ctx.city_id, "reply.send") and fits),
        ):
            rid = save(ctx, post, current, text, template_key, chosen_lang, suggested_text)
            sent = send_now(desk, actor=ctx.actor, city_id=ctx.city_id, reply_id=rid)
            if sent.state == "sent":
                st.success(
                    f"Reply {rid} sent"
                    + (" (dry run)." if sent.dry_run else f": {sent.platform_reply_id}")
                )
            else:
                st.warning(f"Reply {rid} is {sent.state}: {sent.last_error or 'waiting to send'}")
        if current is not None and b4.button(
            "Dismiss", key=f"composer_dismiss_{pid}", disabled=not can_draft
        ):
            dismiss_reply(desk, actor=ctx.actor, city_id=ctx.city_id, reply_id=current["id"])
            st.success(f"Reply {current['id']} dismissed.")
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
    except ReplyError as exc:
        st.error(str(exc))
