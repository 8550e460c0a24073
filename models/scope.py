"""The one place a city's data is scoped: a :class:`Scope` is an actor working in one city.

Every console page, export and command-line command that reads or changes a city's data
first obtains a scope, and takes the city id it works for from it:

    scope = open_scope(actor, city_id)          # PermissionDenied without a role there
    rows = inbox_page(engine, city_id=scope.city_id, ...)
    post = scope.fetch(session, Post, post_id)   # LookupError when it is another city's

A ``Scope`` cannot be built directly: :func:`open_scope` checks the actor's role in that
city first (``models.auth.require``), so holding a scope is proof of access. By-id reads go
through :meth:`Scope.fetch` / :meth:`Scope.check`, which answer "not found" for a row of
another city (the same answer as for an id that does not exist, so ids of other cities are
not disclosed). The state-level roll-up uses a :class:`StateScope`, which only a state
admin can open (:func:`open_state_scope`).

The command line acts as ``models.auth.SYSTEM`` (whoever runs it owns the machine), still
through a scope per city, so ``--city`` limits what a command reads and changes.

Errors: :class:`models.auth.PermissionDenied` (no role, or the role does not allow the
action) and :class:`LookupError` (a row of another city, or none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session

from models.auth import SYSTEM, VIEW, Actor, PermissionDenied, require

T = TypeVar("T")
_KEY = object()  # only this module's functions can build a scope


@dataclass(frozen=True, slots=True)
class Scope:
    """An actor working in one city; built only by :func:`open_scope`."""

    actor: Actor
    city_id: int
    _key: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._key is not _KEY:
            raise TypeError("a Scope is opened with models.scope.open_scope(actor, city_id)")

    @property
    def role(self) -> str | None:
        return self.actor.role_in(self.city_id)

    def can(self, action: str) -> bool:
        return self.actor.can(self.city_id, action)

    def require(self, action: str) -> None:
        """Raise PermissionDenied unless the actor's role here allows ``action``."""
        require(self.actor, self.city_id, action)

    def check(self, row_city_id: int | None, what: str, ident: Any) -> None:
        """Raise LookupError unless a row read by id belongs to this scope's city."""
        if row_city_id is None or int(row_city_id) != self.city_id:
            raise LookupError(f"there is no {what} {ident} in this city")

    def fetch(self, session: Session, model: type[T], ident: Any, *, what: str = "") -> T:
        """``session.get(model, ident)``, refused (LookupError) unless it is this city's."""
        row = session.get(model, ident)
        self.check(
            getattr(row, "city_id", None) if row is not None else None,
            what or getattr(model, "__tablename__", model.__name__),
            ident,
        )
        assert row is not None
        return row

    def owns(self, row: dict[str, Any] | None) -> bool:
        """True when a row read as a mapping carries this scope's ``city_id``."""
        return row is not None and row.get("city_id") == self.city_id


def open_scope(actor: Actor, city_id: int, action: str = VIEW) -> Scope:
    """The actor's scope in ``city_id``; PermissionDenied unless the role allows ``action``."""
    require(actor, int(city_id), action)
    return Scope(actor, int(city_id), _KEY)


def scopes_for(actor: Actor, city_ids: Iterable[int]) -> list[Scope]:
    """A scope for each of ``city_ids`` where the actor has a role, in the order given."""
    return [Scope(actor, cid, _KEY) for cid in city_ids if actor.can(cid, VIEW)]


def system_scope(city_id: int) -> Scope:
    """The command line's scope in one city (``SYSTEM``: whoever runs it owns the machine)."""
    return open_scope(SYSTEM, city_id)


@dataclass(frozen=True, slots=True)
class StateScope:
    """A state admin looking across every city (the roll-up); built by :func:`open_state_scope`."""

    actor: Actor
    city_ids: tuple[int, ...]
    _key: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._key is not _KEY:
            raise TypeError("a StateScope is opened with models.scope.open_state_scope(actor)")

    def city(self, city_id: int) -> Scope:
        """The scope of one of the cities in the roll-up."""
        if city_id not in self.city_ids:
            raise LookupError(f"there is no city {city_id} here")
        return Scope(self.actor, city_id, _KEY)


def open_state_scope(actor: Actor, city_ids: Iterable[int]) -> StateScope:
    """Every city at once; PermissionDenied unless the actor is a state admin."""
    if not actor.state_admin:
        raise PermissionDenied(f"{actor.username} is not a state admin: the roll-up is theirs")
    return StateScope(actor, tuple(int(c) for c in city_ids), _KEY)


__all__ = [
    "Scope",
    "StateScope",
    "open_scope",
    "open_state_scope",
    "scopes_for",
    "system_scope",
]
