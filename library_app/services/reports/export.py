"""The month report as rows of cells for the CSV and XLSX downloads (the cells are escaped
and written in ``library_app.reports.exports``)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from library_app.domain import reports as rules
from library_app.domain.roles import ROLE_NAMES

from .month import MonthReport


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
        ["指标", report.month.label, f"{report.previous_words}（{report.compared_label(prev)}）",
         f"{report.last_year_words}（{report.compared_label(ly)}）"],
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
             + ["纸质记录", f"{report.previous_words}借出", f"{report.last_year_words}借出"]]
    rows += [[p.code, p.name, p.loans] + ([p.visits] if visits else []) + [p.tally, p.previous, p.last_year]
             for p in report.points]
    rows += [[], ["年龄段", "借出次数"]] + [[r.label, r.loans] for r in report.age_bands]
    rows += [[], ["分类", "借出次数"]] + [[r.label, r.loans] for r in report.categories]
    rows += [[], ["热门书目", "借出次数"]] + [[r.label, r.loans] for r in report.top_titles]
    if report.staff is not None:
        rows += [[], ["经办人", "角色", "借出", "归还"]]
        rows += [[s.name, ROLE_NAMES.get(s.role, s.role), s.loans, s.returns] for s in report.staff]
    return rows
