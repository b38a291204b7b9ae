"""Self-service kiosks (自助借阅角): a tablet enrolled for one point that lends and returns there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .points import Point
from .users import User


class Kiosk(Base):
    """One enrolled device. Codes and tokens are stored as SHA-256 only.

    Created with a one-time enrol code (``enrol_code_hash``, ``enrol_expires_at``); the device
    trades it once for its token (``token_hash``, ``enrolled_at``; the code is then cleared).
    Revoked (``revoked_at``): its token is refused from that moment.
    """

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrol_expires_at: Mapped[datetime | None]
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    # Unknown or revoked cards scanned here (domain.kiosk.after_unknown_card).
    card_tries: Mapped[int] = mapped_column(default=0)
    card_tries_started_at: Mapped[datetime | None]
    card_blocked_until: Mapped[datetime | None]

    point: Mapped[Point] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.enrolled_at is not None:
            return "enrolled"
        return "waiting"
