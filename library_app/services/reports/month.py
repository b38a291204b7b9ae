"""The monthly report: every figure of a month (or of one point's month) against the previous
month and the same month last year, by point, by what was read, and by who lent. A month still
running is compared with those two up to the same day and time (上月同期, 去年同期)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain import reports as rules
from library_app.domain.reports import Change, Month
from library_app.domain.settings import LibrarySettings
from library_app.models import Point, User

from .month_figures import MonthFigures, month_figures
from .queries import all_points, paper_tallies, point_by_code
from .titles import Row, by_title


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
    tz: ZoneInfo                   # the organisation's, for the compared months' labels

    @property
    def previous_words(self) -> str:
        return "上月同期" if self.previous.until is not None else "上月"

    @property
    def last_year_words(self) -> str:
        return "去年同期" if self.last_year.until is not None else "去年同月"

    def compared_label(self, f: MonthFigures) -> str:
        """The compared month's name, with the days counted when it is cut to the same moment
        (2026年11月1日–2日)."""
        if f.until is None:
            return f.month.label
        last = (f.until - timedelta(microseconds=1)).astimezone(self.tz).day
        return f"{f.month.label}1日–{last}日" if last > 1 else f"{f.month.label}1日"

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
                    "tally": f.tally, "until": f.until.isoformat() if f.until is not None else None}

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

    months = [month, month.previous(), month.same_month_last_year()]
    # a month still running is compared with the other two up to the same day and time
    until = [None] + [rules.same_moment_in(m, now, tz) for m in months[1:]] if state == "current" else []
    figures, previous, last_year = month_figures(session, months, now, tz, metric, pid,
                                                 accounts=with_people and state != "future", until=until)
    tallies = paper_tallies(session, months, pid)
    for f in (figures, previous, last_year):
        m_start, m_end = rules.month_bounds(f.month, tz)
        cut = f.until or m_end  # a cut month's paper tally in proportion to the time gone
        f.point_tallies = {p: rules.prorated(n, m_start, m_end, cut) for (m, p), n in tallies.items()
                           if m == str(f.month)}
        f.tally = sum(f.point_tallies.values())
    age_bands, categories, top_titles = by_title(session, start, end, pid) if figures.loans else ([], [], [])
    return MonthReport(
        month=month, metric=metric, point=point, as_of=min(end, now) if state != "future" else start,
        state=state, figures=figures, previous=previous, last_year=last_year,
        points=_point_rows(session, pid, figures, previous, last_year),
        age_bands=age_bands, categories=categories, top_titles=top_titles,
        staff=_staff(session, figures.lent_by, figures.returned_by) if with_people else None, tz=tz,
    )


def _point_rows(session: Session, pid: int | None, figures: MonthFigures, previous: MonthFigures,
                last_year: MonthFigures) -> list[PointRow]:
    """One row per point with figures (or still active); only the chosen point's with ``pid``."""
    rows = []
    for point_id, p in all_points(session).items():
        if pid is not None and point_id != pid:
            continue
        loans, visits = figures.points.get(point_id, (0, 0))
        tally = figures.point_tallies.get(point_id, 0)
        prev = previous.points.get(point_id, (0, 0))[0]
        ly = last_year.points.get(point_id, (0, 0))[0]
        if loans or tally or prev or ly or p.active:
            rows.append(PointRow(p.code, p.name, loans, visits, tally, prev, ly))
    return rows


def _staff(session: Session, loans: dict[int, int], returns: dict[int, int]) -> list[StaffRow]:
    """Loans lent and returns taken per account (story mothers first), by name."""
    ids = set(loans) | set(returns)
    if not ids:
        return []
    users = session.execute(select(User.id, User.display_name, User.username, User.role)
                            .where(User.id.in_(ids))).all()
    order = {"story_mother": 0, "point_lead": 1, "librarian": 2, "admin": 3, "viewer": 4}
    rows = [StaffRow(u.display_name or u.username, u.role, loans.get(u.id, 0), returns.get(u.id, 0))
            for u in users]
    rows.sort(key=lambda r: (order.get(r.role, 9), -r.loans, r.name))
    return rows
