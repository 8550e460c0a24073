"""A post: the thread around it, every label with its score and evidence, one-click label
correction (stored as training feedback), the incident it belongs to, its replies, and the
case and reply tools. Post text is shown escaped (``md_escape``) or by ``st.dataframe``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from classifiers.api import SENTIMENTS, TOPICS, URGENCIES
from models.auth import PermissionDenied
from models.console import assign_posts, city_members, dismiss_posts, relabel_posts, reopen_post
from models.queries import current_labels, incident, post_detail, thread
from ui.components.case_actions import render_case_actions
from ui.components.composer import render_composer
from ui.context import Context, get_context
from ui.safe import md_escape

CHOICES: dict[str, tuple[str, ...]] = {
    "topic": TOPICS,
    "urgency": URGENCIES,
    "sentiment": SENTIMENTS,
    "relevance": ("true", "false"),
}
INCIDENT_WINDOW = timedelta(hours=48)


def _evidence(ev: Any) -> str:
    if isinstance(ev, list):
        return ", ".join(str(e.get("text", e)) if isinstance(e, dict) else str(e) for e in ev if e)
    if isinstance(ev, dict):
        return ", ".join(f"{k}: {v}" for k, v in ev.items())
    return ""


def label_rows(post: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "task": lab["task"],
            "label": lab["label"],
            "score": round(lab["score"], 3),
            "evidence": _evidence(lab["evidence"]),
            "review": "yes" if lab["needs_review"] else "",
            "by": lab["created_by"] or f"{lab['component']} {lab['version']}",
            "source": lab["source"],
            "at": lab["created_at"],
        }
        for lab in post["labels"]
    ]


def _correct(ctx: Context, post_id: int, task: str) -> None:
    """Callback: one choice stores a human label for ``task``."""
    label = st.session_state.get(f"fix_{task}")
    if not label:
        return
    try:
        relabel_posts(
            ctx.services.engine,
            ctx.actor,
            city_id=ctx.city_id,
            post_ids=[post_id],
            task=task,
            label=label,
        )
        st.session_state["post_msg"] = f"Saved {task} = {label} (kept as training feedback)."
    except PermissionDenied as exc:
        st.session_state["post_msg_error"] = f"Not allowed: {exc}"


def _corrections(ctx: Context, post: dict[str, Any]) -> None:
    st.subheader("Correct a label")
    can = ctx.can("label.correct")
    if not can:
        st.caption("Your role can view labels but not correct them.")
    current = current_labels(post["labels"])
    cols = st.columns(len(CHOICES))
    for col, (task, options) in zip(cols, CHOICES.items(), strict=True):
        now = current.get(task, {}).get("label")
        widget = col.radio if len(options) <= 4 else col.selectbox
        widget(
            task.capitalize(),
            options,
            index=options.index(now) if now in options else None,
            key=f"fix_{task}",
            on_change=_correct,
            args=(ctx, post["id"], task),
            disabled=not can,
            **({"horizontal": True} if widget == col.radio else {}),
        )


def _triage(ctx: Context, post: dict[str, Any]) -> None:
    engine = ctx.services.engine
    cols = st.columns([2, 1, 1])
    members = ["(nobody)"] + city_members(engine, city_id=ctx.city_id)
    current = post.get("assigned_to") or "(nobody)"
    who = cols[0].selectbox(
        "Assigned to",
        members,
        index=members.index(current) if current in members else 0,
        key="post_assignee",
    )
    try:
        if cols[1].button("Assign", key="post_assign", disabled=not ctx.can("post.assign")):
            assign_posts(
                engine,
                ctx.actor,
                city_id=ctx.city_id,
                post_ids=[post["id"]],
                assignee=None if who == "(nobody)" else who,
            )
            st.rerun()
        if post["status"] == "dismissed":
            if cols[2].button("Reopen", key="post_reopen", disabled=not ctx.can("post.dismiss")):
                reopen_post(engine, ctx.actor, city_id=ctx.city_id, post_id=post["id"])
                st.rerun()
        elif cols[2].button("Dismiss", key="post_dismiss", disabled=not ctx.can("post.dismiss")):
            dismiss_posts(engine, ctx.actor, city_id=ctx.city_id, post_ids=[post["id"]])
            st.rerun()
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}")
    except LookupError as exc:
        st.error(str(exc))


def _post_id() -> int:
    raw = st.query_params.get("id") or st.session_state.get("post_id") or 0
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def render() -> None:
    ctx = get_context()
    st.title("Post")
    if msg := st.session_state.pop("post_msg", None):
        st.success(msg)
    if err := st.session_state.pop("post_msg_error", None):
        st.error(err)
    default = _post_id()
    post_id = int(
        st.number_input("Post id", min_value=0, value=default, step=1, key="post_id_input")
    )
    if not post_id:
        st.info("Pick a post in the inbox, or enter its id.")
        return
    if post_id != default:
        st.query_params["id"] = str(post_id)
    post = post_detail(ctx.services.engine, city_id=ctx.city_id, post_id=post_id)
    if post is None:
        st.warning(f"No post {post_id} in {ctx.city_name}.")
        return
    when = post["created_at"]
    st.markdown(
        f"**{md_escape(post['author'])}** on {md_escape(post['platform'])} · "
        f"{when:%Y-%m-%d %H:%M} UTC · state **{md_escape(post['status'])}**"
    )
    with st.container(border=True):
        st.markdown(md_escape(post["text"]) or "*(deleted by its author)*")
    if post.get("url"):
        st.caption(md_escape(post["url"]))
    cols = st.columns(5)
    cols[0].metric("Topic", post["topic"] or "—")
    cols[1].metric("Urgency", post["urgency"] or "—")
    cols[2].metric("Sentiment", post["sentiment"] or "—")
    cols[3].metric("Language", post["detected_language"] or "—")
    cols[4].metric("Place", post["neighborhood"] or post["location_text"] or "—")
    _triage(ctx, post)

    st.subheader("Thread")
    rows = thread(ctx.services.engine, city_id=ctx.city_id, post=post)
    st.dataframe(
        [
            {
                "": "▶" if r["this"] else "",
                "posted": r["created_at"],
                "author": r["author"],
                "text": r["text"],
                "id": r["id"],
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )

    st.subheader("Labels")
    st.dataframe(label_rows(post), hide_index=True, width="stretch")
    _corrections(ctx, post)

    similar = incident(ctx.services.engine, city_id=ctx.city_id, post=post, window=INCIDENT_WINDOW)
    if similar:
        place = post["neighborhood"] or post["location_text"]
        st.subheader(f"Incident: {len(similar) + 1} posts about {post['topic']} in {place}")
        st.caption("Posts about the same topic and place within 48 hours of this one.")
        st.dataframe(similar, hide_index=True, width="stretch")

    if post["replies"]:
        st.subheader("Replies")
        st.dataframe(post["replies"], hide_index=True, width="stretch")
    render_case_actions(ctx, post)
    render_composer(ctx, post)

    with st.expander("Provenance"):
        st.json(
            {
                "source": post["source_name"],
                "collector_version": post["collector_version"],
                "ingested_at": str(post["ingested_at"]),
                "external_id": post["external_id"],
            }
        )
