from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .borrowers import Borrower, Card
from .catalog import Copy, Title
from .points import Point
from .users import User

EVENT_TYPES = ("loan", "return", "renew")
EVENT_STATUSES = ("applied", "duplicate", "rejected", "review")
LOAN_SOURCES = ("scan", "import")


def _lent_year(context: Any) -> int:
    """loans.lent_year from the row's lent_day (a date, or its ISO text)."""
    return int(str(context.get_current_parameters()["lent_day"])[:4])


class Loan(Base):
    """One lending of a copy (借出). At most one open loan per copy (partial unique index).

    Imported past loans (from spreadsheet logs) may lack copy and borrower; they carry the
    point, the time and the title where known, and are closed from the start.
    An undone loan keeps its row (``undone_at`` set, closed) and never counts in reports.
    """

    __tablename__ = "loans"

    id: Mapped[int] = mapped_column(primary_key=True)
    copy_id: Mapped[int | None] = mapped_column(ForeignKey("copies.id"), index=True)
    title_id: Mapped[int | None] = mapped_column(ForeignKey("titles.id"), index=True)
    # An imported past loan whose title is not in the catalog keeps the title as written.
    title_text: Mapped[str | None] = mapped_column(String(300))
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("borrowers.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    # indexed by (point_id, lent_at) below
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"))
    lent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lent_at: Mapped[datetime]  # indexed as the lead of ix_loans_lent_cover
    # The local date of lent_at in the organisation's time zone, written with the loan: a visit
    # (one child, one point, one day) is then a run of one index (ix_loans_visits) instead of a
    # sort of the year's loans by an expression. Rewritten for every loan if the zone changes
    # (services.reports.recompute_lent_days).
    lent_day: Mapped[date]
    # The year of lent_day, filled from it on insert (and rewritten with it): the key of the
    # annual report's children served (loan_year_children, kept by triggers on loans).
    lent_year: Mapped[int] = mapped_column(default=_lent_year)
    due_at: Mapped[datetime | None]
    renewals: Mapped[int] = mapped_column(default=0)
    returned_at: Mapped[datetime | None]
    return_point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    return_kind: Mapped[str] = mapped_column(String(16), default="")  # normal|implicit|undo|import
    return_event_id: Mapped[str | None] = mapped_column(String(36))
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)
    undone_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(8), default="scan")
    # Condition noted when the loan ends badly: lost / damaged
    outcome: Mapped[str] = mapped_column(String(16), default="")
    # Who lent it: "staff" (a signed-in user, lent_by) or "kiosk" (the self-service kiosk_id).
    channel: Mapped[str] = mapped_column(String(8), default="staff", server_default="staff")
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id"))

    copy: Mapped[Copy | None] = relationship()
    title: Mapped[Title | None] = relationship()
    borrower: Mapped[Borrower | None] = relationship()
    card: Mapped[Card | None] = relationship()
    point: Mapped[Point] = relationship(foreign_keys=[point_id])
    return_point: Mapped[Point | None] = relationship(foreign_keys=[return_point_id])
    lent_by: Mapped[User | None] = relationship(foreign_keys=[lent_by_id])
    returned_by: Mapped[User | None] = relationship(foreign_keys=[returned_by_id])


# The rule that matters most: one open loan per copy, enforced by the database
# (as Evergreen's only_one_concurrent_checkout_per_copy).
Index(
    "uq_loans_one_open_per_copy",
    Loan.copy_id,
    unique=True,
    sqlite_where=text("returned_at IS NULL"),
    postgresql_where=text("returned_at IS NULL"),
)
Index("ix_loans_point_lent_at", Loan.point_id, Loan.lent_at)
# Reports (services/reports/): the columns the counts read, so a year or a month is counted
# from the index alone; returns and late returns by return time; open loans by due date. The
# partial indexes also carry the columns of their own WHERE: SQLite still checks those terms of
# a query, and reads the table for them unless the index has them.
Index("ix_loans_lent_cover", Loan.lent_at, Loan.undone_at, Loan.point_id, Loan.borrower_id,
      Loan.title_id, Loan.lent_by_id)
