"""Reports: the year against its target and the monthly report, counted in SQL.

The counting rules live in ``domain/reports.py`` (and a plain-Python version of them there,
which tests compare with these queries). Here they become SQL that stays fast on a million
loans:

- Month and year boundaries are computed in Python as UTC instants in the organisation's time
  zone; rows are bucketed by comparing ``lent_at`` with those instants (a CASE over 12 edges),
  so the same SQL is exact on SQLite (naive UTC text) and PostgreSQL (timestamptz) and no
  per-row time zone conversion is needed for loans.
- Visits need the local day of each loan: it is stored with the loan (``loans.lent_day``,
  written in the organisation's zone and rewritten if the zone changes), so a visit is a run
  of the index ix_loans_visits.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    distinct,
    func,
    literal_column,
    null,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from library_app.domain import reports as rules
from library_app.domain.reports import Change, Month, YearProgress
from library_app.domain.settings import LibrarySettings
from library_app.models import (
    Borrower,
    Loan,
    LoanRenewal,
    MonthlyTally,
    Point,
    Title,
    User,
    YearTarget,
)

from . import audit
from .errors import Invalid, NotFound
from .parallel_reads import ParallelReads

NO_VALUE = "未填"
TOP_TITLES = 10


# ---------------------------------------------------------------- SQL helpers


def _counted() -> ColumnElement[bool]:
    """Loans that count: not undone (renewals and returns never make rows of their own)."""
    return Loan.undone_at.is_(None)


def _in_range(col: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return and_(col >= start, col < end)


def _bucket(col: Any, edges: list[datetime]) -> Any:
    """0 … len(edges)-2: which [edges[i], edges[i+1]) range ``col`` falls in (rows are
    already limited to [edges[0], edges[-1])). A balanced tree of CASEs: about four
    comparisons a row for twelve months, instead of up to eleven."""
    def pick(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return literal_column(str(lo))
        mid = (lo + hi) // 2
        return case((col < edges[mid], pick(lo, mid)), else_=pick(mid, hi))

    return pick(0, len(edges) - 1)


def _returned() -> list[ColumnElement[bool]]:
    """Returns that count (normal and implicit; not undone loans, not imports). Written as
    literals so that both databases use the partial index ix_loans_returned_cover."""
    return [Loan.undone_at.is_(None), Loan.source != literal_column("'import'")]


def _points(session: Session) -> dict[int, Point]:
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


def _tallies(session: Session, months: list[Month], point_id: int | None = None) -> dict[tuple[str, int], int]:
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
    where = [_in_range(Loan.lent_at, start, end), _counted()]
    if point_id is not None:
        where.append(Loan.point_id == point_id)
    if metric == "visits":
        # per local day and point, then into the buckets (whose edges are local midnights)
        days = [rules.local_day(e, tz) for e in edges]
        by_bucket: dict[tuple[int, int], int] = {}
        for (day, p), n in _visit_counts(session, start, end, tz, point_id).items():
            key = (max(bisect_right(days, day) - 1, 0), p)
            by_bucket[key] = by_bucket.get(key, 0) + n
        return by_bucket
    stmt = select(_bucket(Loan.lent_at, edges).label("b"), Loan.point_id, func.count()).where(
        *where).group_by(text("b"), Loan.point_id)
    return {(int(b), int(p)): int(n) for b, p, n in session.execute(stmt)}


def _visits_by_day(first: Any, last: Any, point: list[Any]) -> Any:
    """(local day, point, visits) for the whole local days ``first`` … ``last``: per day and
    point the distinct children plus the loans without a known child (each a visit of its
    own), read from ix_loans_visits in its own order."""
    return (select(Loan.lent_day.label("day"), Loan.point_id.label("p"),
                   (func.count(distinct(Loan.borrower_id))
                    + func.sum(case((Loan.borrower_id.is_(None), 1), else_=0))).label("n"))
            .where(Loan.lent_day >= first, Loan.lent_day <= last, _counted(), *point)
            .group_by(Loan.lent_day, Loan.point_id))


def _visit_counts(
    session: Session, start: datetime, end: datetime, tz: ZoneInfo, point_id: int | None = None,
) -> dict[tuple[date, int], int]:
    """{(local day, point id): visits} for the visits (one child, one point, one local day)
    whose first loan is in [start, end).

    ``loans.lent_day`` holds each loan's local day, so whole days are counted from the index
    ix_loans_visits (day, point, child …) in its own order: per day and point, the distinct
    children plus the loans without a known child (each a visit of its own). A grouping by an
    expression of lent_at had to sort the year's loans instead (450 ms on SQLite for a year of
    a million-loan library; this is ~25 ms). A day cut by ``start`` or ``end`` (not a local
    midnight) is counted exactly, by the time of each visit's first loan."""
    first_day = rules.local_day(start, tz)
    last_day = rules.local_day(end - timedelta(microseconds=1), tz)
    if last_day < first_day:
        return {}
    one_day = timedelta(days=1)
    whole_from = first_day if rules.local_midnight(first_day, tz) == start else first_day + one_day
    whole_to = last_day if rules.local_midnight(last_day + one_day, tz) == end else last_day - one_day
    counts: dict[tuple[date, int], int] = {}
    point = [Loan.point_id == point_id] if point_id is not None else []
    if whole_from <= whole_to:
        stmt = _visits_by_day(whole_from, whole_to, point)
        counts = {(d, int(p)): int(n) for d, p, n in session.execute(stmt)}
    for day in {first_day, last_day} - ({whole_from, whole_to} if whole_from <= whole_to else set()):
        visits = (select(Loan.point_id.label("p"), func.min(Loan.lent_at).label("first"))
                  .where(Loan.lent_day == day, _counted(), *point)
                  .group_by(Loan.point_id, func.coalesce(Loan.borrower_id, -Loan.id)).subquery())
        for p, n in session.execute(select(visits.c.p, func.count()).where(
                visits.c.first >= start, visits.c.first < end).group_by(visits.c.p)):
            counts[(day, int(p))] = counts.get((day, int(p)), 0) + int(n)
    return counts


