"""``flask --app library_app seed-demo [--force]``: load the demo organisation."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from library_app.db import session_factory
from library_app.domain.errors import RuleBroken
from library_app.services.settings import get_settings
from library_app.web import utcnow

from .seed import seed_demo


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)


@click.command("seed-demo")
@with_appcontext
@click.option("--force", is_flag=True, help="即使数据库里已有书目、小读者或借阅记录也加入演示数据")
def seed_demo_command(force: bool) -> None:
    """Load demo data: 4 Zhuhai points, ~300 titles, ~900 copies, ~250 children, 4 story mothers
    (mama1…mama4), a librarian (librarian), this year's loans and last year's paper tallies.
    The demo accounts' password is gushihui-demo. Refuses a database that holds titles, copies,
    children or loans unless --force (then adds the demo data beside them)."""
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
