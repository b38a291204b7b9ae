"""Browser sessions held on the server (``UserSession``): the signed cookie carries the user id
and a random session id; a request is signed in only while that id's row exists, is the same
user's, was seen within the idle lifetime and began within the absolute one."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from library_app.domain.accounts import SessionRule, session_cutoffs
from library_app.models import User, UserSession

from .users import Actor


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def start(session: Session, user_id: int, now: datetime, rule: SessionRule) -> str:
    """A new session for this user; returns the raw id for the cookie. Her sessions that have
    run out are swept at the same time."""
    idle_cut, max_cut = session_cutoffs(now, rule)
    session.execute(delete(UserSession).where(
        UserSession.user_id == user_id,
        (UserSession.last_seen_at <= idle_cut) | (UserSession.created_at <= max_cut)))
    raw = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user_id, sid_hash=_hash(raw), created_at=now, last_seen_at=now))
    session.flush()
    return raw


def end(session: Session, raw: str) -> None:
    session.execute(delete(UserSession).where(UserSession.sid_hash == _hash(raw)))


_users, _sessions = cast(Table, User.__table__), cast(Table, UserSession.__table__)
_LIVE = (
    _sessions.c.sid_hash == bindparam("b_hash"), _sessions.c.user_id == bindparam("b_user"),
    _sessions.c.last_seen_at > bindparam("b_idle"), _sessions.c.created_at > bindparam("b_max"),
)
_ACTOR_BY_SESSION = (
    select(_users.c.id, _users.c.username, _users.c.display_name, _users.c.role, _users.c.active,
           _sessions.c.id, _sessions.c.last_seen_at)
    .select_from(_users.join(_sessions, _sessions.c.user_id == _users.c.id))
    .where(_users.c.active.is_(True), *_LIVE)
)
_TOUCH = update(_sessions).where(_sessions.c.id == bindparam("b_id")).values(last_seen_at=bindparam("b_now"))


def _params(user_id: int, raw: str, now: datetime, rule: SessionRule) -> dict[str, Any]:
    idle_cut, max_cut = session_cutoffs(now, rule)
    return {"b_hash": _hash(raw), "b_user": user_id, "b_idle": idle_cut, "b_max": max_cut}


def live_actor(conn: Connection, user_id: int, raw: str, now: datetime,
               rule: SessionRule) -> tuple[Actor, int, datetime] | None:
    """The session's active user as an ``Actor``, with the session's row id and last-seen time."""
    row: Any = conn.execute(_ACTOR_BY_SESSION, _params(user_id, raw, now, rule)).first()
    return (Actor(*row[:5]), row[5], row[6]) if row is not None else None


def live_user(session: Session, user_id: int, raw: str, now: datetime,
              rule: SessionRule) -> tuple[User, int, datetime] | None:
    """``live_actor`` with the ORM ``User``."""
    row = session.execute(
        select(User, UserSession.id, UserSession.last_seen_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(User.active.is_(True), *_LIVE),
        _params(user_id, raw, now, rule),
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


def touch(conn: Connection, session_row_id: int, now: datetime) -> None:
    conn.execute(_TOUCH, {"b_id": session_row_id, "b_now": now})
