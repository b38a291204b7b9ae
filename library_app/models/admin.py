from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .points import Point
from .users import User


class AuditLog(Base):
    """Who did what, when, to which thing; also every view or export of a child's data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    actor: Mapped[User | None] = relationship()


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class YearTarget(Base):
    __tablename__ = "year_targets"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    target: Mapped[int]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonthlyTally(Base):
    """Loans counted on paper for a month before the system was used, per point."""

    __tablename__ = "monthly_tallies"
    __table_args__ = (UniqueConstraint("point_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    loans: Mapped[int]
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)

    point: Mapped[Point] = relationship()


class HealthCheck(Base):
    """One row that ``/healthz`` rewrites now and then: proof that the database can still write
    (a full disk lets SELECT 1 through while every loan fails)."""

    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
