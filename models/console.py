"""What a person changes from the console: triage actions on posts, saved views, and city
settings edited in the console. Every function takes the acting :class:`~models.auth.Actor`
and the city, checks the actor's role first (:func:`models.auth.require` raises
:class:`~models.auth.PermissionDenied` before anything changes) and records an audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.auth import Actor, require
from models.store import POST, audit, correct_label
from models.tables import CitySettingOverride, SavedView, User, UserRole
from models.types import utcnow

MAX_BULK = 500


def _ids(post_ids: Sequence[int]) -> list[int]:
    ids = sorted({int(i) for i in post_ids})
    if len(ids) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} posts at a time")
    return ids


def _city_post_ids(s: Session, city_id: int, ids: list[int]) -> list[int]:
    rows = s.exec(  # type: ignore[call-overload]
        sa.select(POST.c.id).where(POST.c.city_id == city_id, POST.c.id.in_(ids))
    ).all()
    return sorted(r[0] for r in rows)


def assign_posts(
    engine: Engine, actor: Actor, *, city_id: int, post_ids: Sequence[int], assignee: str | None
) -> int:
    """Assign posts to a person of this city (None unassigns). Returns how many changed."""
    require(actor, city_id, "post.assign")
    ids = _ids(post_ids)
    with Session(engine) as s:
        if assignee:
            member = s.exec(
                select(User.id)
                .join(UserRole, UserRole.user_id == User.id)  # type: ignore[arg-type]
                .where(User.username == assignee, UserRole.city_id == city_id, User.is_active)
            ).first()
            if member is None:
                raise LookupError(f"{assignee!r} is not an active member of this city")
        found = _city_post_ids(s, city_id, ids)
        if found:
            s.exec(  # type: ignore[call-overload]
                POST.update().where(POST.c.id.in_(found)).values(assigned_to=assignee or None)
            )
            for pid in found:
                audit(
                    s,
                    city_id=city_id,
                    actor=actor.username,
                    action="post.assign",
                    object_type="post",
                    object_id=pid,
                    details={"assignee": assignee or None},
                )
        s.commit()
    return len(found)


def dismiss_posts(
    engine: Engine, actor: Actor, *, city_id: int, post_ids: Sequence[int], reason: str = ""
) -> int:
    """Mark posts as needing nothing from the city (status ``dismissed``)."""
    require(actor, city_id, "post.dismiss")
    ids = _ids(post_ids)
    with Session(engine) as s:
        found = _city_post_ids(s, city_id, ids)
        if found:
            s.exec(  # type: ignore[call-overload]
                POST.update().where(POST.c.id.in_(found)).values(status="dismissed")
            )
            for pid in found:
                audit(
                    s,
                    city_id=city_id,
                    actor=actor.username,
                    action="post.dismiss",
                    object_type="post",
                    object_id=pid,
                    details={"reason": reason} if reason else None,
                )
        s.commit()
    return len(found)


def reopen_post(engine: Engine, actor: Actor, *, city_id: int, post_id: int) -> None:
    """Put a dismissed post back in the inbox."""
    require(actor, city_id, "post.dismiss")
    with Session(engine) as s:
        if not _city_post_ids(s, city_id, [post_id]):
            raise LookupError(f"post {post_id} not found")
        s.exec(  # type: ignore[call-overload]
            POST.update().where(POST.c.id == post_id).values(status="new")
        )
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="post.reopen",
            object_type="post",
            object_id=post_id,
        )
        s.commit()


def relabel_posts(
    engine: Engine, actor: Actor, *, city_id: int, post_ids: Sequence[int], task: str, label: str
) -> int:
    """A person's label for one task on several posts: training feedback, audited per post."""
    require(actor, city_id, "label.correct")
    n = 0
    for pid in _ids(post_ids):
        correct_label(
            engine, city_id=city_id, post_id=pid, task=task, label=label, actor=actor.username
        )
        n += 1
    return n


# --------------------------------------------------------------------------- saved views


