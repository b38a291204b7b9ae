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
    from library_app.ops.backup import backup

    try:
        backup(current_app.config["DATABASE_URL"], path)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        raise click.ClickException(f"备份失败：{exc}") from exc
    click.echo(f"备份完成：{path}")


# waitress's defaults (100 connections, 120 s idle) let ~100 idle or slow connections shut out
# every phone for two minutes. Phones on mobile data open a few keep-alive connections each and
# stay silent between scans: 1,000 connections (a few KB each) and 30 s of silence, checked every
# 5 s, keep the door open. nginx in front adds per-address limits and buffering (docs/deploy.md).
SERVE_LIMITS = {"connection_limit": 1000, "channel_timeout": 30, "cleanup_interval": 5}


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True,
              help="0.0.0.0 to let phones on the same network connect")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--connection-limit", default=SERVE_LIMITS["connection_limit"], show_default=True,
              type=click.IntRange(min=10), help="同时打开的连接数上限")
@click.option("--channel-timeout", default=SERVE_LIMITS["channel_timeout"], show_default=True,
              type=click.IntRange(min=1), help="连接空闲多少秒后关闭")
def serve_command(host: str, port: int, threads: int, connection_limit: int,
                  channel_timeout: int) -> None:
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
    _allow_open_files(connection_limit + 64)
    serve(current_app._get_current_object(), host=host, port=port, threads=threads,  # type: ignore[attr-defined]
          ident="library_app", clear_untrusted_proxy_headers=not behind_proxy,
          connection_limit=connection_limit, channel_timeout=channel_timeout,
          cleanup_interval=min(SERVE_LIMITS["cleanup_interval"], channel_timeout))



def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit of open files to what the connection limit needs, where the OS
    lets a process do that itself (Linux's usual soft limit is 1,024)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