Index(
    "ix_loans_returned_cover",
    Loan.returned_at, Loan.point_id, Loan.return_point_id, Loan.returned_by_id, Loan.undone_at,
    Loan.source,
    sqlite_where=text("undone_at IS NULL AND source != 'import'"),
    postgresql_where=text("undone_at IS NULL AND source != 'import'"),
)
Index(
    "ix_loans_late",
    Loan.returned_at, Loan.due_at, Loan.point_id, Loan.undone_at,
    sqlite_where=text("undone_at IS NULL AND returned_at > due_at"),
    postgresql_where=text("undone_at IS NULL AND returned_at > due_at"),
)
# Late returns by due date, for "overdue at the end" of a month years back (few late loans were
# due before it; ix_loans_late would walk every late return since). PostgreSQL's planner picks
# between the two by their statistics; SQLite's, without histograms, cannot, so the report tells
# it which by the month's place in the library's history (services.reports.overdue.late_by_due_for).
Index(
    "ix_loans_late_by_due",
    Loan.due_at, Loan.returned_at, Loan.point_id, Loan.undone_at,
    sqlite_where=text("undone_at IS NULL AND returned_at > due_at"),
    postgresql_where=text("undone_at IS NULL AND returned_at > due_at"),
)
Index(
    "ix_loans_visits",
    Loan.lent_day, Loan.point_id, Loan.borrower_id, Loan.lent_at, Loan.undone_at,
    sqlite_where=text("undone_at IS NULL"),
    postgresql_where=text("undone_at IS NULL"),
)
Index(
    "ix_loans_open_due",
    Loan.due_at, Loan.point_id, Loan.returned_at,
    sqlite_where=text("returned_at IS NULL"),
    postgresql_where=text("returned_at IS NULL"),
)


class LoanDay(Base):
    """The counted loans and visits of one local day at one point, kept by the database itself.

    Triggers on ``loans`` (migration 7c1e5a9d3b20) add and take away each counted loan (not
    undone) as it is written, undone, moved or deleted, on every path: scans, imports, demo
    data, the zone change's rewrite of ``lent_day``; a row whose last loan goes is deleted, so
    the table is exactly the sum of the loans. A visit (one child, one point, one day)
    is added by the day's first counted loan of that child there, taken away with its last; a
    loan without a known child is a visit of its own. On PostgreSQL the trigger first locks
    the day's row, so two phones lending to one child at once still make one visit.
    ``services.reports.queries`` reads whole days here (a year is ~7,300 rows instead of a
    distinct count over its loans).

    A SQLite batch migration that rebuilds ``loans`` drops its triggers: create them again
    (``tests/integration/test_loan_days.py`` fails at head without them).
    """

    __tablename__ = "loan_days"
    # not copied by ops.copydb: the target's triggers fill it from the loans copied
    __table_args__ = {"info": {"kept_by_triggers": True}}

    day: Mapped[date] = mapped_column(primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), primary_key=True)
    loans: Mapped[int] = mapped_column(default=0)
    visits: Mapped[int] = mapped_column(default=0)


class LoanYearChild(Base):
    """A child who borrowed at a point in a local year (``loans.lent_year``), with her counted
    loans there, kept by the same triggers as ``LoanDay`` (a row goes with its last loan). The
    annual report's children served: the year's children and (child, point) pairs are rows here,
    not a distinct count over the year's loans (``services.annual_figures``)."""

    __tablename__ = "loan_year_children"
    __table_args__ = {"info": {"kept_by_triggers": True}}

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), primary_key=True, autoincrement=False)
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"), primary_key=True, autoincrement=False)
    loans: Mapped[int] = mapped_column(default=0)


class LoanRenewal(Base):
    """One renewal (续借) of a loan: when, and the due date before and after it.

    ``loans.due_at`` holds only the latest due date; a month's "overdue at the end" needs the
    due date in force at that moment, which a later renewal of an overdue book would otherwise
    rewrite (a printed October report must still say the same in December)."""

    __tablename__ = "loan_renewals"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    renewed_at: Mapped[datetime]  # when it happened (the device's time, for an offline renewal)
    due_before: Mapped[datetime | None]
    due_after: Mapped[datetime]
    renewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event_id: Mapped[str | None] = mapped_column(String(36))

    loan: Mapped[Loan] = relationship()


# Overdue at a moment T (services/reports/overdue.py): renewals after T of loans already overdue at T,
# which can only be renewals of an overdue loan (due date before the renewal): few of them.
Index(
    "ix_loan_renewals_late",
    LoanRenewal.renewed_at, LoanRenewal.due_before, LoanRenewal.loan_id,
    sqlite_where=text("due_before < renewed_at"),
    postgresql_where=text("due_before < renewed_at"),
)


class CirculationEvent(Base):
    """A loan/return/renew as the client sent it; its UUID is unique, so retries apply once."""

    __tablename__ = "circulation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(8))
    payload_hash: Mapped[str] = mapped_column(String(64))
    copy_code: Mapped[str] = mapped_column(String(64), default="")
    card_code: Mapped[str] = mapped_column(String(64), default="")
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    occurred_at: Mapped[datetime]  # the device's time
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    undone_at: Mapped[datetime | None]
    # Sent by a signed-in user ("staff", actor) or a self-service kiosk ("kiosk", kiosk_id).
    channel: Mapped[str] = mapped_column(String(8), default="staff", server_default="staff")
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id"), index=True)

    loan: Mapped[Loan | None] = relationship()
    point: Mapped[Point | None] = relationship()
    actor: Mapped[User | None] = relationship()


class ReviewItem(Base):
    """Something applied where safe that a librarian should look at (Evergreen's exceptions)."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str] = mapped_column(Text, default="")

    loan: Mapped[Loan | None] = relationship()
    point: Mapped[Point | None] = relationship()
