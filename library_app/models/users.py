from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from library_app.domain.roles import ALL_ROLES

from .base import Base, utcnow
from .points import Point

ROLES: tuple[str, ...] = tuple(ALL_ROLES)

user_points = Table(
    "user_points",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("point_id", ForeignKey("points.id", ondelete="CASCADE"), primary_key=True),
)


class SignedIn:
    """Flask-Login's user protocol, over ``id``, ``active``, ``display_name`` and ``username``:
    for the ORM ``User`` and for the one-row ``services.users.Actor`` of the busy requests."""

    if TYPE_CHECKING:
        id: int
        active: bool
        display_name: str
        username: str

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def name(self) -> str:
        return self.display_name or self.username


class User(SignedIn, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    points: Mapped[list[Point]] = relationship(secondary=user_points, order_by=Point.code)

    def point_codes(self) -> list[str]:
        return [p.code for p in self.points]


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user: Mapped[User] = relationship()


class UserSession(Base):
    """A signed-in browser session, held on the server. The cookie carries only an opaque
    random id (its SHA-256 is stored); logout, a password change and disabling delete the rows,
    so a copied cookie is worth nothing afterwards."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed-login counts, shared by every process of a deployment: one row per account or
    per address and window; ``key`` is a SHA-256 (typed usernames are not kept)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    last_at: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]