def recompute_lent_days(session: Session, tz: ZoneInfo) -> int:
    """Rewrite every loan's local day for the time zone ``tz`` (after the organisation's zone
    changes); returns how many loans there are. Flushes only."""
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(text("UPDATE loans SET lent_day = (lent_at AT TIME ZONE :tz)::date"),
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
            update(loans).where(loans.c.id == bindparam("b_id")).values(lent_day=bindparam("b_day")),
            [{"b_id": i, "b_day": rules.local_day(at, tz)} for i, at in rows])
        count += len(rows)
        last = rows[-1][0]


def count_between(
    session: Session, start: datetime, end: datetime, metric: str, tz: ZoneInfo,
    point_id: int | None = None,
) -> int:
    """The count in [start, end): for loans a plain count over the covering index."""
    if metric == "visits":
        return sum(counts_by_bucket(session, [start, end], metric, tz, point_id).values())
    where = [_in_range(Loan.lent_at, start, end), _counted()]
    if point_id is not None:
        where.append(Loan.point_id == point_id)
    return session.scalar(select(func.count()).select_from(Loan).where(*where)) or 0


# ---------------------------------------------------------------- the year


@dataclass
class MonthCount:
    month: Month
    count: int      # system count + paper tally
    tally: int      # of which from paper tallies
    target: int     # the month's share of the year's target


@dataclass
class PointCount:
    code: str
    name: str
    count: int
    tally: int


@dataclass
class YearReport:
    year: int
    metric: str
    progress: YearProgress
    months: list[MonthCount]
    points: list[PointCount]
    tallies: int
    same_date_last_year: int
    last_year_total: int
    last_year_cutoff: datetime
    target_is_default: bool

    def as_json(self) -> dict[str, Any]:
        p = self.progress
        return {
            "year": self.year, "target": p.target, "metric": self.metric, "count": p.count,
            "percent": p.percent, "expected_to_date": p.expected_to_date, "forecast": p.forecast,
            "remaining": p.remaining, "months_left": p.months_left,
            "needed_per_month": p.needed_per_month, "tallies": self.tallies,
            "same_date_last_year": self.same_date_last_year,
            "last_year_total": self.last_year_total,
            "months": [{"month": str(m.month), "count": m.count, "tally": m.tally,
                        "target": m.target} for m in self.months],
            "points": [{"code": pc.code, "name": pc.name, "count": pc.count, "tally": pc.tally}
                       for pc in self.points],
        }


def _year_counts(
    session: Session, year: int, metric: str, tz: ZoneInfo, point_id: int | None = None,
    tallies: dict[tuple[str, int], int] | None = None,
) -> tuple[list[int], dict[int, int], list[int], dict[int, int]]:
    """Per month and per point: system counts and paper tallies (``tallies`` if already read)."""
    edges = rules.year_month_edges(year, tz)
    by_bucket = counts_by_bucket(session, edges, metric, tz, point_id)
    months = [0] * 12
    points: dict[int, int] = {}
    for (b, p), n in by_bucket.items():
        months[b] += n
        points[p] = points.get(p, 0) + n
    month_list = [Month(year, m) for m in range(1, 13)]
    tally_months = [0] * 12
    tally_points: dict[int, int] = {}
    if tallies is None:
        tallies = _tallies(session, month_list, point_id)
    for (m, p), n in tallies.items():
        if not m.startswith(f"{year:04d}-"):
            continue
        tally_months[int(m[5:7]) - 1] += n
        tally_points[p] = tally_points.get(p, 0) + n
    return months, points, tally_months, tally_points


