"""Catalog commands: flask --app library_app import-titles FILE [--partial] [--copies N --point P01]."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from library_app.db import session_factory
from library_app.domain.errors import RuleBroken
from library_app.web import utcnow


@click.command("import-titles")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partial", is_flag=True, help="导入没有错误的行，跳过有错误的行")
@click.option("--copies", default=0, show_default=True, help="MARC 文件：每条记录建几册")
@click.option("--point", default="", help="MARC 文件：馆藏所在阅读点编号，如 P01")
def import_titles_command(path: Path, partial: bool, copies: int, point: str) -> None:
    """Import titles (and copies) from a CSV (UTF-8/GBK), XLSX or MARC file; all or nothing."""
    from library_app.services.catalog_import import ImportRefused, import_titles

    with session_factory()() as db:
        try:
            result = import_titles(db, None, utcnow(), path.read_bytes(), path.name,
                                   partial=partial, copies=copies, point=point)
        except ImportRefused as exc:
            for row, message in exc.errors[:50]:
                click.echo(f"第 {row} 行：{message}", err=True)
            raise click.ClickException(exc.message) from exc
        except RuleBroken as exc:
            raise click.ClickException(exc.message) from exc
        db.commit()
    click.echo(f"已导入：新建书目 {result.created} 种，馆藏 {result.copies_created} 册。")
    for row, message in result.errors:
        click.echo(f"跳过第 {row} 行：{message}", err=True)


def register(app: Flask) -> None:
    app.cli.add_command(import_titles_command)
