"""CLI for the reports area: ``report --month YYYY-MM``, ``seed-demo [--force]`` and
``recompute-days`` (after the time zone changed in the configuration)."""

from __future__ import annotations

import time
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
    app.cli.add_command(seed_demo_command)
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
            f"  {label}：{getattr(f, name)}    比上月 {_pct(report.change(name, 'previous'))}"
            f"    比去年同月 {_pct(report.change(name, 'last_year'))}")
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
    p = year.progress
    lines.append(f"{year.year} 年累计：{p.count} / 目标 {p.target}（{p.percent}%）")
    click.echo("\n".join(lines))


@click.command("seed-demo")
@with_appcontext
@click.option("--force", is_flag=True, help="即使数据库里已有书目、小读者或借阅记录也加入演示数据")
def seed_demo_command(force: bool) -> None:
    """Load demo data: 4 Zhuhai points, ~300 titles, ~900 copies, ~250 children, 4 story mothers
    (mama1…mama4), a librarian (librarian), this year's loans and last year's paper tallies.
    The demo accounts' password is gushihui-demo. Refuses a database that holds titles, copies,
    children or loans unless --force (then adds the demo data beside them)."""
    from library_app.services.demo import seed_demo

    started = time.perf_counter()
    with session_factory()() as db:
        settings = get_settings(db, current_app.config)
        try:
            summary = seed_demo(db, utcnow(), settings, force=force)
        except RuleBroken as exc:
            raise click.ClickException(exc.message) from exc
        db.commit()
    took = time.perf_counter() - started
    click.echo(
        f"演示数据已写入（{took:.1f} 秒）：阅读点 {summary.points} 个（新建），书目 {summary.titles} 种，"
        f"图书 {summary.copies} 册，小读者 {summary.borrowers} 人，"
        f"借阅 {summary.loans} 次（{summary.first_day} 起，未还 {summary.open_loans}，其中逾期 {summary.overdue}），"
        f"去年纸质记录 {summary.tallies} 条。")
    if summary.users_created:
        click.echo("演示账号（密码都是 " + summary.password + "）：")
        for line in summary.users_created:
            click.echo("  " + line)
    if summary.users_skipped:
        click.echo("已存在、未改动的账号：" + "、".join(summary.users_skipped))
    click.echo("管理员账号请用 create-user 创建，例如：flask --app library_app create-user admin --role admin")