def _last_year_counts(
    session: Session, start: datetime, cutoff: datetime, end: datetime, metric: str, tz: ZoneInfo,
) -> tuple[int, int]:
    """(count up to ``cutoff``, whole year's count) for last year: two plain counts over the
    covering index in one statement for loans; visits need their own distinct passes."""
    if metric == "visits":  # a visit counts before the cutoff if its first loan came before it
        before = sum(_visit_counts(session, start, cutoff, tz).values()) if cutoff > start else 0
        return before, sum(_visit_counts(session, start, end, tz).values())

    def counted(a: datetime, b: datetime) -> Any:
        return select(func.count()).select_from(Loan).where(
            _in_range(Loan.lent_at, a, b), _counted()).scalar_subquery()

    before, after = session.execute(select(counted(start, cutoff), counted(cutoff, end))).one()
    return int(before or 0), int(before or 0) + int(after or 0)


def year_report(session: Session, now: datetime, year: int, settings: LibrarySettings) -> YearReport:
    """The calendar year's count (system + paper tallies) against its target, by month and point,
    with the pace, a forecast and the same date last year."""
    tz = ZoneInfo(settings.timezone)
    metric = settings.count_metric
    target_row = session.get(YearTarget, year)
    target = target_row.target if target_row is not None else settings.default_year_target
    ly_months = [Month(year - 1, m) for m in range(1, 13)]
    tallies = _tallies(session, [Month(year, m) for m in range(1, 13)] + ly_months)
    months, points, tally_months, tally_points = _year_counts(session, year, metric, tz, tallies=tallies)
    count = sum(months) + sum(tally_months)
    progress = rules.year_progress(year, target, count, now, tz)
    shares = rules.monthly_targets(year, target)
    month_rows = [
        MonthCount(Month(year, i + 1), months[i] + tally_months[i], tally_months[i], shares[i])
        for i in range(12)
    ]
    all_points = _points(session)
    point_rows = []
    for pid, point in all_points.items():
        n, t = points.get(pid, 0), tally_points.get(pid, 0)
        if n or t or point.active:
            point_rows.append(PointCount(point.code, point.name, n + t, t))

    # The same date last year: the system count up to the same local moment, plus paper
    # tallies, the cutoff month's tally taken in proportion to the time gone.
    ly_start, ly_end = rules.year_bounds(year - 1, tz)
    cutoff = min(rules.same_moment_last_year(now, tz), ly_end) if progress.state == "current" else (
        ly_end if progress.state == "past" else ly_start)
    same_date, last_total = _last_year_counts(session, ly_start, cutoff, ly_end, metric, tz)
    ly_tallies = {k: n for k, n in tallies.items() if k[0].startswith(f"{year - 1:04d}-")}
    for (m, _p), n in ly_tallies.items():
        m_start, m_end = rules.month_bounds(rules.parse_month(m), tz)
        same_date += rules.prorated(n, m_start, m_end, cutoff)
    last_total += sum(ly_tallies.values())
    return YearReport(
        year=year, metric=metric, progress=progress, months=month_rows, points=point_rows,
        tallies=sum(tally_months), same_date_last_year=same_date, last_year_total=last_total,
        last_year_cutoff=cutoff, target_is_default=target_row is None,
    )


# ---------------------------------------------------------------- the month


@dataclass
class MonthFigures:
    month: Month
    loans: int = 0
    visits: int = 0
    returns: int = 0
    distinct_borrowers: int = 0
    new_borrowers: int = 0
    overdue_at_end: int = 0
    tally: int = 0
    metric: str = "loans"
    points: dict[int, tuple[int, int]] = field(default_factory=dict)  # point id → (loans, visits)
    point_tallies: dict[int, int] = field(default_factory=dict)
    lent_by: dict[int, int] = field(default_factory=dict)  # account id → loans (the report's month)
    returned_by: dict[int, int] = field(default_factory=dict)  # account id → returns (same)

    @property
    def count(self) -> int:
        return (self.visits if self.metric == "visits" else self.loans) + self.tally


@dataclass
class Row:
    label: str
    loans: int


@dataclass
class StaffRow:
    name: str
    role: str
    loans: int
    returns: int


@dataclass
class PointRow:
    code: str
    name: str
    loans: int
    visits: int
    tally: int
    previous: int
    last_year: int


