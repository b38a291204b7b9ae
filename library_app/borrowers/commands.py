"""CLI for the borrowers area: flask --app library_app anonymise-left [--months N] [--dry-run]."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from library_app.db import session_factory
from library_app.web import utcnow


@click.command("anonymise-left")
@with_appcontext
@click.option("--months", type=click.IntRange(min=0), default=None,
              help="离开超过多少个月的小读者将被匿名化（默认取设置中的保留期限）")
@click.option("--dry-run", is_flag=True, help="只列出将被匿名化的人数，不做修改")
def anonymise_left_command(months: int | None, dry_run: bool) -> None:
    """Anonymise borrowers who left more than N months ago (their loans still count)."""
    from library_app.services.privacy import anonymise_left
    from library_app.services.settings import get_settings

    with session_factory()() as db:
        if months is None:
            months = get_settings(db, current_app.config).retention_months
        ids = anonymise_left(db, utcnow(), months, dry_run=dry_run)
        if dry_run:
            click.echo(f"将匿名化 {len(ids)} 位离开超过 {months} 个月的借阅人（未修改）。")
            return
        db.commit()
    click.echo(f"已匿名化 {len(ids)} 位离开超过 {months} 个月的借阅人。")


def register(app: Flask) -> None:
    app.cli.add_command(anonymise_left_command)
