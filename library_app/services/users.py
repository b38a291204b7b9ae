"""Accounts: creation, passwords (argon2id), authentication and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from library_app.domain.accounts import password_problem
from library_app.models import ApiToken, Point, User, UserSession
from library_app.models.users import ROLES, SignedIn

from . import audit
from .errors import Conflict, Invalid

# argon2id with the library's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4),
# which meets OWASP ASVS 5.0 appendix C.
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def validate_password(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> None:
    """A new password: long enough, not a common one, not the username with digits."""
    problem = password_problem(password, user_inputs)
    if problem:
        raise Invalid(problem)


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def points_by_code(session: Session, codes: list[str]) -> list[Point]:
    wanted = [c.strip().upper() for c in codes if c and c.strip()]
    if not wanted:
        return []
    found = session.scalars(select(Point).where(Point.code.in_(wanted))).all()
    missing = set(wanted) - {p.code for p in found}
    if missing:
        raise Invalid("没有这些阅读点：" + "、".join(sorted(missing)))
    return list(found)


def create_user(
    session: Session,
    actor: User | None,
    now: datetime,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    point_codes: list[str] | None = None,
) -> User:
    """Create an account. ``actor`` is None only for the CLI and the first-run page."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise Invalid("请填写用户名（不超过 64 个字符）。")
    if role not in ROLES:
        raise Invalid("角色无效。")
    _check_points_for(role, point_codes or [])
    validate_password(password, [username, display_name])
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Conflict("该用户名已被使用。")
    user = User(
        username=username,
        display_name=(display_name or "").strip(),
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=now,
    )
    user.points = points_by_code(session, point_codes or [])
    session.add(user)
    session.flush()
    audit.record(session, actor, now, "user.create", "user", user.id, role=role)
    return user


def _check_points_for(role: str, point_codes: list[str]) -> None:
    if role == "point_lead" and not point_codes:
        raise Invalid("阅读点负责人至少要负责一个阅读点：请勾选她负责的阅读点。")


def update_user(
    session: Session,
    actor: User,
    now: datetime,
    user: User,
    *,
    display_name: str,
    role: str,
    active: bool,
    point_codes: list[str],
    password: str = "",
) -> User:
    if role not in ROLES:
        raise Invalid("角色无效。")
    if user.id == actor.id and (role != "admin" or not active):
        raise Invalid("不能取消或停用您自己的管理员账号。")
    _check_points_for(role, point_codes)
    user.display_name = display_name.strip()
    user.role = role
    user.active = active
    user.points = points_by_code(session, point_codes)
    if password:
        validate_password(password, [user.username, user.display_name])
        user.password_hash = hash_password(password)
    if password or not active:
        end_sessions(session, user.id, now)  # her copied cookies and tokens are worth nothing now
    session.flush()
    audit.record(session, actor, now, "user.update", "user", user.id, role=role, active=active,
                 password_changed=bool(password))
    return user


def change_own_password(session: Session, user: User, now: datetime, *, current: str, new: str) -> None:
    """Self-service change (ASVS 6.2.2: the current password is asked for). Every session and
    token of hers ends; the caller signs this browser in again with a new session."""
    if not check_password(user.password_hash, current or ""):
        raise Invalid("当前密码不正确。", field="current")
    if new == current:
        raise Invalid("新密码不能与当前密码相同。")
    validate_password(new, [user.username, user.display_name])
    user.password_hash = hash_password(new)
    end_sessions(session, user.id, now)
    session.flush()
    audit.record(session, user, now, "user.password", "user", user.id)


def end_sessions(session: Session, user_id: int, now: datetime) -> None:
    """Every browser session of this user ends and her bearer tokens are revoked."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=now))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None; same work whether or not it exists."""
    user = session.scalar(
        select(User).where(func.lower(User.username) == (username or "").strip().lower())
    )
    if user is None:
        check_password(_DUMMY_HASH, password or "")
        return None
    if not check_password(user.password_hash, password or ""):
        return None
    if not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, now: datetime, hours: int) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class Actor(SignedIn):
    """The signed-in user as the busiest requests need it: one row read with a prebuilt
    statement, no ORM object (see ``actor_by_id``). Speaks Flask-Login's user protocol."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool


_users, _tokens = cast(Table, User.__table__), cast(Table, ApiToken.__table__)
_ACTOR_COLUMNS = (_users.c.id, _users.c.username, _users.c.display_name, _users.c.role, _users.c.active)
_ACTOR_BY_ID = select(*_ACTOR_COLUMNS).where(_users.c.id == bindparam("b_id"), _users.c.active.is_(True))
_ACTOR_BY_TOKEN = (
    select(*_ACTOR_COLUMNS)
    .select_from(_users.join(_tokens, _tokens.c.user_id == _users.c.id))
    .where(_tokens.c.token_hash == bindparam("b_hash"), _tokens.c.revoked_at.is_(None),
           _tokens.c.expires_at > bindparam("b_now"), _users.c.active.is_(True))
)


def actor_by_id(conn: Connection, user_id: int) -> Actor | None:
    """An active user by id, as an ``Actor``: the same answer as the session loader gives."""
    row: Any = conn.execute(_ACTOR_BY_ID, {"b_id": user_id}).first()
    return Actor(*row) if row is not None else None


def actor_for_token(conn: Connection, token: str, now: datetime) -> Actor | None:
    """``user_for_token`` as an ``Actor``."""
    row: Any = conn.execute(_ACTOR_BY_TOKEN, {"b_hash": _token_hash(token), "b_now": now}).first()
    return Actor(*row) if row is not None else None


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    # One query on the hot path (every API call): the token's user, if the token is live.
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == _token_hash(token),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > now,
            User.active.is_(True),
        )
    )
