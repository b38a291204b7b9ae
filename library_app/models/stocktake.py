"""Stocktakes (盘点): one per point at a time, a snapshot of what was expected, every scan kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .points import Point
from .users import User


class Stocktake(Base):
    __tablename__ = "stocktakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    expected: Mapped[int] = mapped_column(default=0)  # size of the snapshot when it opened

    point: Mapped[Point] = relationship()
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])


class StocktakeItem(Base):
    """One copy expected on the shelves when the stocktake opened (the snapshot)."""

    __tablename__ = "stocktake_items"
    __table_args__ = (UniqueConstraint("stocktake_id", "copy_id", name="uq_stocktake_items_copy"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktakes.id"))
    copy_id: Mapped[int] = mapped_column(ForeignKey("copies.id"), index=True)
    status_at_open: Mapped[str] = mapped_column(String(16))
    found_at: Mapped[datetime | None]
    # set at close when this copy became (or stayed) missing: the date it went missing
    missing_at: Mapped[datetime | None]


class StocktakeScan(Base):
    """Every scan as sent, under its client id (unique: a scan sent twice is stored once)."""

    __tablename__ = "stocktake_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[str] = mapped_column(String(36), unique=True)
    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktakes.id"), index=True)
    copy_code: Mapped[str] = mapped_column(String(64))
    copy_id: Mapped[int | None] = mapped_column(ForeignKey("copies.id"))
    status: Mapped[str] = mapped_column(String(10))  # found|elsewhere|on_loan|unknown|duplicate
    where: Mapped[str] = mapped_column(String(80), default="")  # the point of an "elsewhere" copy
    scanned_at: Mapped[datetime]  # the device's time
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class StocktakeTally(Base):
    """How many of a stocktake's items are found, in a few rows whose sum is the count: the
    count a scan answers with, read in O(1) instead of counting the found items (O(found) per
    scan, so O(n²) over a stocktake). One row per writer slot: on PostgreSQL each connection
    adds to its own row (its backend pid), so phones scanning at once never wait on one
    counter row; on SQLite writers take turns anyway and use slot 0. The items stay the truth
    (the summary counts them); ``services.stocktake.recording`` keeps this in step with them in
    the same transaction."""

    __tablename__ = "stocktake_tallies"

    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktakes.id"), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    found: Mapped[int] = mapped_column(default=0)


# The found count of the summary: read from this index alone.
Index("ix_stocktake_items_found", StocktakeItem.stocktake_id,
      sqlite_where=text("found_at IS NOT NULL"), postgresql_where=text("found_at IS NOT NULL"))
# At most one open stocktake per point (several points may each have one open).
Index("uq_stocktakes_open_point", Stocktake.point_id, unique=True,
      sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"))
# One counted scan per copy per stocktake: a second phone scanning the same book is "duplicate".
Index("uq_stocktake_scans_counted", StocktakeScan.stocktake_id, StocktakeScan.copy_id, unique=True,
      sqlite_where=text("status IN ('found', 'elsewhere', 'on_loan')"),
      postgresql_where=text("status IN ('found', 'elsewhere', 'on_loan')"))
