"""Who may do what, checked on the server side for every action.

Roles are per city (``UserRole``): a person can be a strategist in one city and a viewer in
another. ``Actor`` is the signed-in person as every service function sees it; ``require``
raises :class:`PermissionDenied` before anything changes.

Passwords are hashed with scrypt (standard library), salted, in a self-describing string.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.tables import ROLES, User, UserRole

VIEW = "view"
ACTIONS: dict[str, frozenset[str]] = {}
ACTIONS["viewer"] = frozenset({VIEW, "export"})
ACTIONS["staff"] = ACTIONS["viewer"] | {
    "label.correct",
    "reply.draft",
    "reply.edit",
    "case.draft",
    "post.assign",
    "post.dismiss",
}
ACTIONS["strategist"] = ACTIONS["staff"] | {
    "reply.approve",
    "reply.send",
    "reply.bulk_approve",
    "case.file",
    "case.link",
    "case.dismiss",
}
ACTIONS["admin"] = ACTIONS["strategist"] | {
    "template.manage",
    "rule.manage",
    "user.manage",
    "settings.manage",
}


class PermissionDenied(Exception):
    """The actor's role in this city does not allow the action."""


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    roles: dict[int, str] = field(default_factory=dict)  # city_id -> role
    state_admin: bool = False  # sees the roll-up of every city

    def role_in(self, city_id: int) -> str | None:
        if self.state_admin:
            return "admin"
        return self.roles.get(city_id)

    def can(self, city_id: int, action: str) -> bool:
        role = self.role_in(city_id)
        return role is not None and action in ACTIONS.get(role, frozenset())

    @property
    def city_ids(self) -> frozenset[int]:
        return frozenset(self.roles)


SYSTEM = Actor("system", state_admin=True)


def require(actor: Actor, city_id: int, action: str) -> None:
    if not actor.can(city_id, action):
        role = actor.role_in(city_id) or "no role"
        raise PermissionDenied(f"{actor.username} ({role}) may not {action} in this city")


# --------------------------------------------------------------------------- passwords

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def create_user(
    engine: Engine, *, username: str, password: str, roles: dict[int, str], display_name: str = ""
) -> int:
    for role in roles.values():
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    with Session(engine) as s:
        if s.exec(select(User).where(User.username == username)).first() is not None:
            raise ValueError(f"user {username!r} already exists")
        user = User(
            username=username,
            display_name=display_name or username,
            password_hash=hash_password(password),
        )
        s.add(user)
        s.flush()
        assert user.id is not None
        for city_id, role in roles.items():
            s.add(UserRole(user_id=user.id, city_id=city_id, role=role))
        s.commit()
        return user.id


def authenticate(engine: Engine, *, username: str, password: str) -> Actor | None:
    """The actor for valid credentials, else None (same answer for unknown user and bad password)."""
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None or not user.is_active:
            verify_password(password, "scrypt$16384$8$1$00$00")  # equal work either way
            return None
        if not verify_password(password, user.password_hash):
            return None
        return load_actor(s, user)


def load_actor(s: Session, user: User) -> Actor:
    roles = s.exec(select(UserRole).where(UserRole.user_id == user.id)).all()
    return Actor(
        username=user.username,
        roles={r.city_id: r.role for r in roles},
        state_admin=user.state_admin,
    )
