"""CLI for the reports area: ``report --month YYYY-MM`` and ``recompute-days`` (after the time
zone changed in the configuration)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from library_app.db import session_factory
from library_app.domain import reports as rules
from library_app.domain.errors import RuleBroken
from library_app.services.settings import get_settings
from library_app.web import utcnow


def register(app: Flask) -> None:
    app.cli.add_command(report_command)
    app.cli.add_command(recompute_days_command)


@click.command("recompute-days")
@with_appcontext
def recompute_days_command() -> None:
    """Rewrite each loan's local day in the organisation's time zone (visits are counted by it).

    Saving a new zone on the settings page does this by itself; run it after changing
    LIBRARY_TIMEZONE in the configuration instead."""
    from library_app.services.reports import recompute_lent_days

    with session_factory()() as db:
        zone = get_settings(db, current_app.config).timezone
        count = recompute_lent_days(db, ZoneInfo(zone))
        db.commit()
    click.echo(f"已按时区 {zone} 重新计算 {count} 条借阅记录的日期。")


def _pct(change: rules.Change) -> str:
    return change.words()


@click.command("report")
@with_appcontext
@click.option("--month", "month_text", default=None, help="月份 YYYY-MM，默认本月，例如 2026-10")
@click.option("--point", "point_code", default=None, help="只看一个阅读点，例如 P01")
def report_command(month_text: str | None, point_code: str | None) -> None:
    """Print the month's summary (月度报告摘要)."""
    from library_app.services import reports as service

    with session_factory(write=False)() as db:
        settings = get_settings(db, current_app.config)
        tz = ZoneInfo(settings.timezone)
        now = utcnow()
        try:
            month = rules.parse_month(month_text) if month_text else rules.current_month(now, tz)
            report = service.month_report(db, now, month, settings, point_code=point_code,
                                          with_people=True)
            year = service.year_report(db, now, month.year, settings)
        except RuleBroken as exc:
            raise click.ClickException(exc.message) from exc
    f = report.figures
    scope = f"{report.point.code} {report.point.name}" if report.point else "全部阅读点"
    lines = [
        f"{settings.org_name} {month.label} 月度报告（{scope}，统计口径：{rules.METRIC_NAMES[report.metric]}）",
    ]
    if report.state == "current":
        lines.append(f"本月尚未结束，数据截至 {report.as_of.astimezone(tz):%Y-%m-%d %H:%M}")
    for name, label in (("count", "借阅人次"), ("loans", "借出次数"), ("returns", "归还次数"),
                        ("distinct_borrowers", "借阅人数"), ("new_borrowers", "新登记小读者"),
                        ("overdue_at_end", "月末逾期未还")):
        lines.append(
            f"  {label}：{getattr(f, name)}    比{report.previous_words} {_pct(report.change(name, 'previous'))}"
            f"    比{report.last_year_words} {_pct(report.change(name, 'last_year'))}")
    if f.tally:
        lines.append(f"  （其中纸质记录 {f.tally}）")
    lines.append("各阅读点：")
    for p in report.points:
        lines.append(f"  {p.code} {p.name}：{p.loans + p.tally}")
    if report.top_titles:
        lines.append("热门书目：")
        for i, r in enumerate(report.top_titles[:5], start=1):
            lines.append(f"  {i}. 《{r.label}》 {r.loans}")
    if report.staff:
        lines.append("经办人：")
        for s in report.staff:
            lines.append(f"  {s.name}：借出 {s.loans}，归还 {s.returns}")
    progress = year.progress
    lines.append(f"{year.year} 年累计：{progress.count} / 目标 {progress.target}（{progress.percent}%）")
    click.echo("\n".join(lines))
