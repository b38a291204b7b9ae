"""Invitations (邀请): a single-use, expiring link that lets a new user make her own account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from library_app.domain.invites import InviteState, invite_state

from .base import Base, utcnow
from .points import Point
from .users import User

invitation_points = Table(
    "invitation_points",
    Base.metadata,
    Column("invitation_id", ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True),
    Column("point_id", ForeignKey("points.id", ondelete="CASCADE"), primary_key=True),
)


class Invitation(Base):
    """One invitation. Only the SHA-256 of its token is stored: the link is shown once, to the
    person who made it. Used once (``used_at``, ``used_by``: the account it made), or revoked."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    points: Mapped[list[Point]] = relationship(secondary=invitation_points, order_by=Point.code)
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    used_by: Mapped[User | None] = relationship(foreign_keys=[used_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    def point_codes(self) -> list[str]:
        return [p.code for p in self.points]

    def state(self, now: datetime) -> InviteState:
        return invite_state(used_at=self.used_at, revoked_at=self.revoked_at,
                            expires_at=self.expires_at, now=now,
                            inviter_active=self.created_by.active)
