"""Reply templates: stored per city, key and language; seeded from the shipped defaults;
edited by an admin; rendered with placeholders.

A template body is a Python format string limited to the names in
:data:`~responders.replies.defaults.PLACEHOLDERS`; anything else is refused when saved, so
rendering never fails. A placeholder without a value renders empty and is reported.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.auth import Actor, require
from models.store import audit
from models.tables import ReplyTemplate
from models.types import utcnow
from responders.replies.defaults import PLACEHOLDERS, TEMPLATES
from responders.replies.errors import ReplyInvalid, ReplyNotFound

SHIPPED = "shipped"
_KEY = re.compile(r"^(ack|case|followup|urgency:[a-z_]+|topic:[a-z_]+|custom:[a-z0-9_\-]+)$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


@dataclass(slots=True)
class Rendered:
    text: str
    key: str
    language: str
    missing: list[str] = field(default_factory=list)


def placeholders_in(body: str) -> list[str]:
    """Every ``{name}`` in ``body``; raises ReplyInvalid on a malformed format string."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(body) if name is not None]
    except ValueError as exc:
        raise ReplyInvalid(
            f"template is not valid: {exc} (write a literal brace as {{{{ or }}}})"
        ) from exc


def validate_body(body: str) -> None:
    if not body.strip():
        raise ReplyInvalid("a template needs text")
    unknown = sorted({n for n in placeholders_in(body) if n not in PLACEHOLDERS})
    if unknown:
        raise ReplyInvalid(
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"known: {', '.join('{' + n + '}' for n in PLACEHOLDERS)}"
        )


def render(
    body: str, values: dict[str, str | None], *, key: str = "", language: str = ""
) -> Rendered:
    """Fill ``body``; missing values render empty and are listed in ``missing``."""
    missing: list[str] = []
    filled: dict[str, str] = {}
    for name in placeholders_in(body):
        value = values.get(name)
        if value in (None, ""):
            missing.append(name)
        filled[name] = value or ""
    text = body.format_map(filled)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    return Rendered(text=text, key=key, language=language, missing=sorted(set(missing)))


def ensure_defaults(engine: Engine, *, city_id: int) -> int:
    """Store every shipped template the city does not have yet; returns how many were added.

    Workers started together run this at the same time: a template another worker stored
    meanwhile is skipped (``ON CONFLICT DO NOTHING`` on the city, key and language), never an
    error, and a template a person edited is never replaced."""
    table = ReplyTemplate.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        have = set(
            conn.execute(
                sa.select(table.c.key, table.c.language).where(table.c.city_id == city_id)
            ).all()
        )
        now = utcnow()
        rows = [
            {
                "city_id": city_id,
                "key": key,
                "language": lang,
                "body": body,
                "updated_by": SHIPPED,
                "updated_at": now,
            }
            for key, by_lang in TEMPLATES.items()
            for lang, body in by_lang.items()
            if (key, lang) not in have
        ]
        if not rows:
            return 0
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        stmt = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["city_id", "key", "language"])
            .execution_options(preserve_rowcount=True)
        )
        return max(conn.execute(stmt, rows).rowcount, 0)


def list_templates(engine: Engine, *, city_id: int) -> list[ReplyTemplate]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(ReplyTemplate)
                .where(ReplyTemplate.city_id == city_id)
                .order_by(ReplyTemplate.key, ReplyTemplate.language)  # type: ignore[arg-type]
            ).all()
        )


def get_template(engine: Engine, *, city_id: int, key: str, language: str) -> ReplyTemplate | None:
    with Session(engine) as s:
        return s.exec(
            select(ReplyTemplate).where(
                ReplyTemplate.city_id == city_id,
                ReplyTemplate.key == key,
                ReplyTemplate.language == language,
            )
        ).first()


def pick(
    engine: Engine, *, city_id: int, keys: list[str], languages: list[str]
) -> ReplyTemplate | None:
    """The template for the first language that has one of ``keys`` (keys in order)."""
    return pick_from(list_templates(engine, city_id=city_id), keys=keys, languages=languages)


class TemplateLike(Protocol):
    """A stored template as picking and rendering read it (a ``ReplyTemplate`` or a row)."""

    @property
    def key(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def body(self) -> str: ...


T = TypeVar("T", bound=TemplateLike)


def pick_from(templates: Sequence[T], *, keys: list[str], languages: list[str]) -> T | None:
    """The resident's language first: every key in it, then every key in the next language."""
    rows = {(t.key, t.language): t for t in templates}
    for lang in dict.fromkeys(languages):
        for key in keys:
            if (key, lang) in rows:
                return rows[(key, lang)]
    return None


def save_template(
    engine: Engine, *, actor: Actor, city_id: int, key: str, language: str, body: str
) -> ReplyTemplate:
    """Create or change a template (admin). Audited with the old and new text."""
    require(actor, city_id, "template.manage")
    key, language = key.strip(), language.strip()
    if not _KEY.match(key):
        raise ReplyInvalid(
            "a key is ack, case, followup, urgency:<urgency>, topic:<topic> or custom:<name>"
        )
    if not _LANG.match(language):
        raise ReplyInvalid("a language is an ISO 639 code such as en, es, ht, vi or zh")
    validate_body(body)
    with Session(engine, expire_on_commit=False) as s:
        row = s.exec(
            select(ReplyTemplate).where(
                ReplyTemplate.city_id == city_id,
                ReplyTemplate.key == key,
                ReplyTemplate.language == language,
            )
        ).first()
        old = row.body if row else None
        if row is None:
            row = ReplyTemplate(city_id=city_id, key=key, language=language, body=body)
        row.body, row.updated_by, row.updated_at = body, actor.username, utcnow()
        s.add(row)
        s.flush()
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="template.save",
            object_type="template",
            object_id=row.id,
            details={"key": key, "language": language, "old": old, "new": body},
        )
        s.commit()
        return row


def delete_template(engine: Engine, *, actor: Actor, city_id: int, template_id: int) -> None:
    require(actor, city_id, "template.manage")
    with Session(engine) as s:
        row = s.get(ReplyTemplate, template_id)
        if row is None or row.city_id != city_id:
            raise ReplyNotFound(f"template {template_id} not found")
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="template.delete",
            object_type="template",
            object_id=template_id,
            details={"key": row.key, "language": row.language, "old": row.body},
        )
        s.delete(row)
        s.commit()


def reset_to_shipped(
    engine: Engine, *, actor: Actor, city_id: int, key: str, language: str
) -> ReplyTemplate:
    body = TEMPLATES.get(key, {}).get(language)
    if body is None:
        raise ReplyNotFound(f"no shipped template {key} in {language}")
    return save_template(
        engine, actor=actor, city_id=city_id, key=key, language=language, body=body
    )
