"""Restore a backup made by ``backup``: a SQLite file, or a pg_dump archive for PostgreSQL.

SQLite: the backup is checked first (integrity, and that it is a library database), the current
database is kept beside itself as ``<name>.before-restore-<time>``, then the backup's pages are
written into the database file with SQLite's backup API (so an open WAL file cannot leave a mix
of old and new pages), and the schema is upgraded in case the backup is from an older version.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from library_app.db import upgrade
from library_app.ops.backup import backup
from library_app.ops.files import private_sqlite

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class RestoreError(RuntimeError):
    """The restore refused or failed; the message is for people (Chinese)."""


def backup_kind(path: Path) -> str:
    """'sqlite', 'pgdump' or 'unknown', from the file's first bytes (not its name)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pgdump"
    return "unknown"


def check_sqlite_backup(path: Path) -> dict[str, int]:
    """Integrity check and row counts of a SQLite backup; raises RestoreError if unusable."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise RestoreError(f"备份文件已损坏（integrity_check: {verdict}），请换一个备份。")
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in names or "loans" not in names:
            raise RestoreError("这个文件不是本系统的备份。")
        return {
            name: con.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            for name in ("points", "titles", "copies", "borrowers", "loans", "users")
            if name in names
        }
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"无法读取备份文件：{exc}") from exc
    finally:
        con.close()


def restore_sqlite(backup_file: Path, database: Path, keep_current: bool = True) -> Path | None:
    """Replace the SQLite database at ``database`` with ``backup_file``'s content.

    Returns where the previous content was kept (None if there was none or not asked).
    """
    check_sqlite_backup(backup_file)
    database.parent.mkdir(parents=True, exist_ok=True)
    kept: Path | None = None
    if keep_current and database.exists() and database.stat().st_size > 0:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = database.with_name(f"{database.name}.before-restore-{stamp}")
        backup("sqlite:///" + str(database), kept)
    private_sqlite(database)
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(database, timeout=30)
        try:
            src.backup(dst)
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":  # pragma: no cover - the source was just checked
                raise RestoreError(f"恢复后的数据库检查未通过：{verdict}")
        finally:
            dst.close()
    finally:
        src.close()
    upgrade("sqlite:///" + str(database))
    return kept


def restore_postgres(backup_file: Path, url: str) -> None:
    """pg_restore a ``pg_dump --format=custom`` archive over the database at ``url``."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise RestoreError("找不到 pg_restore，请安装 PostgreSQL 客户端（postgresql-client）。")
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
         "--single-transaction", "--exit-on-error", "--dbname", libpq_url, str(backup_file)],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise RestoreError("pg_restore 失败：" + (done.stderr.strip() or str(done.returncode)))
    upgrade(url)


def restore(backup_file: Path, url: str, keep_current: bool = True) -> Path | None:
    backup_file = Path(backup_file)
    if not backup_file.is_file():
        raise RestoreError(f"找不到备份文件：{backup_file}")
    kind = backup_kind(backup_file)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        database = make_url(url).database
        if not database:
            raise RestoreError("内存数据库无法恢复。")
        if kind != "sqlite":
            raise RestoreError("当前数据库是 SQLite，这个文件不是 SQLite 备份。")
        return restore_sqlite(backup_file, Path(database), keep_current)
    if backend == "postgresql":
        if kind == "sqlite":
            raise RestoreError(
                "这是 SQLite 备份；要把它放进 PostgreSQL，请用 copy-to-postgres 命令（见 docs/deploy.md）。"
            )
        if kind != "pgdump":
            raise RestoreError("这个文件不是 pg_dump 备份（backup 命令在 PostgreSQL 上生成的文件）。")
        restore_postgres(backup_file, url)
        return None
    raise RestoreError(f"不支持恢复 {backend} 数据库。")


def rotate(folder: Path, prefix: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups named ``prefix*`` in ``folder``."""
    files = sorted(folder.glob(prefix + "*"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    old = [p for p in files if not p.name.endswith(".part")][keep:]
    for path in old:
        path.unlink()
    return old