@dataclass
class MonthReport:
    month: Month
    metric: str
    point: Point | None
    as_of: datetime            # overdue counted at this instant (month end, or now)
    state: str                 # past | current | future
    figures: MonthFigures
    previous: MonthFigures
    last_year: MonthFigures
    points: list[PointRow]
    age_bands: list[Row]
    categories: list[Row]
    top_titles: list[Row]
    staff: list[StaffRow] | None   # None when the reader may not see people

    def change(self, name: str, against: str) -> Change:
        other = self.previous if against == "previous" else self.last_year
        return Change(getattr(self.figures, name), getattr(other, name))

    def as_json(self) -> dict[str, Any]:
        def figures(f: MonthFigures) -> dict[str, Any]:
            # visits are counted only when they are the metric (they cost a pass of their own)
            return {"month": str(f.month), "count": f.count, "loans": f.loans,
                    "visits": f.visits if self.metric == "visits" else None,
                    "returns": f.returns, "distinct_borrowers": f.distinct_borrowers,
                    "new_borrowers": f.new_borrowers, "overdue_at_end": f.overdue_at_end,
                    "tally": f.tally}

        body = figures(self.figures)
        body.update({
            "metric": self.metric,
            "point": self.point.code if self.point is not None else None,
            "as_of": self.as_of.isoformat(),
            "points": [{"code": p.code, "name": p.name, "loans": p.loans,
                        "visits": p.visits if self.metric == "visits" else None,
                        "tally": p.tally} for p in self.points],
            "age_bands": [{"age_band": r.label, "loans": r.loans} for r in self.age_bands],
            "categories": [{"category": r.label, "loans": r.loans} for r in self.categories],
            "top_titles": [{"title": r.label, "loans": r.loans} for r in self.top_titles],
            "previous": figures(self.previous),
            "last_year": figures(self.last_year),
        })
        if self.staff is not None:
            body["staff"] = [{"name": s.name, "role": s.role, "loans": s.loans, "returns": s.returns}
                             for s in self.staff]
        return body


def _point_key() -> Any:
    """``point_id + 0``: the same value, but SQLite then counts from the covering index
    instead of walking ix_loans_point_lent_at for its order (and reading every row)."""
    return (Loan.point_id + literal_column("0")).label("p")


@lru_cache(maxsize=32)
def _month_statement(live: tuple[int, ...], by_point: bool, accounts: bool,
                     late_by_due: tuple[bool | None, ...], visits: bool = False) -> Any:
    """The statement of ``_month_figures`` for these months (indexes into its list) with or
    without a point filter, built once: the months' bounds, the instants at which overdue
    loans are counted and the point are parameters (``s0``, ``e0``, ``at0`` …, ``pid``).
    Building and keying these SQL expressions anew cost a few ms a report.

    Its rows are the loans per point for each month (a UNION ALL of one index range per
    month; with ``accounts`` the first month grouped by account too, so the per-story-mother
    loans come from the same pass, and that month's returns per account, ``b`` = -1, which
    also give its count of returns; with ``visits`` each month's visits per point, ``b`` = 100 +
    the month, counted per local day as ``_visit_counts`` does for whole days), each also
    carrying every other figure as scalar subqueries, the same number for each month, each on
    its own index: distinct borrowers, returns (normal and implicit, at the point), new
    borrowers, and the parts of "overdue at the month's end" (``_overdue_at``; ``late_by_due``:
    for each month, which index SQLite reads its late returns from)."""
    pid: Any = bindparam("pid")
    point = [Loan.point_id == pid] if by_point else []
    back_point = [func.coalesce(Loan.return_point_id, Loan.point_id) == pid] if by_point else []
    new = [Borrower.home_point_id == pid] if by_point else []

    def lent(i: int) -> list[Any]:
        return [_in_range(Loan.lent_at, bindparam(f"s{i}"), bindparam(f"e{i}")), _counted(), *point]

    def by_account(i: int) -> bool:
        return accounts and i == 0

    parts = [select(literal_column(str(i)).label("b"), _point_key(),
                    (Loan.lent_by_id if by_account(i) else literal_column("NULL")).label("u"),
                    func.count().label("n"))
             .where(*lent(i)).group_by(*((text("p"), Loan.lent_by_id) if by_account(i) else (text("p"),)))
             for i in live]
    if visits:  # visits per point (b = 100 + the month): per local day and point, then summed
        for i in live:
            per_day = _visits_by_day(bindparam(f"da{i}"), bindparam(f"db{i}"), point).subquery(f"days{i}")
            parts.append(select(literal_column(str(100 + i)), per_day.c.p, literal_column("NULL"),
                                func.sum(per_day.c.n)).group_by(per_day.c.p))
    if accounts and 0 in live:  # the first month's returns per account (b = -1), u NULL: unknown
        parts.append(select(literal_column("-1"), literal_column("NULL"), Loan.returned_by_id, func.count())
                     .where(_in_range(Loan.returned_at, bindparam("s0"), bindparam("e0")), *_returned(),
                            *back_point)
                     .group_by(Loan.returned_by_id))
    per_point = parts[0] if len(parts) == 1 else union_all(*parts)
    columns = []
    for k, i in enumerate(live):
        start: Any = bindparam(f"s{i}")
        end: Any = bindparam(f"e{i}")
        columns += [
            select(func.count(distinct(Loan.borrower_id))).where(*lent(i)).scalar_subquery(),
            null() if by_account(i) else select(func.count()).select_from(Loan).where(
                _in_range(Loan.returned_at, start, end), *_returned(), *back_point).scalar_subquery(),
            select(func.count()).select_from(Borrower).where(
                _in_range(Borrower.created_at, start, end), *new).scalar_subquery(),
            *_overdue_at(bindparam(f"at{i}"), point, late_by_due[k]),
        ]
    # One statement: the per-point rows, each carrying the other figures (uncorrelated scalar
    # subqueries, computed once), joined to a one-row anchor so they come back with no loans too.
    rows = per_point.subquery("per_point")
    anchor = select(literal_column("1").label("one")).subquery("anchor")
    return select(rows.c.b, rows.c.p, rows.c.u, rows.c.n, *columns).select_from(
        anchor.outerjoin(rows, true()))


