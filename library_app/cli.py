"""Command-line tasks: flask --app library_app <command>.

The app's own commands are here (create-user, backup, serve; init-db is the database's, in
``db.py``); each area that has commands of its own keeps them in ``<area>/commands.py`` with a
``register(app)``, and ``register`` below imports and calls each of them by name, so a module
that goes missing fails at start-up instead of silently dropping its commands.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from library_app.db import session_factory
from library_app.domain.errors import RuleBroken
from library_app.models.users import ROLES
from library_app.web import utcnow


def register(app: Flask) -> None:
    """Every command of the app and of its areas (called by ``create_app``)."""
    from library_app.borrowers import commands as borrowers
    from library_app.catalog import commands as catalog
    from library_app.demo import commands as demo
    from library_app.ops import commands as ops
    from library_app.reports import commands as reports

    app.cli.add_command(create_user_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(serve_command)
    for area in (catalog, borrowers, reports, demo, ops):
        area.register(app)


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--point", "points", multiple=True, help="阅读点编号，可重复，如 --point P01")
@click.option("--name", "display_name", default="", help="显示名称")
def create_user_command(username: str, role: str, password: str, points: tuple[str, ...],
                        display_name: str) -> None:
    """Create a user account (the first admin too)."""
    from library_app.services.users import create_user

    with session_factory()() as db:
        try:
            create_user(db, None, utcnow(), username=username, password=password, role=role,
                        display_name=display_name, point_codes=list(points))
        except RuleBroken as exc:
            raise click.ClickException(exc.message) from exc
        db.commit()
    click.echo(f"已创建用户 {username}（{role}）。")


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Write a consistent copy of the database to PATH while the app keeps serving."""
    from library_app.ops_backup import backup

    try:
        backup(current_app.config["DATABASE_URL"], path)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        raise click.ClickException(f"备份失败：{exc}") from exc
    click.echo(f"备份完成：{path}")


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True,
              help="0.0.0.0 to let phones on the same network connect")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (production WSGI server, also on Windows)."""
    from waitress import serve

    from library_app.db import session_factory as sessions
    from library_app.services.users import count_users

    with sessions(write=False)() as db:
        first_run = count_users(db) == 0
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"借阅系统已启动：http://{shown}:{port}/  (Ctrl+C 停止)")
    if first_run:
        click.echo(f"还没有账号：打开 http://{shown}:{port}/setup 创建第一个管理员，"
                   "或运行 flask --app library_app create-user NAME --role admin")
    from library_app.security import proxy_hops

    # waitress drops X-Forwarded-* unless told otherwise; behind nginx (LIBRARY_TRUST_PROXY) the
    # app's ProxyFix needs them for https (Secure cookie, HSTS) and the phone's address (throttling).
    behind_proxy = proxy_hops(current_app.config.get("TRUST_PROXY")) > 0
    if behind_proxy and host not in ("127.0.0.1", "::1", "localhost"):
        click.echo("注意：已设置 LIBRARY_TRUST_PROXY，只应监听 127.0.0.1，否则手机可以伪造地址和 https。")
    serve(current_app._get_current_object(), host=host, port=port, threads=threads,  # type: ignore[attr-defined]
          ident="library_app", clear_untrusted_proxy_headers=not behind_proxy)
