"""The annual report's figures for one local year, counted in SQL: the report's one seam to
the database (``annual_report`` assembles, compares with targets and last year, downloads).

Months and the year are the organisation's zone's. Activities are bucketed by comparing
``started_at`` with the UTC instants of the local month starts (``domain.reports``); loans by
their local day (``loans.lent_day``, the local day of ``lent_at``): loans and visits come from
the loan reports' ``loans_and_visits_by_bucket`` (the year's rows of ``loan_days``, which the
database keeps per day and point), the children
served from ``loan_year_children`` (by ``loans.lent_year``, the year of the local day: a row
per child and point, kept by the database). Every figure is
counted in the database and comes back as a few hundred rows at most: fetching the year's
(point, child) pairs to count them here was most of the report's time (~90,000 rows a year at a
million loans).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, distinct, func, literal_column, select, union, union_all
from sqlalchemy.orm import Session

from library_app.domain.activities import Figures
from library_app.domain.reports import Month, year_month_edges
from library_app.models import (
    Activity,
    ActivityCard,
    ActivityVolunteer,
    Borrower,
    LoanYearChild,
)

from .reports.queries import loans_and_visits_by_bucket, paper_tallies


@dataclass
class MonthRow:
    month: str
    loans: int = 0
    activities: int = 0
    attendance: int = 0
    volunteer_minutes: int = 0
    visits: int = 0
    volunteer_participations: int = 0


@dataclass
class YearFigures:
    figures: Figures
    months: list[MonthRow]
    per_point: dict[int, Figures]
    tallies: int


# ---------------------------------------------------------------- SQL


def _bucket(col: Any, edges: list[datetime]) -> Any:
    """0 … 11: the local month of ``col`` (rows already limited to the year)."""
    whens: list[tuple[Any, Any]] = [(col < edges[i], literal_column(str(i - 1))) for i in range(1, 12)]
    return case(*whens, else_=literal_column("11"))


def _where_point(col: Any, point_id: int | None) -> list[Any]:
    return [col == point_id] if point_id is not None else []


def _in_year(edges: list[datetime], pid: int | None) -> list[Any]:
    return [Activity.started_at >= edges[0], Activity.started_at < edges[-1],
            *_where_point(Activity.point_id, pid)]


def _tallies(session: Session, year: int, pid: int | None) -> dict[tuple[int, int], int]:
    """The year's paper tallies as (month 0 … 11, point): loans."""
    months = [Month(year, m) for m in range(1, 13)]
    return {(int(m[5:7]) - 1, int(p)): int(n) for (m, p), n in paper_tallies(session, months, pid).items()}


def _activities(session: Session, edges: list[datetime], pid: int | None) -> dict[tuple[int, int], tuple[int, int]]:
    stmt = (select(_bucket(Activity.started_at, edges).label("b"), Activity.point_id, func.count(),
                   func.coalesce(func.sum(Activity.attendance), 0))
            .where(*_in_year(edges, pid))
            .group_by(literal_column("b"), Activity.point_id))
    return {(int(b), int(p)): (int(n), int(a)) for b, p, n, a in session.execute(stmt)}


@dataclass
class _Service:
    by_bucket: dict[tuple[int, int], tuple[int, int]]  # (month, point): (participations, minutes)
    volunteers: int                                     # distinct, in total
    volunteers_at: dict[int, int]                       # distinct, per point


def _service(session: Session, edges: list[datetime], pid: int | None, per_point: bool = True) -> _Service:
    """Volunteer participations and minutes by month and point, and the distinct volunteers
    who served in total and (unless not ``per_point``) per point: a volunteer at two points
    counts at each, once in the total. One statement: the year's participations are read once
    (``served``) and counted three ways."""
    served = (select(_bucket(Activity.started_at, edges).label("b"), Activity.point_id.label("p"),
                     ActivityVolunteer.volunteer_id.label("v"), ActivityVolunteer.minutes.label("m"))
              .join(Activity, Activity.id == ActivityVolunteer.activity_id)
              .where(*_in_year(edges, pid)).cte("served"))
    none: Any = literal_column("NULL")
    parts = [select(literal_column("0"), served.c.b, served.c.p, func.count(), func.coalesce(func.sum(served.c.m), 0))
             .group_by(served.c.b, served.c.p),
             select(literal_column("2"), none, none, func.count(distinct(served.c.v)), none)]
    if per_point:
        parts.append(select(literal_column("1"), none, served.c.p, func.count(distinct(served.c.v)), none)
                     .group_by(served.c.p))
    out = _Service({}, 0, {})
    for kind, b, p, n, m in session.execute(union_all(*parts)):
        if kind == 0:
            out.by_bucket[(int(b), int(p))] = (int(n), int(m))
        elif kind == 1:
            out.volunteers_at[int(p)] = int(n)
        else:
            out.volunteers = int(n)
    return out