def _month_figures(
    session: Session, months: list[Month], now: datetime, tz: ZoneInfo, metric: str,
    point_id: int | None, accounts: bool = False,
) -> list[MonthFigures]:
    """The headline figures of some months in one statement (``_month_statement``); with
    ``accounts`` the first month's loans per account too (``MonthFigures.lent_by``).
    Visits (one child, one point, one local day) only when they are the organisation's metric.
    Paper tallies are not read here (``_tallies``, ``_add_tallies``)."""
    figures = [MonthFigures(month=m, metric=metric) for m in months]
    live = []
    for i, f in enumerate(figures):
        start, end = rules.month_bounds(f.month, tz)
        if start <= now:
            live.append((i, start, end, min(end, now)))
    if not live:
        return figures
    stmt = _month_statement(tuple(i for i, *_ in live), point_id is not None, accounts,
                            _late_by_due(session, [at for *_, at in live], now), metric == "visits")
    params: dict[str, Any] = {"pid": point_id}
    for i, start, end, at in live:  # months start and end at local midnights: whole days
        params.update({f"s{i}": start, f"e{i}": end, f"at{i}": at, f"da{i}": rules.local_day(start, tz),
                       f"db{i}": rules.local_day(end - timedelta(microseconds=1), tz)})
    loans: dict[int, dict[int, int]] = {i: {} for i, *_ in live}
    result = session.execute(stmt, params).all()
    returns: dict[int | None, int] = {}
    visits: dict[int, dict[int, int]] = {i: {} for i, *_ in live}
    for b, p, u, n, *_others in result:
        if b is None:  # no loans at all in these months: the anchor's row
            continue
        if int(b) == -1:
            returns[u] = int(n)
            continue
        if int(b) >= 100:
            visits[int(b) - 100][int(p)] = int(n)
            continue
        counts = loans[int(b)]
        counts[int(p)] = counts.get(int(p), 0) + int(n)
        if accounts and int(b) == 0 and u is not None:
            figures[0].lent_by[int(u)] = figures[0].lent_by.get(int(u), 0) + int(n)
    row = result[0][4:]
    per_month = len(row) // len(live)  # the month's scalar figures, in _month_statement's order
    for k, (i, *_bounds) in enumerate(live):
        f = figures[i]
        distinct_borrowers, returned, joined, *overdue = row[k * per_month:(k + 1) * per_month]
        f.points = {p: (n, visits[i].get(p, 0)) for p, n in loans[i].items()}
        f.loans = sum(loans[i].values())
        f.visits = sum(visits[i].values())
        f.distinct_borrowers = int(distinct_borrowers or 0)
        f.returns = int(returned or 0)  # (the accounts month: from its per-account rows, below)
        f.new_borrowers = int(joined or 0)
        f.overdue_at_end = sum(int(n or 0) for n in overdue)
    if accounts and live and live[0][0] == 0:
        figures[0].returns = sum(returns.values())
        figures[0].returned_by = {int(u): n for u, n in returns.items() if u is not None}
    return figures


def _add_tallies(tallies: dict[tuple[str, int], int], figures: list[MonthFigures]) -> None:
    """The months' paper tallies (``_tallies``: per month and point) into their figures."""
    for f in figures:
        f.point_tallies = {p: n for (m, p), n in tallies.items() if m == str(f.month)}
        f.tally = sum(f.point_tallies.values())


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


