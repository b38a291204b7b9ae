"""Loans overdue at a moment (the month report's "overdue at the month's end"), counted from
small partial indexes, and the planner hint SQLite needs to pick the cheaper of two of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from library_app.models import Loan, LoanRenewal

#: the parts of "overdue at a moment", as ``overdue_parts`` names them
OVERDUE_PARTS = ("still_open", "returned_later", "renewed_later")

class _Unindexed(FunctionElement[Any]):
    """A column's value that SQLite's planner will not use an index for: ``+col`` there (how
    SQLite's documentation says to steer it), the plain column elsewhere."""

    inherit_cache = True
    name = "unindexed"

    def __init__(self, col: Any) -> None:
        super().__init__(col)
        self.type = col.type  # compared with (and binds its parameters as) the column


@compiles(_Unindexed)
def _plain(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_Unindexed, "sqlite")
def _plus(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))


def overdue_parts(at: Any, by_point: list[Any], late_by_due: bool | None = None) -> dict[str, Any]:
    """Three scalar subqueries, by name, whose sum is the number of loans out at ``at`` whose due date
    (the one in force then) had passed: those still open now, those returned only after
    ``at``, and those renewed only after ``at``. Due dates always come after the loan, so a
    loan due before ``at`` was lent before it; a loan renewed after ``at`` was still out then,
    and its due date at ``at`` is the one its first renewal after ``at`` replaced (which, if
    it had passed, no later renewal's can have: each comes after the renewal before it). The
    first two read the loans' latest due date, which a renewal after ``at`` puts after ``at``,
    so no loan is counted twice. Each reads a small partial index.

    Late returns are loans whose [due date, return) holds ``at``: by return time
    (ix_loans_late) there are as many to read as late returns since ``at``, by due date
    (ix_loans_late_by_due) as many as were due before it. PostgreSQL picks by its statistics;
    for SQLite ``late_by_due`` says which (``late_by_due_for``), None leaves it to the planner."""
    returned_at: Any = Loan.returned_at
    due_at: Any = Loan.due_at
    if late_by_due is True:
        returned_at = _Unindexed(returned_at)
    elif late_by_due is False:
        due_at = _Unindexed(due_at)
    return {
        "still_open": select(func.count()).select_from(Loan).where(
            Loan.returned_at.is_(None), Loan.due_at < at, *by_point).scalar_subquery(),
        "returned_later": select(func.count()).select_from(Loan).where(
            Loan.undone_at.is_(None), Loan.returned_at > Loan.due_at, returned_at >= at,
            due_at < at, *by_point).scalar_subquery(),
        # As a semi-join: PostgreSQL plans the join form for a month years back with a parallel
        # worker (misjudging the rows that have both dates on either side of ``at``), which
        # costs ~4 ms to start for ~20 rows.
        "renewed_later": select(func.count()).select_from(Loan).where(Loan.id.in_(
            select(LoanRenewal.loan_id).where(
                LoanRenewal.due_before < LoanRenewal.renewed_at,  # ix_loan_renewals_late's WHERE
                LoanRenewal.renewed_at >= at, LoanRenewal.due_before < at)),
            Loan.undone_at.is_(None), *by_point).scalar_subquery(),
    }


def late_by_due_for(session: Session, moments: list[datetime], now: datetime) -> tuple[bool | None, ...]:
    """For each moment, on SQLite: whether fewer late returns were due before it than came back
    after it, judged by its place between the first loan and now (loans, and late returns,
    spread over the library's life). Only the speed depends on it, never the count."""
    if session.get_bind().dialect.name != "sqlite":
        return tuple(None for _ in moments)
    first = session.scalar(select(func.min(Loan.lent_at)))
    if first is None:
        return tuple(None for _ in moments)
    last = max(now, *moments)
    return tuple(at - first < last - at for at in moments)


def overdue_at(session: Session, at: datetime, point_id: int | None = None,
               late_by_due: bool | None = None) -> int:
    """Loans out at ``at`` whose due date had passed (see ``overdue_parts``)."""
    by_point = [Loan.point_id == point_id] if point_id is not None else []
    parts = overdue_parts(at, by_point, late_by_due)
    row = session.execute(select(*(q.label(name) for name, q in parts.items()))).mappings().one()
    return sum(int(row[name] or 0) for name in parts)