def _children_served(session: Session, year: int, edges: list[datetime], pid: int | None,
                     per_point: bool = True) -> tuple[int, dict[int, int]]:
    """Distinct children who borrowed or attended by card, overall and (unless not
    ``per_point``) per point: a child once, whether one or both
    (``domain.activities.children_served``). The total is the union of the year's borrowers
    (``loan_year_children``: a row per child and point, kept by the database) and card
    holders, a few thousand each; per point, the year's (child, point) rows there plus the
    year's card pairs that have no such row (a key lookup each). One statement: the year's
    cards are read once (``cards``)."""
    lent = [LoanYearChild.year == year, *_where_point(LoanYearChild.point_id, pid)]
    cards = (select(Activity.point_id.label("p"), ActivityCard.borrower_id.label("b"))
             .join(Activity, Activity.id == ActivityCard.activity_id)
             .where(*_in_year(edges, pid), ActivityCard.borrower_id.is_not(None)).distinct().cte("cards"))
    borrowers = select(LoanYearChild.borrower_id.label("b")).where(*lent).distinct().subquery()
    children = union(select(borrowers.c.b), select(cards.c.b)).subquery()
    parts: list[Any] = [select(literal_column("NULL"), func.count()).select_from(children)]
    if per_point:
        lent_here = select(LoanYearChild.loans).where(
            LoanYearChild.year == year, LoanYearChild.borrower_id == cards.c.b,
            LoanYearChild.point_id == cards.c.p).exists()
        parts += [select(LoanYearChild.point_id, func.count()).where(*lent).group_by(LoanYearChild.point_id),
                  select(cards.c.p, func.count()).where(~lent_here).group_by(cards.c.p)]
    total, at = 0, dict[int, int]()
    for p, n in session.execute(union_all(*parts)):
        if p is None:
            total = int(n)
        else:
            at[int(p)] = at.get(int(p), 0) + int(n)
    return total, at


def _new_borrowers(session: Session, edges: list[datetime], pid: int | None) -> dict[int, int]:
    stmt = (select(Borrower.home_point_id, func.count())
            .where(Borrower.created_at >= edges[0], Borrower.created_at < edges[-1],
                   *_where_point(Borrower.home_point_id, pid))
            .group_by(Borrower.home_point_id))
    return {int(p): int(n) for p, n in session.execute(stmt)}


# ---------------------------------------------------------------- the figures


def year_figures(session: Session, year: int, tz: ZoneInfo, pid: int | None) -> YearFigures:
    """Every figure of ``year`` (local), month by month, per point and in total; ``pid``
    limits it to one point."""
    edges = year_month_edges(year, tz)
    months = [MonthRow(f"{year:04d}-{m:02d}") for m in range(1, 13)]
    per_point: dict[int, Figures] = {}

    def at(p: int) -> Figures:
        return per_point.setdefault(p, Figures())

    days = [date(year, m, 1) for m in range(1, 13)] + [date(year + 1, 1, 1)]
    tallies = _tallies(session, year, pid)
    for (b, p), (n, v) in loans_and_visits_by_bucket(session, days, pid).items():
        months[b].loans += n
        at(p).loans += n
        months[b].visits += v
        at(p).visits += v
    for (b, p), n in tallies.items():
        months[b].loans += n
        at(p).loans += n
    for (b, p), (n, a) in _activities(session, edges, pid).items():
        months[b].activities += n
        months[b].attendance += a
        at(p).activities += n
        at(p).attendance += a
    service = _service(session, edges, pid)
    for (b, p), (n, m) in service.by_bucket.items():
        months[b].volunteer_participations += n
        months[b].volunteer_minutes += m
        at(p).volunteer_participations += n
        at(p).volunteer_minutes += m
    served, served_at = _children_served(session, year, edges, pid)
    new_at = _new_borrowers(session, edges, pid)
    for p, n in service.volunteers_at.items():
        at(p).volunteers = n
    for p, n in served_at.items():
        at(p).children_served = n
    for p, n in new_at.items():
        at(p).new_borrowers = n
    total = Figures(
        loans=sum(m.loans for m in months), visits=sum(m.visits for m in months),
        children_served=served, new_borrowers=sum(new_at.values()),
        activities=sum(m.activities for m in months), attendance=sum(m.attendance for m in months),
        volunteer_participations=sum(m.volunteer_participations for m in months),
        volunteers=service.volunteers, volunteer_minutes=sum(m.volunteer_minutes for m in months),
    )
    return YearFigures(total, months, per_point, sum(tallies.values()))


def year_totals(session: Session, year: int, tz: ZoneInfo, pid: int | None) -> Figures:
    """The figures of ``year`` in total only (the report's "last year"): the same counts as
    ``year_figures(...).figures`` without the months and the points, so the distinct children
    and volunteers are counted once each instead of per point as well."""
    edges = year_month_edges(year, tz)
    loans = visits = 0
    for (_b, _p), (n, v) in loans_and_visits_by_bucket(session, [date(year, 1, 1), date(year + 1, 1, 1)],
                                                       pid).items():
        loans += n
        visits += v
    held = _activities(session, edges, pid).values()
    service = _service(session, edges, pid, per_point=False)
    return Figures(
        loans=loans + sum(_tallies(session, year, pid).values()), visits=visits,
        children_served=_children_served(session, year, edges, pid, per_point=False)[0],
        new_borrowers=sum(_new_borrowers(session, edges, pid).values()),
        activities=sum(n for n, _a in held), attendance=sum(a for _n, a in held),
        volunteer_participations=sum(n for n, _m in service.by_bucket.values()),
        volunteer_minutes=sum(m for _n, m in service.by_bucket.values()), volunteers=service.volunteers,
    )