def _overdue_at(at: Any, by_point: list[Any], late_by_due: bool | None = None) -> list[Any]:
    """Three scalar subqueries whose sum is the number of loans out at ``at`` whose due date
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
    for SQLite ``late_by_due`` says which (``_late_by_due``), None leaves it to the planner."""
    returned_at: Any = Loan.returned_at
    due_at: Any = Loan.due_at
    if late_by_due is True:
        returned_at = _Unindexed(returned_at)
    elif late_by_due is False:
        due_at = _Unindexed(due_at)
    return [
        select(func.count()).select_from(Loan).where(
            Loan.returned_at.is_(None), Loan.due_at < at, *by_point).scalar_subquery(),
        select(func.count()).select_from(Loan).where(
            Loan.undone_at.is_(None), Loan.returned_at > Loan.due_at, returned_at >= at,
            due_at < at, *by_point).scalar_subquery(),
        # As a semi-join: PostgreSQL plans the join form for a month years back with a parallel
        # worker (misjudging the rows that have both dates on either side of ``at``), which
        # costs ~4 ms to start for ~20 rows.
        select(func.count()).select_from(Loan).where(Loan.id.in_(
            select(LoanRenewal.loan_id).where(
                LoanRenewal.due_before < LoanRenewal.renewed_at,  # ix_loan_renewals_late's WHERE
                LoanRenewal.renewed_at >= at, LoanRenewal.due_before < at)),
            Loan.undone_at.is_(None), *by_point).scalar_subquery(),
    ]


def _late_by_due(session: Session, moments: list[datetime], now: datetime) -> tuple[bool | None, ...]:
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
    """Loans out at ``at`` whose due date had passed (see ``_overdue_at``)."""
    by_point = [Loan.point_id == point_id] if point_id is not None else []
    return sum(int(n or 0) for n in session.execute(
        select(*_overdue_at(at, by_point, late_by_due))).one())


@lru_cache(maxsize=4)
def _titles_statement(by_point: bool) -> Any:
    """The statement of ``_by_title``, built once (bounds ``s``, ``e`` and point ``pid`` are
    parameters): the month's loans counted per title once, then read twice (joined to the
    titles), for the bands and categories and for the top titles."""
    lent = [_in_range(Loan.lent_at, bindparam("s"), bindparam("e")), _counted()]
    if by_point:
        lent.append(Loan.point_id == bindparam("pid"))
    per_title = (select(Loan.title_id.label("t"), func.count().label("n")).where(*lent)
                 .group_by(Loan.title_id).cte("per_title"))
    top = (select(per_title.c.t, per_title.c.n).where(per_title.c.t.is_not(None))
           .order_by(per_title.c.n.desc(), per_title.c.t).limit(TOP_TITLES).subquery("top"))
    return union_all(
        select(literal_column("0").label("k"), Title.age_band.label("a"), Title.category.label("c"),
               literal_column("0").label("i"), func.sum(per_title.c.n).label("n"))
        .select_from(per_title.outerjoin(Title, Title.id == per_title.c.t))
        .group_by(Title.age_band, Title.category),
        select(literal_column("1"), Title.title, literal_column("''"), Title.id, top.c.n)
        .select_from(top.join(Title, Title.id == top.c.t)),
    )


def _by_title(session: Session, start: datetime, end: datetime, pid: int | None,
              ) -> tuple[list[Row], list[Row], list[Row]]:
    """Loans in [start, end) by age band, by category (unknown last) and the top titles."""
    from library_app.models.catalog import AGE_BANDS, CATEGORIES

    stmt = _titles_statement(pid is not None)
    params = {"s": start, "e": end, "pid": pid}
    bands: dict[str, int] = {}
    categories: dict[str, int] = {}
    tops: list[tuple[int, int, str]] = []
    for k, a, c, i, n in session.execute(stmt, params):
        if int(k) == 0:
            bands[a or NO_VALUE] = bands.get(a or NO_VALUE, 0) + int(n)
            categories[c or NO_VALUE] = categories.get(c or NO_VALUE, 0) + int(n)
        else:
            tops.append((-int(n), int(i), str(a)))
    tops.sort()

    def ordered(counted: dict[str, int], order: tuple[str, ...]) -> list[Row]:
        known = [Row(v, counted.pop(v)) for v in order if v in counted]
        rest = sorted((Row(k, n) for k, n in counted.items() if k != NO_VALUE), key=lambda r: -r.loans)
        tail = [Row(NO_VALUE, counted[NO_VALUE])] if NO_VALUE in counted else []
        return known + rest + tail

    return ordered(bands, AGE_BANDS), ordered(categories, CATEGORIES), [Row(t, -n) for n, _i, t in tops]


