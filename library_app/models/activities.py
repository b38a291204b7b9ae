"""Reading activities (故事会 …) and the volunteers who serve at them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .borrowers import Borrower
from .catalog import Copy
from .points import Point
from .users import User

VOLUNTEER_KINDS = ("story_mother", "worker", "child", "student", "other")


class Volunteer(Base):
    """A person who serves (志愿者), with or without a user account. A child volunteer carries
    her guardian's consent (when, recorded by whom), as a borrower does."""

    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    home_point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    consent_at: Mapped[datetime | None]
    consent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    joined_on: Mapped[date]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    home_point: Mapped[Point] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class Activity(Base):
    """One reading activity held at a point. ``id`` is the client's UUID: a retry of the same
    record is recognised by it (``content_hash`` tells a retry from other content)."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"))
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    minutes: Mapped[int]
    children: Mapped[int] = mapped_column(default=0)      # the count given (0: none)
    attendance: Mapped[int] = mapped_column(default=0)    # max(children, distinct cards)
    adults: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    point: Mapped[Point] = relationship()
    recorded_by: Mapped[User | None] = relationship()
    cards: Mapped[list[ActivityCard]] = relationship(cascade="all, delete-orphan",
                                                     order_by="ActivityCard.id")
    titles: Mapped[list[ActivityTitle]] = relationship(cascade="all, delete-orphan",
                                                       order_by="ActivityTitle.id")
    volunteers: Mapped[list[ActivityVolunteer]] = relationship(cascade="all, delete-orphan",
                                                               order_by="ActivityVolunteer.id")


# The annual report reads a year's activities by time (and point) from this index alone.
Index("ix_activities_started_cover", Activity.started_at, Activity.point_id, Activity.attendance)


class ActivityCard(Base):
    """A child who attended, by her card (the borrower as the card named her then)."""

    __tablename__ = "activity_cards"
    __table_args__ = (UniqueConstraint("activity_id", "card_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    card_code: Mapped[str] = mapped_column(String(20))
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("borrowers.id"), index=True)

    borrower: Mapped[Borrower | None] = relationship()


# The annual report's children who attended: a year's activities' cards from this index alone.
Index("ix_activity_cards_children", ActivityCard.activity_id, ActivityCard.borrower_id)


class ActivityTitle(Base):
    """A book read: a copy of the catalog, or free text."""

    __tablename__ = "activity_titles"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"),
                                             index=True)
    copy_id: Mapped[int | None] = mapped_column(ForeignKey("copies.id"))
    text: Mapped[str] = mapped_column(String(200), default="")

    copy: Mapped[Copy | None] = relationship()


class ActivityVolunteer(Base):
    __tablename__ = "activity_volunteers"
    __table_args__ = (UniqueConstraint("activity_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"), index=True)
    minutes: Mapped[int]

    volunteer: Mapped[Volunteer] = relationship()


# The annual report's volunteer participations and minutes from this index alone.
Index("ix_activity_volunteers_service", ActivityVolunteer.activity_id, ActivityVolunteer.volunteer_id,
      ActivityVolunteer.minutes)


class FigureTarget(Base):
    """The year's target for one figure of the annual report other than loans (whose target
    stays in ``year_targets``): activities, attendance, volunteer minutes, …"""

    __tablename__ = "figure_targets"
    __table_args__ = (UniqueConstraint("year", "figure"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    figure: Mapped[str] = mapped_column(String(32))
    target: Mapped[int]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
