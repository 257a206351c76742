"""Login sessions: a random token in an HttpOnly cookie, its SHA-256 in the database, a CSRF token per session.

The database keeps only the hash, so a copy of the table cannot be used to log in. A session ends on
logout, after `web_session_idle_minutes` without a request, after `web_session_max_hours` in all, and at
once when its account is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import insert, select, update

from engine.store import EventStore
from engine.store.schema import users, web_sessions
from engine.store.timestamps import from_db, to_db

COOKIE = "itpwatch_session"
TOUCH_EVERY = timedelta(seconds=60)
"""last_seen_at is written at most this often: a page view should not cost a write each time."""


class Refusal(StrEnum):
    """Why a presented cookie does not open a session; each gets its own sentence on the login page."""

    NONE = "none"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    ENDED = "ended"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Session:
    id: str
    username: str
    role: str
    csrf: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(store: EventStore, username: str, now: datetime, max_hours: int) -> str:
    """A new session for the user; returns the token for the cookie (never stored as such)."""
    token = secrets.token_urlsafe(32)
    db_now = to_db(now, store.dialect)
    with store.engine.begin() as conn:
        conn.execute(insert(web_sessions).values(
            id=_digest(token), username=username, csrf=secrets.token_urlsafe(32), created_at=db_now,
            last_seen_at=db_now, expires_at=to_db(now + timedelta(hours=max_hours), store.dialect)))
    return token


def resume(store: EventStore, token: str | None, now: datetime, idle_minutes: int) -> tuple[Session | None, Refusal]:
    if not token:
        return None, Refusal.NONE
    if len(token) > 200:
        return None, Refusal.UNKNOWN
    sid = _digest(token)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(web_sessions, users.c.role, users.c.disabled_at)
            .join(users, users.c.username == web_sessions.c.username)
            .where(web_sessions.c.id == sid)
        ).first()
    if row is None:
        return None, Refusal.UNKNOWN
    r = row._mapping
    if r["ended_at"] is not None:
        return None, Refusal.ENDED
    if r["disabled_at"] is not None:
        return None, Refusal.DISABLED
    last_seen = from_db(r["last_seen_at"])
    if now >= from_db(r["expires_at"]) or now - last_seen > timedelta(minutes=idle_minutes):
        end(store, token, now)
        return None, Refusal.EXPIRED
    if now - last_seen > TOUCH_EVERY:
        with store.engine.begin() as conn:
            conn.execute(update(web_sessions).where(web_sessions.c.id == sid)
                         .values(last_seen_at=to_db(now, store.dialect)))
    return Session(sid, r["username"], r["role"], r["csrf"], from_db(r["expires_at"])), Refusal.NONE


def end(store: EventStore, token: str, now: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.id == _digest(token), web_sessions.c.ended_at.is_(None))
                     .values(ended_at=to_db(now, store.dialect)))


def csrf_matches(expected: str, presented: str | None) -> bool:
    return bool(presented) and secrets.compare_digest(expected.encode(), (presented or "").encode())
