"""The SQL the reports share: which loans count, bucketing by month or day edges, visits per
local day, paper tallies, and the lookups (points, year targets) every report makes.

Month and year boundaries are computed in Python as UTC instants in the organisation's time
zone; rows are bucketed by comparing ``lent_at`` with those instants (a CASE over the edges),
so the same SQL is exact on SQLite (naive UTC text) and PostgreSQL (timestamptz) and no
per-row time zone conversion is needed for loans. Visits need the local day of each loan: it
is stored with the loan (``loans.lent_day``, written in the organisation's zone and rewritten
if the zone changes). Whole days' loans and visits per point are kept by the database in
``loan_days`` (``models.LoanDay``); a day cut by an instant is counted from the loans
(ix_loans_visits: day, point, child).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from library_app.domain import reports as rules
from library_app.domain.reports import Month
from library_app.domain.settings import LibrarySettings
from library_app.models import Loan, LoanDay, MonthlyTally, Point, YearTarget

from ..errors import NotFound


def counted() -> ColumnElement[bool]:
    """Loans that count: not undone (renewals and returns never make rows of their own)."""
    return Loan.undone_at.is_(None)


def in_range(col: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return and_(col >= start, col < end)


def bucket(col: Any, edges: Sequence[Any]) -> Any:
    """0 … len(edges)-2: which [edges[i], edges[i+1]) range ``col`` falls in (rows are
    already limited to [edges[0], edges[-1])). A balanced tree of CASEs: about four
    comparisons a row for twelve months, instead of up to eleven."""
    def pick(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return literal_column(str(lo))
        mid = (lo + hi) // 2
        return case((col < edges[mid], pick(lo, mid)), else_=pick(mid, hi))

    return pick(0, len(edges) - 1)


def returned() -> list[ColumnElement[bool]]:
    """Returns that count (normal and implicit; not undone loans, not imports). Written as
    literals so that both databases use the partial index ix_loans_returned_cover."""
    return [Loan.undone_at.is_(None), Loan.source != literal_column("'import'")]


def all_points(session: Session) -> dict[int, Point]:
    return {p.id: p for p in session.scalars(select(Point).order_by(Point.code))}


def point_by_code(session: Session, code: str | None) -> Point | None:
    if not code:
        return None
    point = session.scalar(select(Point).where(Point.code == code.strip().upper()))
    if point is None:
        raise NotFound(f"没有编号为 {code.strip()} 的阅读点。")
    return point


def year_target(session: Session, year: int, settings: LibrarySettings) -> int:
    row = session.get(YearTarget, year)
    return row.target if row is not None else settings.default_year_target


def paper_tallies(session: Session, months: list[Month], point_id: int | None = None) -> dict[tuple[str, int], int]:
    wanted = [str(m) for m in months]
    stmt = select(MonthlyTally.month, MonthlyTally.point_id, MonthlyTally.loans).where(
        MonthlyTally.month.in_(wanted))
    if point_id is not None:
        stmt = stmt.where(MonthlyTally.point_id == point_id)
    return {(m, p): n for m, p, n in session.execute(stmt)}


def counts_by_bucket(
    session: Session, edges: list[datetime], metric: str, tz: ZoneInfo, point_id: int | None = None,
) -> dict[tuple[int, int], int]:
    """{(bucket index, point id): count} for counted loans (or visits) in [edges[0], edges[-1]).
    The edges are local midnights (month and day starts)."""
    start, end = edges[0], edges[-1]
    where = [in_range(Loan.lent_at, start, end), counted()]
    if point_id is not None:
        where.append(Loan.point_id == point_id)
    if metric == "visits":
        # per local day and point, then into the buckets (whose edges are local midnights)
        days = [rules.local_day(e, tz) for e in edges]
        by_bucket: dict[tuple[int, int], int] = {}
        for (day, p), n in visit_counts(session, start, end, tz, point_id).items():
            key = (max(bisect_right(days, day) - 1, 0), p)
            by_bucket[key] = by_bucket.get(key, 0) + n
        return by_bucket
    stmt = select(bucket(Loan.lent_at, edges).label("b"), Loan.point_id, func.count()).where(
        *where).group_by(text("b"), Loan.point_id)
    return {(int(b), int(p)): int(n) for b, p, n in session.execute(stmt)}


def visits_by_day(first: Any, last: Any, point_id: Any = None) -> Any:
    """(local day, point, visits) for the whole local days ``first`` … ``last`` (at point
    ``point_id``, a value or a bind parameter, unless None), from ``loan_days``."""
    point = [LoanDay.point_id == point_id] if point_id is not None else []
    return (select(LoanDay.day.label("day"), LoanDay.point_id.label("p"), LoanDay.visits.label("n"))
            .where(LoanDay.day >= first, LoanDay.day <= last, LoanDay.visits > 0, *point))


def loans_and_visits_by_bucket(
    session: Session, days: list[date], point_id: int | None = None,
) -> dict[tuple[int, int], tuple[int, int]]:
    """{(bucket index, point id): (loans, visits)} for the whole local days [days[0], days[-1]),
    bucketed by the local days ``days`` (month starts, say): the ``loan_days`` rows of those
    days, summed. The same figures as ``counts_by_bucket`` for "loans" and "visits" with the
    local midnights of ``days`` as edges (``lent_day`` is the local day of ``lent_at``)."""
    point = [LoanDay.point_id == point_id] if point_id is not None else []
    stmt = (select(bucket(LoanDay.day, days).label("b"), LoanDay.point_id,
                   func.sum(LoanDay.loans), func.sum(LoanDay.visits))
            .where(LoanDay.day >= days[0], LoanDay.day < days[-1], *point)
            .group_by(text("b"), LoanDay.point_id).having(func.sum(LoanDay.loans) > 0))
    return {(int(b), int(p)): (int(n), int(v)) for b, p, n, v in session.execute(stmt)}


def _whole_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[tuple[date, date] | None, set[date]]:
    """[start, end) as its whole local days (first, last; None if there are none), which lie in
    it from midnight to midnight, and the days it cuts (at most the first and the last)."""
    first_day = rules.local_day(start, tz)
    last_day = rules.local_day(end - timedelta(microseconds=1), tz)
    one_day = timedelta(days=1)
    whole_from = first_day if rules.local_midnight(first_day, tz) == start else first_day + one_day
    whole_to = last_day if rules.local_midnight(last_day + one_day, tz) == end else last_day - one_day
    if whole_from > whole_to:
        return None, {first_day, last_day}
    return (whole_from, whole_to), {first_day, last_day} - {whole_from, whole_to}


def loan_count(session: Session, start: datetime, end: datetime, tz: ZoneInfo, point_id: int | None = None) -> int:
    """Counted loans lent in [start, end): whole local days summed from ``loan_days``, a day cut
    by ``start`` or ``end`` counted from its loans (ix_loans_visits holds lent_day and lent_at)."""
    if end <= start:
        return 0
    whole, cut = _whole_days(start, end, tz)
    parts: list[Any] = []
    if whole is not None:
        parts.append(select(func.coalesce(func.sum(LoanDay.loans), 0)).where(
            LoanDay.day >= whole[0], LoanDay.day <= whole[1],
            *([LoanDay.point_id == point_id] if point_id is not None else [])).scalar_subquery())
    for day in cut:
        parts.append(select(func.count()).select_from(Loan).where(
            Loan.lent_day == day, in_range(Loan.lent_at, start, end), counted(),
            *([Loan.point_id == point_id] if point_id is not None else [])).scalar_subquery())
    row = session.execute(select(*[part.label(f"n{i}") for i, part in enumerate(parts)])).one()
    return sum(int(n or 0) for n in row)


def visit_counts(
    session: Session, start: datetime, end: datetime, tz: ZoneInfo, point_id: int | None = None,
) -> dict[tuple[date, int], int]:
    """{(local day, point id): visits} for the visits (one child, one point, one local day)
    whose first loan is in [start, end).

    Whole days are read from ``loan_days`` (the database keeps each day's visits per point). A
    day cut by ``start`` or ``end`` (not a local midnight) is counted exactly from its loans,
    by the time of each visit's first loan (ix_loans_visits)."""
    if end <= start:
        return {}
    whole, cut = _whole_days(start, end, tz)
    counts: dict[tuple[date, int], int] = {}
    point = [Loan.point_id == point_id] if point_id is not None else []
    if whole is not None:
        counts = {(d, int(p)): int(n) for d, p, n in session.execute(visits_by_day(*whole, point_id))}
    for day in cut:
        visits = (select(Loan.point_id.label("p"), func.min(Loan.lent_at).label("first"))
                  .where(Loan.lent_day == day, counted(), *point)
                  .group_by(Loan.point_id, func.coalesce(Loan.borrower_id, -Loan.id)).subquery())
        for p, n in session.execute(select(visits.c.p, func.count()).where(
                visits.c.first >= start, visits.c.first < end).group_by(visits.c.p)):
            counts[(day, int(p))] = counts.get((day, int(p)), 0) + int(n)
    return counts


def recompute_lent_days(session: Session, tz: ZoneInfo) -> int:
    """Rewrite every loan's local day and its year for the time zone ``tz`` (after the
    organisation's zone changes); returns how many loans there are. Flushes only."""
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(text("UPDATE loans SET lent_day = (lent_at AT TIME ZONE :tz)::date, "
                                      "lent_year = EXTRACT(YEAR FROM lent_at AT TIME ZONE :tz)"),
                                 {"tz": tz.key})
        return int(getattr(result, "rowcount", 0) or 0)
    count = 0
    last = 0
    while True:
        rows = session.execute(select(Loan.id, Loan.lent_at).where(Loan.id > last).order_by(Loan.id)
                               .limit(5000)).all()
        if not rows:
            return count
        loans = cast(Table, Loan.__table__)
        session.connection().execute(  # Core executemany: one statement, many rows
            update(loans).where(loans.c.id == bindparam("b_id")).values(
                lent_day=bindparam("b_day"), lent_year=bindparam("b_year")),
            [{"b_id": i, "b_day": day, "b_year": day.year}
             for i, day in ((i, rules.local_day(at, tz)) for i, at in rows)])
        count += len(rows)
        last = rows[-1][0]
