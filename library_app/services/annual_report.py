"""The annual report (年度报告): every figure of api.md for a year, per point, month by month,
against the year's targets, last year's, and the paragraph to paste.

Months and the year are the organisation's zone's. The figures of a year are counted in SQL
by ``annual_figures`` (this module's one way to them); here they are put together with the
year's targets, last year's figures and the summary paragraph, and written as CSV or XLSX.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from library_app.domain.activities import FIGURES, Figures, summary_paragraph
from library_app.domain.reports import spreadsheet_safe, year_bounds
from library_app.domain.settings import LibrarySettings
from library_app.models import Activity, ActivityVolunteer, FigureTarget, Point, User, YearTarget

from . import audit
from .annual_figures import MonthRow, year_figures, year_totals
from .errors import Invalid, NotFound
from .reports import loans_to_same_moment_last_year

FIGURE_NAMES = [name for name, _ in FIGURES]
MONTH_FIGURES = ("loans", "activities", "attendance", "volunteer_minutes")


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
    as_of: date | None = None  # the year is not over: its figures run to this local date
    last_year_loans_to_date: int | None = None  # with ``as_of``: last year's loans to the same date
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
        body["as_of"] = self.as_of.isoformat() if self.as_of else None
        body["last_year_loans_to_date"] = self.last_year_loans_to_date
        body["summary"] = self.summary
        return body


def targets_for(session: Session, year: int, settings: LibrarySettings) -> dict[str, int | None]:
    """The year's target for each figure: loans from ``year_targets`` (12,000 unless set), the
    others from ``figure_targets`` (none unless set)."""
    targets: dict[str, int | None] = dict.fromkeys(FIGURE_NAMES)
    targets["loans"] = settings.default_year_target
    targets.update(stored_targets(session, year))
    return targets


def stored_targets(session: Session, year: int) -> dict[str, int]:
    """The targets set for ``year`` (not the default loans target): what the targets form shows."""
    found = {figure: target for figure, target in session.execute(
        select(FigureTarget.figure, FigureTarget.target).where(FigureTarget.year == year))
        if figure in FIGURE_NAMES and figure != "loans"}
    row = session.get(YearTarget, year)
    if row is not None:
        found["loans"] = row.target
    return found


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
    this = year_figures(session, year, tz, pid)
    last = year_totals(session, year - 1, tz, pid)
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
    # This year's report before the year is over: its figures so far, told as such and compared
    # with last year's to the same date (services.reports.year, as the year page does).
    today = now.astimezone(tz).date()
    as_of = today if today.year == year else None
    to_date = loans_to_same_moment_last_year(session, now, year, tz, pid)[0] if as_of else None
    text = summary_paragraph(year, this.figures, serving, org, last, as_of=as_of,
                             last_year_loans_to_date=to_date)
    return AnnualReport(year=year, point=point, figures=this.figures, months=this.months,
                        points=rows, last_year=last,
                        targets=targets_for(session, year, settings), summary=text,
                        tallies=this.tallies, metric=settings.count_metric, as_of=as_of,
                        last_year_loans_to_date=to_date)


# ---------------------------------------------------------------- downloads


def rows(report: AnnualReport, org_name: str) -> list[list[Any]]:
    """The cells of the CSV and the XLSX: figures against targets and last year, months,
    points, the paragraph. Sections are separated by an empty row."""
    where = report.point.name if report.point else "全部阅读点"
    as_of = f"，截至 {report.as_of.isoformat()}" if report.as_of else ""
    out: list[list[Any]] = [[f"{org_name} {report.year} 年度报告（{where}{as_of}）"], []]
    out.append(["指标", f"{report.year} 年", "目标", "完成率", f"{report.year - 1} 年" + ("（全年）" if report.as_of else "")])
    this, last = report.figures.as_dict(), report.last_year.as_dict()
    for name, label in FIGURES:
        target = report.targets.get(name)
        pct = f"{this[name] * 100 / target:.1f}%" if target else ""
        out.append([label, this[name], target if target is not None else "", pct, last[name]])
    out.append(["志愿服务时长（小时）", this["volunteer_hours"], "", "", last["volunteer_hours"]])
    if report.as_of and report.last_year_loans_to_date is not None:
        out.append([f"借阅人次，{report.year - 1} 年同期（截至 {report.as_of.month} 月 {report.as_of.day} 日）",
                    report.last_year_loans_to_date])
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
