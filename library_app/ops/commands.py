"""Operations commands: restore, dated backups with rotation, and the SQLite → PostgreSQL move.

    flask --app library_app restore BACKUP_FILE [--yes]
    flask --app library_app backup-rotate FOLDER [--keep 30]
    flask --app library_app copy-to-postgres postgresql+psycopg://USER:PW@HOST/DB [--replace]
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .copydb import CopyError, copy_database, safe_url
from .restore import RestoreError, backup_kind, check_sqlite_backup, restore, rotate

BACKUP_PREFIX = "library-"


def register(app: Flask) -> None:
    app.cli.add_command(restore_command)
    app.cli.add_command(backup_rotate_command)
    app.cli.add_command(copy_to_postgres_command)


def _dispose_app_engine() -> None:
    """Close the app's pooled connections so nothing of the old database stays cached."""
    db = current_app.extensions.get("library_db")
    if db is not None and db.engine is not None:
        db.engine.dispose()


@click.command("restore")
@with_appcontext
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="不再询问，直接覆盖当前数据库")
@click.option("--no-keep", is_flag=True, help="不保留恢复前的数据库副本（默认保留在旁边）")
def restore_command(backup_file: Path, yes: bool, no_keep: bool) -> None:
    """Replace the current database with a backup made by `backup` (stop the app first)."""
    url = current_app.config["DATABASE_URL"]
    kind = backup_kind(backup_file)
    if kind == "sqlite" and url.startswith("sqlite"):
        try:
            counts = check_sqlite_backup(backup_file)
        except RestoreError as exc:
            raise click.ClickException(str(exc)) from exc
        summary = "，".join(f"{name} {n} 行" for name, n in counts.items())
        click.echo(f"备份文件检查通过（integrity_check = ok）：{summary}")
    if not yes:
        click.confirm(
            f"将用 {backup_file} 覆盖当前数据库 {safe_url(url)}。请先停止借阅系统服务。确定继续吗？",
            abort=True,
        )
    _dispose_app_engine()
    try:
        kept = restore(backup_file, url, keep_current=not no_keep)
    except (RestoreError, OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"恢复失败：{exc}") from exc
    if kept is not None:
        click.echo(f"恢复前的数据库已保存为：{kept}")
    click.echo(f"恢复完成：{safe_url(url)} 现在是 {backup_file} 的内容。请重新启动借阅系统服务。")


@click.command("backup-rotate")
@with_appcontext
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", default=30, show_default=True, type=click.IntRange(min=1),
              help="保留最新的几份备份，更早的删除")
def backup_rotate_command(folder: Path, keep: int) -> None:
    """Back up into FOLDER as library-YYYYMMDD-HHMMSS.<ext>, keeping the newest --keep files.

    Meant for a schedule (cron, systemd timer, Windows Task Scheduler): no date arithmetic in
    shell scripts needed.
    """
    from library_app.ops.backup import backup
    from library_app.ops.files import private_dir

    url = current_app.config["DATABASE_URL"]
    ext = "sqlite3" if url.startswith("sqlite") else "pgdump"
    private_dir(folder)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = folder / f"{BACKUP_PREFIX}{stamp}.{ext}"
    n = 1
    while dest.exists():  # two runs in the same second keep both files
        n += 1
        dest = folder / f"{BACKUP_PREFIX}{stamp}-{n}.{ext}"
    try:
        backup(url, dest)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        raise click.ClickException(f"备份失败：{exc}") from exc
    if ext == "sqlite3":
        try:
            check_sqlite_backup(dest)
        except RestoreError as exc:
            raise click.ClickException(f"备份已写出但检查未通过：{exc}") from exc
    removed = rotate(folder, BACKUP_PREFIX, keep)
    click.echo(f"备份完成：{dest}" + (f"（删除了 {len(removed)} 份旧备份）" if removed else ""))


@click.command("copy-to-postgres")
@with_appcontext
@click.argument("target_url")
@click.option("--replace", is_flag=True, help="目标库已有数据时先清空（谨慎）")
def copy_to_postgres_command(target_url: str, replace: bool) -> None:
    """Copy every table of the current database into TARGET_URL and verify the row counts.

    TARGET_URL is a SQLAlchemy URL such as postgresql+psycopg://library:PW@127.0.0.1/library.
    Stop the app first so no loan is written after the copy; then set LIBRARY_DATABASE_URL to
    TARGET_URL and start it again.
    """
    source_url = current_app.config["DATABASE_URL"]
    if target_url.startswith("postgresql://"):
        # The driver this project installs; a bare postgresql:// would look for psycopg2.
        target_url = "postgresql+psycopg://" + target_url[len("postgresql://"):]
    click.echo(f"从 {safe_url(source_url)} 复制到 {safe_url(target_url)} …")

    def progress(table: str, rows: int) -> None:
        click.echo(f"  {table}: {rows} 行")

    try:
        counts = copy_database(source_url, target_url, replace=replace, progress=progress)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    total = sum(c.source for c in counts)
    click.echo(f"核对完成：{len(counts)} 张表、共 {total} 行，源库与目标库逐表行数一致。")
    click.echo("下一步：停止服务，把 LIBRARY_DATABASE_URL 设为目标库地址，再启动。")
