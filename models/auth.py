"""Who may do what, checked on the server side for every action.

Roles are per city (``UserRole``): a person can be a strategist in one city and a viewer in
another. ``Actor`` is the signed-in person as every service function sees it; ``require``
raises :class:`PermissionDenied` before anything changes.

Passwords are hashed with scrypt (standard library), salted, in a self-describing string.
Repeated failures lock an account for a while (:class:`SessionPolicy`).

Console sessions live in the database (``ConsoleSession``): the browser's session holds a
random token, the table only its SHA-256. Each page load resumes the session, which ends when
idle too long, at its maximum age, at sign-out, or when the person is deactivated; roles are
re-read at every resume, so a changed role applies at the next click.

Errors: :class:`PermissionDenied` (an action the role does not allow) and
:class:`SignInRefused` (wrong credentials, locked or inactive account; the message never says
which of unknown user and wrong password it was).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.tables import ROLES, AuditEvent, ConsoleSession, User, UserRole
from models.types import utcnow

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
    user_id: int | None = None

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
        user_id=user.id,
    )


# --------------------------------------------------------------------------- sign-in and sessions


class SignInRefused(Exception):
    """Credentials refused, account locked or inactive. The message is safe to show."""


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=60)
    max_age: timedelta = timedelta(hours=12)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Any) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            max_age=timedelta(hours=settings.session_max_hours),
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: Actor
    token: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit_all_cities(s: Session, user_id: int, actor: str, action: str, **details: Any) -> None:
    """A sign-in event is recorded in each city the person has a role in."""
    for role in s.exec(select(UserRole).where(UserRole.user_id == user_id)).all():
        s.add(
            AuditEvent(
                city_id=role.city_id,
                actor=actor,
                action=action,
                object_type="user",
                object_id=str(user_id),
                details=details or None,
            )
        )


def start_session(
    engine: Engine,
    *,
    user_id: int,
    method: str = "password",
    policy: SessionPolicy | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """A new console session for an active user; returns the token the browser session keeps."""
    policy = policy or SessionPolicy()
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with Session(engine) as s:
        user = s.get(User, user_id)
        if user is None or not user.is_active:
            raise SignInRefused("this account is not active")
        expires = now + policy.max_age
        s.add(
            ConsoleSession(
                token_hash=_token_hash(token),
                user_id=user_id,
                method=method,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
        user.last_login_at = now
        s.add(user)
        _audit_all_cities(s, user_id, user.username, "session.start", method=method)
        s.commit()
        actor = load_actor(s, user)
    return SignedIn(actor=actor, token=token, expires_at=expires)


def sign_in(
    engine: Engine,
    *,
    username: str,
    password: str,
    policy: SessionPolicy | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """Check a password (with lockout after repeated failures) and start a session."""
    policy = policy or SessionPolicy()
    now = now or utcnow()
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == username.strip())).first()
        if user is None or not user.is_active:
            verify_password(password, "scrypt$16384$8$1$00$00")  # equal work either way
            raise SignInRefused("unknown user or wrong password")
        if user.locked_until is not None and user.locked_until > now:
            raise SignInRefused(
                f"too many failed attempts: this account is locked until {user.locked_until:%H:%M} UTC"
            )
        if not verify_password(password, user.password_hash):
            user.failed_logins += 1
            if user.failed_logins >= policy.max_failures:
                user.locked_until = now + policy.lockout
                user.failed_logins = 0
                _audit_all_cities(s, user.id or 0, user.username, "user.locked")
            s.add(user)
            s.commit()
            raise SignInRefused("unknown user or wrong password")
        user.failed_logins, user.locked_until = 0, None
        s.add(user)
        s.commit()
        assert user.id is not None
        user_id = user.id
    return start_session(engine, user_id=user_id, method="password", policy=policy, now=now)


def resume_session(
    engine: Engine, *, token: str, policy: SessionPolicy | None = None, now: datetime | None = None
) -> Actor | None:
    """The actor of a live session (roles freshly read), or None when it has ended."""
    policy = policy or SessionPolicy()
    now = now or utcnow()
    with Session(engine) as s:
        row = s.exec(
            select(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token))
        ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at <= now or row.last_seen_at + policy.idle <= now:
            row.revoked_at = now
            s.add(row)
            s.commit()
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        # Touch at most once a minute: a page load is then a read, not a write.
        if now - row.last_seen_at >= timedelta(minutes=1):
            row.last_seen_at = now
            s.add(row)
            s.commit()
        return load_actor(s, user)


def end_session(engine: Engine, *, token: str, now: datetime | None = None) -> None:
    with Session(engine) as s:
        row = s.exec(
            select(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token))
        ).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = now or utcnow()
            s.add(row)
            user = s.get(User, row.user_id)
            if user is not None:
                _audit_all_cities(s, row.user_id, user.username, "session.end")
            s.commit()


def revoke_sessions(engine: Engine, *, user_id: int, now: datetime | None = None) -> int:
    """End every live session of a person (deactivation, password reset)."""
    t = ConsoleSession.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        res = conn.execute(
            t.update()
            .where(t.c.user_id == user_id, t.c.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        )
    return int(res.rowcount)


def actor_for_email(engine: Engine, *, email: str) -> User | None:
    """The active local account an OIDC identity maps to (by its verified e-mail)."""
    with Session(engine) as s:
        user = s.exec(
            select(User).where(sa.func.lower(User.email) == email.strip().lower())
        ).first()
        return user if user is not None and user.is_active else None


# --------------------------------------------------------------------------- accounts


def user_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(User)).scalar_one())


def create_first_admin(engine: Engine, *, username: str, password: str, city_ids: list[int]) -> int:
    """The first account, admin of every given city; refused once any account exists."""
    if user_count(engine) > 0:
        raise PermissionDenied("an account already exists: sign in, or ask an admin")
    user_id = create_user(
        engine, username=username, password=password, roles=dict.fromkeys(city_ids, "admin")
    )
    with Session(engine) as s:
        if s.exec(select(sa.func.count()).select_from(User)).one() > 1:
            # Someone else created an account at the same moment: keep theirs only.
            s.exec(sa.delete(UserRole).where(UserRole.user_id == user_id))  # type: ignore[call-overload,arg-type]
            s.exec(sa.delete(User).where(User.id == user_id))  # type: ignore[call-overload,arg-type]
            s.commit()
            raise PermissionDenied("an account already exists: sign in, or ask an admin")
        for cid in city_ids:
            s.add(
                AuditEvent(
                    city_id=cid,
                    actor=username,
                    action="user.create",
                    object_type="user",
                    object_id=str(user_id),
                    details={"role": "admin", "first_run": True},
                )
            )
        s.commit()
    return user_id


def list_users(engine: Engine, *, city_id: int) -> list[dict[str, Any]]:
    """Every account with its role in this city (None when it has none), for the Users page."""
    with Session(engine) as s:
        users = s.exec(select(User).order_by(User.username)).all()
        roles = {
            r.user_id: r.role
            for r in s.exec(select(UserRole).where(UserRole.city_id == city_id)).all()
        }
    return [
        {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "email": u.email,
            "role": roles.get(u.id or 0),
            "active": u.is_active,
            "last_login_at": u.last_login_at,
            "locked_until": u.locked_until,
        }
        for u in users
        if u.id in roles or u.state_admin
    ]


def _audit(
    s: Session, city_id: int, actor: Actor, action: str, user_id: int, **details: Any
) -> None:
    s.add(
        AuditEvent(
            city_id=city_id,
            actor=actor.username,
            action=action,
            object_type="user",
            object_id=str(user_id),
            details=details or None,
        )
    )


def add_user(
    engine: Engine,
    actor: Actor,
    *,
    city_id: int,
    username: str,
    password: str,
    role: str,
    email: str | None = None,
    display_name: str = "",
) -> int:
    """An admin adds an account with a role in this city (audited)."""
    require(actor, city_id, "user.manage")
    username = username.strip()
    if not username:
        raise ValueError("a username is required")
    user_id = create_user(
        engine,
        username=username,
        password=password,
        roles={city_id: role},
        display_name=display_name,
    )
    with Session(engine) as s:
        user = s.get(User, user_id)
        assert user is not None
        user.email = (email or "").strip() or None
        s.add(user)
        _audit(s, city_id, actor, "user.create", user_id, username=username, role=role)
        s.commit()
    return user_id


def set_role(engine: Engine, actor: Actor, *, city_id: int, user_id: int, role: str | None) -> None:
    """Give a person a role in this city, change it, or (None) remove it; audited."""
    require(actor, city_id, "user.manage")
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    with Session(engine) as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        if user.username == actor.username and role != "admin":
            raise PermissionDenied("you cannot lower your own role; ask another admin")
        row = s.exec(
            select(UserRole).where(UserRole.user_id == user_id, UserRole.city_id == city_id)
        ).first()
        if role is None:
            if row is not None:
                s.delete(row)
        elif row is None:
            s.add(UserRole(user_id=user_id, city_id=city_id, role=role))
        else:
            row.role = role
            s.add(row)
        _audit(s, city_id, actor, "user.role", user_id, username=user.username, role=role)
        s.commit()


def _city_user(s: Session, city_id: int, user_id: int) -> User:
    user = s.get(User, user_id)
    has_role = s.exec(
        select(UserRole).where(UserRole.user_id == user_id, UserRole.city_id == city_id)
    ).first()
    if user is None or has_role is None:
        raise LookupError(f"no user {user_id} in this city")
    return user


def _require_every_city(s: Session, actor: Actor, user: User) -> None:
    """An account shared with other cities (or a state admin's) is managed only by someone
    who manages people in each of them: a city's admin must not take over, through a
    password reset or deactivation, an account that reads another city's data."""
    if user.state_admin and not actor.state_admin:
        raise PermissionDenied("only a state admin may change a state admin's account")
    for role in s.exec(select(UserRole).where(UserRole.user_id == user.id)).all():
        if not actor.can(role.city_id, "user.manage"):
            raise PermissionDenied(
                f"{user.username} also works for another city: ask an admin of every city "
                "they work for, or a state admin"
            )


def set_active(engine: Engine, actor: Actor, *, city_id: int, user_id: int, active: bool) -> None:
    """Deactivate (ending every session) or reactivate an account of this city; audited."""
    require(actor, city_id, "user.manage")
    with Session(engine) as s:
        user = _city_user(s, city_id, user_id)
        if user.username == actor.username and not active:
            raise PermissionDenied("you cannot deactivate your own account")
        _require_every_city(s, actor, user)
        user.is_active = active
        s.add(user)
        action = "user.activate" if active else "user.deactivate"
        _audit(s, city_id, actor, action, user_id, username=user.username)
        s.commit()
    if not active:
        revoke_sessions(engine, user_id=user_id)


def reset_password(
    engine: Engine, actor: Actor, *, city_id: int, user_id: int, password: str
) -> None:
    """Set a new password (an admin for a city's account, or anyone for their own); audited."""
    with Session(engine) as s:
        user = _city_user(s, city_id, user_id)
        if user.username != actor.username:
            require(actor, city_id, "user.manage")
            _require_every_city(s, actor, user)
        user.password_hash = hash_password(password)
        user.failed_logins, user.locked_until = 0, None
        s.add(user)
        _audit(s, city_id, actor, "user.password", user_id, username=user.username)
        s.commit()
    revoke_sessions(engine, user_id=user_id)


def set_password(engine: Engine, *, username: str, password: str) -> None:
    """The command line's password reset (no actor: whoever runs it owns the machine)."""
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise LookupError(f"no user {username!r}")
        user.password_hash = hash_password(password)
        user.failed_logins, user.locked_until = 0, None
        s.add(user)
        assert user.id is not None
        _audit_all_cities(s, user.id, "cli", "user.password")
        s.commit()
        user_id = user.id
    revoke_sessions(engine, user_id=user_id)
