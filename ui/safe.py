"""Post text is untrusted: it is shown as text, never as HTML or live Markdown."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")


def md_escape(text: str | None) -> str:
    """Escape every Markdown and Streamlit directive character, so text renders literally."""
    if not text:
        return ""
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")