def list_views(engine: Engine, actor: Actor, *, city_id: int) -> list[dict[str, Any]]:
    """The actor's own views and the city's shared views, by name."""
    require(actor, city_id, "view")
    with Session(engine) as s:
        rows = s.exec(
            select(SavedView)
            .where(
                SavedView.city_id == city_id,
                sa.or_(SavedView.owner == actor.username, SavedView.owner.is_(None)),  # type: ignore[union-attr,arg-type]
            )
            .order_by(SavedView.name)
        ).all()
    return [
        {"id": v.id, "name": v.name, "shared": v.owner is None, "filters": v.filters} for v in rows
    ]


def save_view(
    engine: Engine,
    actor: Actor,
    *,
    city_id: int,
    name: str,
    filters: dict[str, Any],
    shared: bool = False,
) -> int:
    """Save (or overwrite) a named view; a shared view needs a strategist or admin."""
    require(actor, city_id, "view")
    if shared:
        require(actor, city_id, "reply.approve")
    name = name.strip()
    if not name:
        raise ValueError("a view needs a name")
    owner = None if shared else actor.username
    with Session(engine) as s:
        row = s.exec(
            select(SavedView).where(
                SavedView.city_id == city_id,
                SavedView.name == name,
                SavedView.owner == owner if owner else SavedView.owner.is_(None),  # type: ignore[union-attr]
            )
        ).first()
        if row is None:
            row = SavedView(city_id=city_id, owner=owner, name=name, created_by=actor.username)
        row.filters = filters
        s.add(row)
        s.flush()
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="view.save",
            object_type="saved_view",
            object_id=row.id,
            details={"name": name, "shared": shared},
        )
        s.commit()
        assert row.id is not None
        return row.id


def delete_view(engine: Engine, actor: Actor, *, city_id: int, view_id: int) -> None:
    require(actor, city_id, "view")
    with Session(engine) as s:
        row = s.get(SavedView, view_id)
        if row is None or row.city_id != city_id:
            raise LookupError(f"no view {view_id}")
        if row.owner is None:
            require(actor, city_id, "reply.approve")
        elif row.owner != actor.username:
            raise LookupError(f"no view {view_id}")
        s.delete(row)
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="view.delete",
            object_type="saved_view",
            object_id=view_id,
            details={"name": row.name},
        )
        s.commit()


def city_members(engine: Engine, *, city_id: int) -> list[str]:
    """Usernames of the active people with a role in this city (assignment choices)."""
    with Session(engine) as s:
        rows = s.exec(
            select(User.username)
            .join(UserRole, UserRole.user_id == User.id)  # type: ignore[arg-type]
            .where(UserRole.city_id == city_id, User.is_active)
            .order_by(User.username)
        ).all()
    return list(rows)


# --------------------------------------------------------------------------- settings overrides


def get_overrides(engine: Engine, *, city_id: int) -> dict[str, Any]:
    with Session(engine) as s:
        rows = s.exec(select(CitySettingOverride).where(CitySettingOverride.city_id == city_id))
        return {r.key: r.value for r in rows}


def set_override(
    engine: Engine,
    actor: Actor,
    *,
    city_id: int,
    key: str,
    value: Any,
    action: str = "settings.manage",
) -> bool:
    """Store a city setting changed in the console (None removes it, falling back to the
    file). Audited with the old and new value. Returns False when nothing changed."""
    require(actor, city_id, action)
    with Session(engine) as s:
        row = s.exec(
            select(CitySettingOverride).where(
                CitySettingOverride.city_id == city_id, CitySettingOverride.key == key
            )
        ).first()
        old = row.value if row is not None else None
        if old == value:
            return False
        if value is None:
            if row is not None:
                s.delete(row)
        else:
            if row is None:
                row = CitySettingOverride(city_id=city_id, key=key)
            row.value, row.updated_by = value, actor.username
            row.updated_at = utcnow()
            s.add(row)
        audit(
            s,
            city_id=city_id,
            actor=actor.username,
            action="settings.change",
            object_type="setting",
            object_id=key,
            details={"old": old, "new": value},
        )
        s.commit()
    return True