def month_report(
    session: Session, now: datetime, month: Month, settings: LibrarySettings,
    point_code: str | None = None, with_people: bool = False,
) -> MonthReport:
    """Every figure of the monthly report, against the previous month and the same month last
    year. ``with_people``: include the per-story-mother counts (librarians and admins only)."""
    tz = ZoneInfo(settings.timezone)
    metric = settings.count_metric
    point = point_by_code(session, point_code)
    pid = point.id if point is not None else None
    start, end = rules.month_bounds(month, tz)
    state = "past" if now >= end else ("future" if now < start else "current")

    people = with_people and state != "future"
    months = [month, month.previous(), month.same_month_last_year()]
    with ParallelReads(session) as reads:
        # On PostgreSQL the previous month and last year's are counted on a connection of
        # their own while this one counts the report's month, its titles and its people.
        other = reads.run(lambda s: _month_figures(s, months[1:], now, tz, metric, pid))
        figures = _month_figures(session, [month], now, tz, metric, pid, accounts=people)[0]
        all_points = _points(session)
        age_bands, categories, top_titles = (
            _by_title(session, start, end, pid) if figures.loans else ([], [], []))
        staff = _staff(session, figures.lent_by, figures.returned_by) if with_people else None
        tallies = _tallies(session, months, pid)
        previous, last_year = other()
    _add_tallies(tallies, [figures, previous, last_year])

    point_rows = []
    for point_id, p in all_points.items():
        if pid is not None and point_id != pid:
            continue
        loans, visits = figures.points.get(point_id, (0, 0))
        tally = _tally_of(figures, point_id)
        prev = previous.points.get(point_id, (0, 0))[0]
        ly = last_year.points.get(point_id, (0, 0))[0]
        if loans or tally or prev or ly or p.active:
            point_rows.append(PointRow(p.code, p.name, loans, visits, tally, prev, ly))

    return MonthReport(
        month=month, metric=metric, point=point, as_of=min(end, now) if state != "future" else start,
        state=state, figures=figures, previous=previous, last_year=last_year, points=point_rows,
        age_bands=age_bands, categories=categories, top_titles=top_titles, staff=staff,
    )


def _tally_of(figures: MonthFigures, point_id: int) -> int:
    return figures.point_tallies.get(point_id, 0)


def _staff(session: Session, loans: dict[int, int], returns: dict[int, int]) -> list[StaffRow]:
    """Loans lent and returns taken per account (story mothers first), by name."""
    ids = set(loans) | set(returns)
    if not ids:
        return []
    users = session.execute(select(User.id, User.display_name, User.username, User.role)
                            .where(User.id.in_(ids))).all()
    order = {"story_mother": 0, "librarian": 1, "admin": 2, "viewer": 3}
    rows = [StaffRow(name or username, role, loans.get(uid, 0), returns.get(uid, 0))
            for uid, name, username, role in users]
    rows.sort(key=lambda r: (order.get(r.role, 9), -r.loans, r.name))
    return rows


# ---------------------------------------------------------------- home page counters


@dataclass
class Counter:
    label: str
    count: int


def point_counters(
    session: Session, now: datetime, settings: LibrarySettings, point_ids: list[int],
) -> tuple[int, int]:
    """Today's and this month's count (the org's metric) at the given points."""
    tz = ZoneInfo(settings.timezone)
    if not point_ids:
        return 0, 0
    month = rules.current_month(now, tz)
    m_start, m_end = rules.month_bounds(month, tz)
    day_start = rules.local_midnight(now.astimezone(tz).date(), tz)
    edges = [m_start, day_start, m_end] if day_start > m_start else [m_start, m_end]
    by = counts_by_bucket(session, edges, settings.count_metric, tz)
    total_month = sum(n for (_b, p), n in by.items() if p in point_ids)
    total_today = sum(n for (b, p), n in by.items() if p in point_ids and b == len(edges) - 2)
    total_month += sum(_tallies(session, [month]).get((str(month), p), 0) for p in point_ids)
    return total_today, total_month


def year_counter(session: Session, now: datetime, settings: LibrarySettings) -> YearProgress:
    """The organisation's count for the current year against its target (home page)."""
    tz = ZoneInfo(settings.timezone)
    year = rules.current_month(now, tz).year
    months, _points, tally_months, _t = _year_counts(session, year, settings.count_metric, tz)
    return rules.year_progress(year, year_target(session, year, settings),
                               sum(months) + sum(tally_months), now, tz)


# ---------------------------------------------------------------- targets and tallies


def set_target(session: Session, actor: User | None, now: datetime, year: int, target: Any) -> YearTarget:
    """Set the year's target (admin)."""
    try:
        value = int(target)
    except (TypeError, ValueError) as exc:
        raise Invalid("年度目标需要是正整数，例如 12000。") from exc
    if isinstance(target, bool) or value < 1 or value > 10_000_000:
        raise Invalid("年度目标需要是 1 到 10,000,000 之间的整数。")
    row = session.get(YearTarget, year)
    old = row.target if row is not None else None
    if row is None:
        row = YearTarget(year=year, target=value)
        session.add(row)
    row.target = value
    row.set_by_id = actor.id if actor is not None else None
    row.set_at = now
    session.flush()
    audit.record(session, actor, now, "report.target", "year_target", year, old=old, new=value)
    return row


