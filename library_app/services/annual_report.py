"""The annual report (年度报告): every figure of api.md for a year, per point, month by month,
against the year's targets, last year's, and the paragraph to paste.

Months and the year are the organisation's zone's: their bounds are UTC instants computed in
Python (``domain.reports``), rows are bucketed by comparing times with them in SQL (a CASE), so
the same SQL is exact on SQLite and PostgreSQL. Loans and visits come from the loan reports'
``counts_by_bucket`` (its one import from there); the rest are small queries of this module.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal_column, select, union
from sqlalchemy.orm import Session

from library_app.domain.activities import FIGURES, Figures, summary_paragraph
from library_app.domain.reports import spreadsheet_safe, year_bounds, year_month_edges
from library_app.domain.settings import LibrarySettings
from library_app.models import (
    Activity,
    ActivityCard,
    ActivityVolunteer,
    Borrower,
    FigureTarget,
    Loan,
    MonthlyTally,
    Point,
    User,
    YearTarget,
)

from . import audit
from .errors import Invalid, NotFound
from .reports import counts_by_bucket

FIGURE_NAMES = [name for name, _ in FIGURES]
MONTH_FIGURES = ("loans", "activities", "attendance", "volunteer_minutes")


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
class PointRow:
    code: str
    name: str
    figures: Figures


@dataclass
class AnnualReport:
    year: int
    point: Point | None
    figures: Figures
    months: list[MonthRow]
    points: list[PointRow]
    last_year: Figures
    targets: dict[str, int | None]
    summary: str
    tallies: int = 0
    metric: str = "loans"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"year": self.year, "point": self.point.code if self.point else None}
        body.update(self.figures.as_dict())
        body["tallies"] = self.tallies
        body["targets"] = self.targets
        body["months"] = [{"month": m.month, "loans": m.loans, "activities": m.activities,
                           "attendance": m.attendance, "volunteer_minutes": m.volunteer_minutes,
                           "visits": m.visits, "volunteer_participations": m.volunteer_participations}
                          for m in self.months]
        body["points"] = [{"code": p.code, "name": p.name, "loans": p.figures.loans,
                           "visits": p.figures.visits, "activities": p.figures.activities,
                           "attendance": p.figures.attendance,
                           "volunteer_participations": p.figures.volunteer_participations,
                           "volunteers": p.figures.volunteers,
                           "volunteer_minutes": p.figures.volunteer_minutes,
                           "children_served": p.figures.children_served,
                           "new_borrowers": p.figures.new_borrowers}
                          for p in self.points]
        body["last_year"] = self.last_year.as_dict()
        body["summary"] = self.summary
        return body


# ---------------------------------------------------------------- SQL


def _bucket(col: Any, edges: list[datetime]) -> Any:
    """0 … 11: the local month of ``col`` (rows already limited to the year)."""
    whens: list[tuple[Any, Any]] = [(col < edges[i], literal_column(str(i - 1))) for i in range(1, 12)]
    return case(*whens, else_=literal_column("11"))


def _where_point(col: Any, point_id: int | None) -> list[Any]:
    return [col == point_id] if point_id is not None else []


def _tallies(session: Session, year: int, pid: int | None) -> dict[tuple[int, int], int]:
    stmt = select(MonthlyTally.month, MonthlyTally.point_id, MonthlyTally.loans).where(
        MonthlyTally.month.like(f"{year:04d}-%"), *_where_point(MonthlyTally.point_id, pid))
    return {(int(m[5:7]) - 1, int(p)): int(n) for m, p, n in session.execute(stmt)}


def _activities(session: Session, edges: list[datetime], pid: int | None) -> dict[tuple[int, int], tuple[int, int]]:
    stmt = (select(_bucket(Activity.started_at, edges).label("b"), Activity.point_id, func.count(),
                   func.coalesce(func.sum(Activity.attendance), 0))
            .where(Activity.started_at >= edges[0], Activity.started_at < edges[-1],
                   *_where_point(Activity.point_id, pid))
            .group_by(literal_column("b"), Activity.point_id))
    return {(int(b), int(p)): (int(n), int(a)) for b, p, n, a in session.execute(stmt)}


def _in_year(edges: list[datetime], pid: int | None) -> list[Any]:
    return [Activity.started_at >= edges[0], Activity.started_at < edges[-1],
            *_where_point(Activity.point_id, pid)]


def _service(session: Session, edges: list[datetime], pid: int | None) -> dict[tuple[int, int], tuple[int, int]]:
    stmt = (select(_bucket(Activity.started_at, edges).label("b"), Activity.point_id, func.count(),
                   func.coalesce(func.sum(ActivityVolunteer.minutes), 0))
            .join(Activity, Activity.id == ActivityVolunteer.activity_id)
            .where(*_in_year(edges, pid))
            .group_by(literal_column("b"), Activity.point_id))
    return {(int(b), int(p)): (int(n), int(m)) for b, p, n, m in session.execute(stmt)}


def _distinct_volunteers(session: Session, edges: list[datetime], pid: int | None) -> tuple[int, dict[int, int]]:
    """Distinct volunteers who served, overall and per point: one pass over the (point,
    volunteer) pairs (a few thousand at most), counted here."""
    pairs = session.execute(
        select(Activity.point_id, ActivityVolunteer.volunteer_id)
        .join(Activity, Activity.id == ActivityVolunteer.activity_id).where(*_in_year(edges, pid))
        .distinct()).all()
    per_point: dict[int, int] = {}
    for p, _v in pairs:
        per_point[int(p)] = per_point.get(int(p), 0) + 1
    return len({v for _p, v in pairs}), per_point


def _children_served(session: Session, edges: list[datetime], pid: int | None) -> tuple[int, dict[int, int]]:
    """Distinct children who borrowed or attended by card (a child once, whether one or both),
    overall and per point."""
    borrowed = select(Loan.point_id.label("p"), Loan.borrower_id.label("b")).where(
        Loan.lent_at >= edges[0], Loan.lent_at < edges[-1], Loan.undone_at.is_(None),
        Loan.borrower_id.is_not(None), *_where_point(Loan.point_id, pid))
    attended = (select(Activity.point_id.label("p"), ActivityCard.borrower_id.label("b"))
                .join(Activity, Activity.id == ActivityCard.activity_id)
                .where(*_in_year(edges, pid), ActivityCard.borrower_id.is_not(None)))
    pairs = session.execute(union(borrowed, attended)).all()  # distinct (point, child)
    per_point: dict[int, int] = {}
    for p, _b in pairs:
        per_point[int(p)] = per_point.get(int(p), 0) + 1
    return len({b for _p, b in pairs}), per_point


def _new_borrowers(session: Session, edges: list[datetime], pid: int | None) -> dict[int, int]:
    stmt = (select(Borrower.home_point_id, func.count())
            .where(Borrower.created_at >= edges[0], Borrower.created_at < edges[-1],
                   *_where_point(Borrower.home_point_id, pid))
            .group_by(Borrower.home_point_id))
    return {int(p): int(n) for p, n in session.execute(stmt)}


# ---------------------------------------------------------------- the figures


@dataclass
class _Year:
    figures: Figures
    months: list[MonthRow]
    per_point: dict[int, Figures]
    tallies: int


def _year(session: Session, year: int, tz: ZoneInfo, pid: int | None, metric: str) -> _Year:
    edges = year_month_edges(year, tz)
    months = [MonthRow(f"{year:04d}-{m:02d}") for m in range(1, 13)]
    per_point: dict[int, Figures] = {}

    def at(p: int) -> Figures:
        return per_point.setdefault(p, Figures())

    # Loans and visits: the loan reports' own bucketed counts (tuned on a million loans).
    loans = counts_by_bucket(session, edges, "loans", tz, pid)
    tallies = _tallies(session, year, pid)
    for (b, p), n in list(loans.items()) + list(tallies.items()):
        months[b].loans += n
        at(p).loans += n
    for (b, p), n in counts_by_bucket(session, edges, "visits", tz, pid).items():
        months[b].visits += n
        at(p).visits += n
    for (b, p), (n, a) in _activities(session, edges, pid).items():
        months[b].activities += n
        months[b].attendance += a
        at(p).activities += n
        at(p).attendance += a
    for (b, p), (n, m) in _service(session, edges, pid).items():
        months[b].volunteer_participations += n
        months[b].volunteer_minutes += m
        at(p).volunteer_participations += n
        at(p).volunteer_minutes += m
    distinct_volunteers, volunteers_at = _distinct_volunteers(session, edges, pid)
    served, served_at = _children_served(session, edges, pid)
    new_at = _new_borrowers(session, edges, pid)
    for p, n in volunteers_at.items():
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
        volunteers=distinct_volunteers, volunteer_minutes=sum(m.volunteer_minutes for m in months),
    )
    return _Year(total, months, per_point, sum(tallies.values()))


def targets_for(session: Session, year: int, settings: LibrarySettings) -> dict[str, int | None]:
    """The year's target for each figure: loans from ``year_targets`` (12,000 unless set), the
    others from ``figure_targets`` (none unless set)."""
    targets: dict[str, int | None] = dict.fromkeys(FIGURE_NAMES)
    row = session.get(YearTarget, year)
    targets["loans"] = row.target if row is not None else settings.default_year_target
    for figure, target in session.execute(
            select(FigureTarget.figure, FigureTarget.target).where(FigureTarget.year == year)):
        if figure in targets and figure != "loans":
            targets[figure] = target
    return targets


def set_targets(session: Session, actor: User, now: datetime, year: int, data: dict[str, Any],
                settings: LibrarySettings) -> dict[str, int | None]:
    """Set some of the year's targets (admin); ``null`` removes one (loans: back to the default)."""
    for figure, value in data.items():
        if figure not in FIGURE_NAMES:
            raise Invalid(f"未知的统计项：{figure}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1 or value > 100_000_000):
            raise Invalid("目标需要是 1 到 100,000,000 之间的整数。")
        if figure == "loans":
            row = session.get(YearTarget, year)
            if value is None:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(YearTarget(year=year, target=value, set_by_id=actor.id, set_at=now))
            else:
                row.target, row.set_by_id, row.set_at = value, actor.id, now
            continue
        found = session.scalar(select(FigureTarget).where(
            and_(FigureTarget.year == year, FigureTarget.figure == figure)))
        if value is None:
            if found is not None:
                session.delete(found)
        elif found is None:
            session.add(FigureTarget(year=year, figure=figure, target=value, set_by_id=actor.id,
                                     set_at=now))
        else:
            found.target, found.set_by_id, found.set_at = value, actor.id, now
    session.flush()
    audit.record(session, actor, now, "targets.annual", "year", year, changes=data)
    return targets_for(session, year, settings)


def annual_report(session: Session, now: datetime, year: int, settings: LibrarySettings,
                  point_code: str | None = None) -> AnnualReport:
    tz = ZoneInfo(settings.timezone)
    point = None
    if point_code:
        point = session.scalar(select(Point).where(Point.code == point_code.strip().upper()))
        if point is None:
            raise NotFound(f"没有编号为 {point_code.strip()} 的阅读点。")
    pid = point.id if point else None
    this = _year(session, year, tz, pid, settings.count_metric)
    last = _year(session, year - 1, tz, pid, settings.count_metric)
    points = {p.id: p for p in session.scalars(select(Point).order_by(Point.code))}
    rows = []
    for p_id, p in points.items():
        if pid is not None and p_id != pid:
            continue
        figures = this.per_point.get(p_id)
        if figures is None and not p.active:
            continue
        rows.append(PointRow(p.code, p.name, figures or Figures()))
    serving = sum(1 for r in rows if r.figures.activities or r.figures.loans) or len(rows)
    org = point.name if point else settings.org_name
    text = summary_paragraph(year, this.figures, serving, org, last.figures)
    del now  # the report is of whole years; the time does not change its figures
    return AnnualReport(year=year, point=point, figures=this.figures, months=this.months,
                        points=rows, last_year=last.figures,
                        targets=targets_for(session, year, settings), summary=text,
                        tallies=this.tallies, metric=settings.count_metric)


# ---------------------------------------------------------------- downloads


def rows(report: AnnualReport, org_name: str) -> list[list[Any]]:
    """The cells of the CSV and the XLSX: figures against targets and last year, months,
    points, the paragraph. Sections are separated by an empty row."""
    where = report.point.name if report.point else "全部阅读点"
    out: list[list[Any]] = [[f"{org_name} {report.year} 年度报告（{where}）"], []]
    out.append(["指标", f"{report.year} 年", "目标", "完成率", f"{report.year - 1} 年"])
    this, last = report.figures.as_dict(), report.last_year.as_dict()
    for name, label in FIGURES:
        target = report.targets.get(name)
        pct = f"{this[name] * 100 / target:.1f}%" if target else ""
        out.append([label, this[name], target if target is not None else "", pct, last[name]])
    out.append(["志愿服务时长（小时）", this["volunteer_hours"], "", "", last["volunteer_hours"]])
    out.append([])
    out.append(["月份", "借阅人次", "阅读活动（场）", "活动儿童参与（人次）", "志愿服务时长（分钟）"])
    for m in report.months:
        out.append([m.month, m.loans, m.activities, m.attendance, m.volunteer_minutes])
    out.append([])
    out.append(["阅读点", "名称", "借阅人次", "阅读活动（场）", "活动儿童参与（人次）",
                "志愿者参与（人次）", "志愿服务时长（分钟）", "服务儿童（人）"])
    for p in report.points:
        f = p.figures
        out.append([p.code, p.name, f.loans, f.activities, f.attendance,
                    f.volunteer_participations, f.volunteer_minutes, f.children_served])
    out.append([])
    out.append(["年度总结"])
    out.append([report.summary])
    return [[spreadsheet_safe(c) for c in row] for row in out]


def filename(report: AnnualReport, ext: str) -> str:
    point = f"-{report.point.code}" if report.point is not None else ""
    return f"annual-report-{report.year}{point}.{ext}"


def csv_bytes(report: AnnualReport, settings: LibrarySettings) -> bytes:
    """UTF-8 with a BOM: Excel on Chinese Windows then opens the Chinese text correctly."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows(report, settings.org_name))
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(report: AnnualReport, settings: LibrarySettings) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = f"{report.year} 年度报告"
    ws.column_dimensions["A"].width = 26
    for col in "BCDEFGH":
        ws.column_dimensions[col].width = 16
    previous_blank = True
    for row in rows(report, settings.org_name):
        ws.append(row)
        if row and previous_blank:
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
        previous_blank = not row
    body = io.BytesIO()
    wb.save(body)
    return body.getvalue()


def year_counters(session: Session, now: datetime, settings: LibrarySettings) -> tuple[int, int, int]:
    """(year, activities held, volunteer minutes) so far this local year: the home page's counters."""
    tz = ZoneInfo(settings.timezone)
    year = now.astimezone(tz).year
    start, end = year_bounds(year, tz)
    in_year = [Activity.started_at >= start, Activity.started_at < end]
    held = session.scalar(select(func.count()).select_from(Activity).where(*in_year)) or 0
    minutes = session.scalar(select(func.coalesce(func.sum(ActivityVolunteer.minutes), 0))
                             .join(Activity, Activity.id == ActivityVolunteer.activity_id)
                             .where(*in_year)) or 0
    return year, int(held), int(minutes)
