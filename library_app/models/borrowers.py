from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from library_app.domain.statuses import BorrowerStatus, CardStatus

from .base import Base, utcnow
from .points import Point

BORROWER_TYPES = ("child", "adult")
BORROWER_STATUSES = tuple(BorrowerStatus)
CARD_STATUSES = tuple(CardStatus)


class Borrower(Base):
    """A child (or a parent) who borrows (小读者/借阅人). Personal data kept to the minimum."""

    __tablename__ = "borrowers"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(8), default="child")
    name: Mapped[str] = mapped_column(String(64))
    search_pinyin: Mapped[str] = mapped_column(String(255), default="")
    search_initials: Mapped[str] = mapped_column(String(64), default="")
    birth_year: Mapped[int | None]
    school: Mapped[str] = mapped_column(String(100), default="")
    grade: Mapped[str] = mapped_column(String(32), default="")
    guardian_name: Mapped[str] = mapped_column(String(64), default="")
    guardian_phone: Mapped[str] = mapped_column(String(32), default="")
    home_point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    consent_at: Mapped[datetime | None]
    consent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=BorrowerStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    left_at: Mapped[datetime | None]
    anonymised_at: Mapped[datetime | None]
    # May borrow alone at a self-service kiosk (自助借阅); librarians turn it on.
    self_service: Mapped[bool] = mapped_column(default=False, server_default=false())

    home_point: Mapped[Point] = relationship()
    cards: Mapped[list[Card]] = relationship(back_populates="borrower", order_by="Card.id")

    @property
    def active_card(self) -> Card | None:
        return next((c for c in self.cards if c.status == CardStatus.ACTIVE), None)


class Card(Base):
    """A library card (借阅证) C… with a Luhn digit; pre-printed cards start unbound."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("borrowers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CardStatus.ACTIVE)
    batch: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    bound_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    borrower: Mapped[Borrower | None] = relationship(back_populates="cards")


# One active card per borrower, enforced by the database.
Index(
    "uq_cards_one_active_per_borrower",
    Card.borrower_id,
    unique=True,
    sqlite_where=text("status = 'active'"),
    postgresql_where=text("status = 'active'"),
)
