"""Backups: SQLite's online backup API (consistent while the app writes); pg_dump for PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from .files import private_dir, private_file


def backup(url: str, dest: Path) -> None:
    parsed = make_url(url)
    dest = Path(dest)
    if not dest.parent.exists():
        private_dir(dest.parent)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            raise RuntimeError("内存数据库无法备份")
        tmp = dest.with_suffix(dest.suffix + ".part")
        tmp.unlink(missing_ok=True)
        private_file(tmp)  # 0600 before a single page of children's data is in it
        src = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True, timeout=30)
        try:
            out = sqlite3.connect(tmp)
            try:
                # All pages in one step, inside one read transaction: in WAL mode writers go on
                # meanwhile. Copying in chunks restarts from page 1 whenever another connection
                # writes between chunks, and never finished on a 42 MB database written to every
                # few milliseconds (one step: 0.15 s).
                src.backup(out, pages=-1)
                out.execute("PRAGMA journal_mode=DELETE")
            finally:
                out.close()
        finally:
            src.close()
        tmp.replace(dest)
        return
    if parsed.get_backend_name() == "postgresql":
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise RuntimeError("找不到 pg_dump，请安装 PostgreSQL 客户端")
        libpq_url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        dest.unlink(missing_ok=True)
        private_file(dest)  # pg_dump writes into the file as it finds it
        subprocess.run(
            [pg_dump, "--format=custom", "--file", str(dest), libpq_url], check=True
        )
        return
    raise RuntimeError(f"不支持备份 {parsed.get_backend_name()} 数据库")
