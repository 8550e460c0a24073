"""A post with every label, its score, the evidence behind it and where it came from."""

from __future__ import annotations

import streamlit as st

from models.queries import post_detail
from ui.context import get_context
from ui.safe import md_escape


def render() -> None:
    ctx = get_context()
    st.title("Post")
    default = int(st.session_state.get("post_id") or 0)
    post_id = int(
        st.number_input("Post id", min_value=0, value=default, step=1, key="post_id_input")
    )
    if not post_id:
        st.info("Pick a post in the inbox, or enter its id.")
        return
    post = post_detail(ctx.services.engine, city_id=ctx.city_id, post_id=post_id)
    if post is None:
        st.warning(f"No post {post_id} in {ctx.city_name}.")
        return
    st.markdown(
        f"**{md_escape(post['author'])}** on {md_escape(post['platform'])} · {post['created_at']:%Y-%m-%d %H:%M} UTC"
    )
    st.markdown(md_escape(post["text"]))
    if post.get("url"):
        st.caption(md_escape(post["url"]))
    cols = st.columns(4)
    cols[0].metric("Topic", post["topic"] or "—")
    cols[1].metric("Urgency", post["urgency"] or "—")
    cols[2].metric("Sentiment", post["sentiment"] or "—")
    cols[3].metric("Language", post["detected_language"] or "—")
    if post["location_text"] or post["neighborhood"]:
        st.write("Location:", post["location_text"] or "", "·", post["neighborhood"] or "")
    st.subheader("Labels")
    st.dataframe(
        [
            {
                "task": lab["task"],
                "label": lab["label"],
                "score": round(lab["score"], 3),
                "review": "yes" if lab["needs_review"] else "",
                "evidence": ", ".join(str(e) for e in lab["evidence"])
                if isinstance(lab["evidence"], list)
                else "",
                "by": lab["created_by"] or f"{lab['component']} {lab['version']}",
                "at": lab["created_at"],
            }
            for lab in post["labels"]
        ],
        hide_index=True,
        use_container_width=True,
    )
    with st.expander("Provenance"):
        st.write(
            {
                "source": post["source_name"],
                "collector_version": post["collector_version"],
                "ingested_at": str(post["ingested_at"]),
                "external_id": post["external_id"],
            }
        )
