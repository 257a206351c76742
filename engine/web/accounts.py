"""User accounts: argon2 password hashes, roles, disabling. Managed with `itpwatch users` on the server.

A disabled account keeps its row (the access log names it); its sessions end at once because every
request re-reads the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.store import EventStore
from engine.store.schema import users
from engine.store.timestamps import from_db, to_db
from engine.web.roles import Role

_HASHER = PasswordHasher()  # argon2id with the library's current defaults (RFC 9106 low-memory profile)
MIN_PASSWORD = 10
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class AccountError(ValueError):
    """A user's mistake with an account (a taken name, a short password): the message says what to do."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


def _check_name(username: str) -> None:
    if not 1 <= len(username) <= 100 or not set(username) <= USERNAME_CHARS:
        raise AccountError("a user name is 1-100 letters, digits or . _ - @")


def add_user(store: EventStore, username: str, role: str, password: str, at: datetime) -> User:
    _check_name(username)
    if role not in set(Role):
        raise AccountError(f"role must be one of {', '.join(r.value for r in Role)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(users).values(username=username, role=role, password_hash=_HASHER.hash(password),
                                              created_at=to_db(at, store.dialect)))
    except IntegrityError as exc:
        raise AccountError(f"user {username!r} exists; choose another name") from exc
    return User(username, role, at, None)


def list_users(store: EventStore) -> list[User]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).all()
    return [_user(r) for r in rows]


def get_user(store: EventStore, username: str) -> User | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    return None if row is None else _user(row)


def disable_user(store: EventStore, username: str, at: datetime) -> bool:
    """Disable an account; False when it was disabled already. Raises AccountError for an unknown name."""
    with store.engine.begin() as conn:
        row = conn.execute(select(users.c.disabled_at).where(users.c.username == username)).first()
        if row is None:
            raise AccountError(f"no user {username!r} (`itpwatch users list` shows them)")
        if row[0] is not None:
            return False
        conn.execute(update(users).where(users.c.username == username).values(disabled_at=to_db(at, store.dialect)))
    return True


def authenticate(store: EventStore, username: str, password: str) -> User | None:
    """The active user whose password this is, else None. The hash is checked even for an unknown name,
    so that the answer takes as long either way."""
    with store.engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    user = _user(row)
    return user if user.active else None


def _user(row: object) -> User:
    r = row._mapping  # type: ignore[attr-defined]
    return User(r["username"], r["role"], from_db(r["created_at"]),
                from_db(r["disabled_at"]) if r["disabled_at"] is not None else None)



@cache
def _dummy_hash() -> str:
    return _HASHER.hash("itpwatch-no-such-user")