def record_tally(
    session: Session, actor: User | None, now: datetime, point_code: Any, month_text: Any,
    loans: Any, settings: LibrarySettings,
) -> tuple[MonthlyTally, bool]:
    """Enter (or correct) a month's loans from paper records at a point. → (tally, created)."""
    if not isinstance(point_code, str) or not point_code.strip():
        raise Invalid("请选择阅读点。")
    point = point_by_code(session, point_code)
    assert point is not None
    if not isinstance(month_text, str):
        raise rules.InvalidMonth()
    month = rules.parse_month(month_text)
    tz = ZoneInfo(settings.timezone)
    if month > rules.current_month(now, tz):
        raise Invalid("不能为尚未到来的月份录入纸质记录。")
    if isinstance(loans, bool):
        raise Invalid("借阅人次需要是 0 或正整数。")
    try:
        value = int(loans)
    except (TypeError, ValueError) as exc:
        raise Invalid("借阅人次需要是 0 或正整数。") from exc
    if value < 0 or value > 1_000_000 or (isinstance(loans, float) and not loans.is_integer()):
        raise Invalid("借阅人次需要是 0 到 1,000,000 之间的整数。")
    row = session.scalar(select(MonthlyTally).where(
        MonthlyTally.point_id == point.id, MonthlyTally.month == str(month)))
    created = row is None
    old = None if row is None else row.loans
    if row is None:
        row = MonthlyTally(point_id=point.id, month=str(month), loans=value)
        session.add(row)
    row.loans = value
    row.entered_by_id = actor.id if actor is not None else None
    row.entered_at = now
    session.flush()
    audit.record(session, actor, now, "report.tally", "monthly_tally", f"{point.code}/{month}",
                 point_id=point.id, old=old, new=value)
    return row, created


def list_tallies(session: Session, year: int | None = None) -> list[MonthlyTally]:
    stmt = select(MonthlyTally).join(Point).order_by(MonthlyTally.month.desc(), Point.code)
    if year is not None:
        stmt = stmt.where(MonthlyTally.month.like(f"{year:04d}-%"))
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- exports


ROLE_NAMES = {"admin": "管理员", "librarian": "图书管理员", "story_mother": "故事妈妈", "viewer": "查看者"}


def month_rows(report: MonthReport, org_name: str, tz: ZoneInfo) -> list[list[Any]]:
    """The month report as rows of cells, the same for CSV and XLSX (cells not yet escaped)."""
    f, prev, ly = report.figures, report.previous, report.last_year
    scope = f"{report.point.code} {report.point.name}" if report.point is not None else "全部阅读点"
    rows: list[list[Any]] = [
        [f"{org_name} 月度借阅报告", report.month.label],
        ["范围", scope],
        ["统计口径", rules.METRIC_NAMES.get(report.metric, report.metric)],
        ["逾期统计时点", report.as_of.astimezone(tz).strftime("%Y-%m-%d %H:%M")],
        [],
        ["指标", report.month.label, prev.month.label, ly.month.label],
    ]
    visits = report.metric == "visits"
    for label, name in (
        ("借阅人次（计入年度目标）", "count"), ("借出次数", "loans"), ("到访人次", "visits"),
        ("纸质记录", "tally"), ("归还次数", "returns"), ("借阅人数", "distinct_borrowers"),
        ("新登记小读者", "new_borrowers"), ("月末逾期未还", "overdue_at_end"),
    ):
        if name == "visits" and not visits:
            continue
        rows.append([label, getattr(f, name), getattr(prev, name), getattr(ly, name)])
    rows += [[], ["阅读点", "名称", "借出次数"] + (["到访人次"] if visits else [])
             + ["纸质记录", "上月借出", "去年同月借出"]]
    rows += [[p.code, p.name, p.loans] + ([p.visits] if visits else []) + [p.tally, p.previous, p.last_year]
             for p in report.points]
    rows += [[], ["年龄段", "借出次数"]] + [[r.label, r.loans] for r in report.age_bands]
    rows += [[], ["分类", "借出次数"]] + [[r.label, r.loans] for r in report.categories]
    rows += [[], ["热门书目", "借出次数"]] + [[r.label, r.loans] for r in report.top_titles]
    if report.staff is not None:
        rows += [[], ["经办人", "角色", "借出", "归还"]]
        rows += [[s.name, ROLE_NAMES.get(s.role, s.role), s.loans, s.returns] for s in report.staff]
    return rows
