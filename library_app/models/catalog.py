from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from library_app.domain.statuses import CopyStatus

from .base import Base, utcnow
from .points import Point
from .users import User

COPY_STATUSES = tuple(CopyStatus)
COPY_SOURCES = ("purchase", "donation")
AGE_BANDS = ("0-3", "3-6", "6-9", "9-12", "12+")
CATEGORIES = ("绘本", "桥梁书", "科普", "文学", "历史", "艺术", "漫画", "工具书", "其他")


class Title(Base):
    """A bibliographic title (书目)."""

    __tablename__ = "titles"

    id: Mapped[int] = mapped_column(primary_key=True)
    isbn: Mapped[str | None] = mapped_column(String(13), index=True)
    title: Mapped[str] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(255), default="")
    publisher: Mapped[str] = mapped_column(String(255), default="")
    year: Mapped[int | None]
    category: Mapped[str] = mapped_column(String(32), default="")
    age_band: Mapped[str] = mapped_column(String(8), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # Filled from a catalogue record found by ISBN (套录), editable like the rest
    pages: Mapped[int | None]
    price: Mapped[str] = mapped_column(String(32), default="")
    clc: Mapped[str] = mapped_column(String(32), default="")  # 中图法 class, e.g. I287.8
    summary: Mapped[str] = mapped_column(Text, default="")
    # Where the record came from (a source's name) and the record as received, kept with the title
    record_source: Mapped[str] = mapped_column(String(64), default="")
    raw_record: Mapped[str] = mapped_column(Text, default="")
    # who added it: a point lead edits only the titles she added (None: staff's or imported)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Search keys: lower-case pinyin without spaces, and initials (猜猜我有多爱你 → ccwydan)
    search_pinyin: Mapped[str] = mapped_column(String(1024), default="")
    search_initials: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    copies: Mapped[list[Copy]] = relationship(back_populates="title", order_by="Copy.code")


class Copy(Base):
    """A physical book (馆藏/册), labelled B… with a Luhn check digit."""

    __tablename__ = "copies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    title_id: Mapped[int] = mapped_column(ForeignKey("titles.id"), index=True)
    home_point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    current_point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CopyStatus.AVAILABLE, index=True)
    source: Mapped[str] = mapped_column(String(16), default="purchase")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    title: Mapped[Title] = relationship(back_populates="copies")
    home_point: Mapped[Point] = relationship(foreign_keys=[home_point_id])
    current_point: Mapped[Point] = relationship(foreign_keys=[current_point_id])


class Transfer(Base):
    """Copies moved from one point to another, in one go."""

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    to_point_id: Mapped[int] = mapped_column(ForeignKey("points.id"))
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list[TransferItem]] = relationship(cascade="all, delete-orphan")
    by: Mapped[User] = relationship()


class TransferItem(Base):
    __tablename__ = "transfer_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id", ondelete="CASCADE"), index=True)
    copy_id: Mapped[int] = mapped_column(ForeignKey("copies.id"))
    from_point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))


Index("ix_titles_title", Title.title)
