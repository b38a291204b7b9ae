"""The year report: the calendar year's count (system + paper tallies) against its target, by
month and by point, with the pace, a forecast and the same date last year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from library_app.domain import reports as rules
from library_app.domain.reports import Month, YearProgress
from library_app.domain.settings import LibrarySettings
from library_app.models import Point, YearTarget

from .queries import (
    all_points,
    counts_by_bucket,
    loan_count,
    paper_tallies,
    point_by_code,
    visit_counts,
)


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
    point: Point | None = None  # one point's figures (no target of its own)

    def as_json(self) -> dict[str, Any]:
        p = self.progress
        return {
            "year": self.year, "point": self.point.code if self.point else None, "target": p.target, "metric": self.metric, "count": p.count,
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


class YearCounts(NamedTuple):
    months: list[int]              # system count per month, January first
    points: dict[int, int]         # point id → system count
    tally_months: list[int]        # paper tallies per month
    tally_points: dict[int, int]   # point id → paper tallies

    @property
    def total(self) -> int:
        return sum(self.months) + sum(self.tally_months)


def year_counts(
    session: Session, year: int, metric: str, tz: ZoneInfo, point_id: int | None = None,
    tallies: dict[tuple[str, int], int] | None = None,
) -> YearCounts:
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
        tallies = paper_tallies(session, month_list, point_id)
    for (m, p), n in tallies.items():
        if not m.startswith(f"{year:04d}-"):
            continue
        tally_months[int(m[5:7]) - 1] += n
        tally_points[p] = tally_points.get(p, 0) + n
    return YearCounts(months, points, tally_months, tally_points)


def _last_year_counts(
    session: Session, start: datetime, cutoff: datetime, end: datetime, metric: str, tz: ZoneInfo,
    point_id: int | None = None,
) -> tuple[int, int]:
    """(count up to ``cutoff``, whole year's count) for last year: whole days from
    ``loan_days``, the cutoff's own day from its loans (``loan_count``, ``visit_counts``)."""
    if metric == "visits":  # a visit counts before the cutoff if its first loan came before it
        before = sum(visit_counts(session, start, cutoff, tz, point_id).values()) if cutoff > start else 0
        return before, sum(visit_counts(session, start, end, tz, point_id).values())
    before = loan_count(session, start, cutoff, tz, point_id)
    return before, before + loan_count(session, cutoff, end, tz, point_id)


def last_year_counts(session: Session, year: int, cutoff: datetime, metric: str, tz: ZoneInfo,
                     point_id: int | None, ly_tallies: dict[tuple[str, int], int],
                     whole_year: bool = True) -> tuple[int, int]:
    """Last year's (``year - 1``) count up to ``cutoff`` and (unless not ``whole_year``: then 0)
    its whole count, system and paper tallies (``ly_tallies``, last year's), the cutoff month's
    tally taken in proportion to the time gone."""
    ly_start, ly_end = rules.year_bounds(year - 1, tz)
    same_date, last_total = _last_year_counts(session, ly_start, cutoff, ly_end if whole_year else cutoff,
                                              metric, tz, point_id)
    for (m, _p), n in ly_tallies.items():
        m_start, m_end = rules.month_bounds(rules.parse_month(m), tz)
        same_date += rules.prorated(n, m_start, m_end, cutoff)
    return same_date, (last_total + sum(ly_tallies.values())) if whole_year else 0


def loans_to_same_moment_last_year(session: Session, now: datetime, year: int, tz: ZoneInfo,
                                   point_id: int | None = None) -> tuple[int, datetime]:
    """Last year's loans (system and paper) up to the local moment a year before ``now``, and
    that moment: what an unfinished ``year`` so far is compared with."""
    _start, ly_end = rules.year_bounds(year - 1, tz)
    cutoff = min(rules.same_moment_last_year(now, tz), ly_end)
    tallies = paper_tallies(session, [Month(year - 1, m) for m in range(1, 13)], point_id)
    loans, _whole = last_year_counts(session, year, cutoff, "loans", tz, point_id, tallies, whole_year=False)
    return loans, cutoff


def year_report(session: Session, now: datetime, year: int, settings: LibrarySettings,
                point_code: str | None = None) -> YearReport:
    """The calendar year's count (system + paper tallies) against its target, by month and point,
    with the pace, a forecast and the same date last year. With ``point_code``: that point's
    figures only (the yearly target is the organisation's, so a point's page has none)."""
    tz = ZoneInfo(settings.timezone)
    metric = settings.count_metric
    point = point_by_code(session, point_code)
    pid = point.id if point is not None else None
    target_row = session.get(YearTarget, year)
    target = target_row.target if target_row is not None else settings.default_year_target
    if point is not None:
        target = 0
    ly_months = [Month(year - 1, m) for m in range(1, 13)]
    tallies = paper_tallies(session, [Month(year, m) for m in range(1, 13)] + ly_months, pid)
    counts = year_counts(session, year, metric, tz, point_id=pid, tallies=tallies)
    progress = rules.year_progress(year, target, counts.total, now, tz)
    shares = rules.monthly_targets(year, target)
    month_rows = [
        MonthCount(Month(year, i + 1), counts.months[i] + counts.tally_months[i],
                   counts.tally_months[i], shares[i])
        for i in range(12)
    ]
    point_rows = []
    for row_pid, row_point in all_points(session).items():
        n, t = counts.points.get(row_pid, 0), counts.tally_points.get(row_pid, 0)
        if (n or t or row_point.active) and pid in (None, row_pid):
            point_rows.append(PointCount(row_point.code, row_point.name, n + t, t))

    # The same date last year: the system count up to the same local moment, plus paper
    # tallies, the cutoff month's tally taken in proportion to the time gone.
    ly_start, ly_end = rules.year_bounds(year - 1, tz)
    cutoff = min(rules.same_moment_last_year(now, tz), ly_end) if progress.state == "current" else (
        ly_end if progress.state == "past" else ly_start)
    ly_tallies = {k: n for k, n in tallies.items() if k[0].startswith(f"{year - 1:04d}-")}
    same_date, last_total = last_year_counts(session, year, cutoff, metric, tz, pid, ly_tallies)
    return YearReport(
        year=year, metric=metric, progress=progress, months=month_rows, points=point_rows,
        tallies=sum(counts.tally_months), same_date_last_year=same_date, last_year_total=last_total,
        last_year_cutoff=cutoff, target_is_default=target_row is None, point=point,
    )

