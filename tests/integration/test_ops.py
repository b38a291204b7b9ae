"""Operations: backup while loans are written, restore, rotation, and the SQLite → PostgreSQL move."""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from library_app import create_app
from library_app.db import make_engine, session_factory, writer
from library_app.domain.codes import make_code
from library_app.domain.reports import local_day
from library_app.models import AuditLog, Base, Copy, Loan, Point, Setting
from tests.conftest import PG_URL, missing

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _sqlite_file(url: str) -> Path:
    return Path(make_url(url).database)


def _pad(app, megabytes: int) -> None:
    """Make the database a few MB so that a backup is more than a trivial copy."""
    with app.app_context(), session_factory()() as db:
        now = datetime.now(UTC)
        db.add_all(AuditLog(at=now, action="pad", details={"p": "x" * 2000})
                   for _ in range(megabytes * 500))
        db.commit()


class LoanWriter(threading.Thread):
    """Keeps lending new copies, one committed transaction per loan, until stopped."""

    def __init__(self, url: str, title_id: int, borrower_id: int, point_id: int) -> None:
        super().__init__(daemon=True)
        self.engine = writer(make_engine(url))
        self.ids = (title_id, borrower_id, point_id)
        self.committed: list[int] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def lend_one(self, n: int, db: Session) -> Loan:
        title_id, borrower_id, point_id = self.ids
        copy = Copy(code=make_code("copy", 500000 + n), title_id=title_id, home_point_id=point_id,
                    current_point_id=point_id, status="on_loan")
        db.add(copy)
        db.flush()
        now = datetime.now(UTC)
        loan = Loan(copy_id=copy.id, title_id=title_id, borrower_id=borrower_id, point_id=point_id,
                    lent_at=now, lent_day=local_day(now, ZoneInfo("Asia/Shanghai")),
                    due_at=now + timedelta(days=14), event_id=str(uuid.uuid4()))
        db.add(loan)
        db.flush()
        return loan

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                with Session(self.engine) as db:
                    loan = self.lend_one(n, db)
                    db.commit()
                    self.committed.append(loan.id)
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.engine.dispose()


@sqlite_only
def test_backup_while_loans_are_written_then_restore_into_a_fresh_file(app, make, runner, db_url, tmp_path):
    make.point("P01")
    title = make.title()
    child = make.borrower()
    with app.app_context(), session_factory()() as db:
        point_id = db.scalar(select(Point.id).where(Point.code == "P01"))
    _pad(app, 4)

    loans = LoanWriter(db_url, title.id, child.id, point_id)
    loans.start()
    try:
        while len(loans.committed) < 20 and loans.is_alive():
            threading.Event().wait(0.01)
        assert loans.error is None and len(loans.committed) >= 20
        committed_before = list(loans.committed)
        dest = tmp_path / "backups" / "during-writes.sqlite3"
        r = runner.invoke(args=["backup", str(dest)])
        assert r.exit_code == 0, r.output
        written_during = len(loans.committed) - len(committed_before)
        while len(loans.committed) < len(committed_before) + written_during + 5 and loans.is_alive():
            threading.Event().wait(0.01)
    finally:
        loans.stop.set()
        loans.join(timeout=30)
    assert loans.error is None, loans.error
    assert len(loans.committed) > len(committed_before)  # writing went on after the backup

    # Restore into a fresh database file with the restore command of another installation.
    fresh = tmp_path / "fresh" / "library.sqlite3"
    other = create_app({"TESTING": True, "DATABASE_URL": "sqlite:///" + str(fresh),
                        "SECRET_KEY": "x"})
    r = other.test_cli_runner().invoke(args=["restore", str(dest), "--yes"])
    assert r.exit_code == 0, r.output
    assert "integrity_check = ok" in r.output and "恢复完成" in r.output
    other.extensions["library_db"].engine.dispose()

    con = sqlite3.connect(fresh)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        restored = {row[0] for row in con.execute("SELECT id FROM loans")}
        # each restored loan is whole: its copy is there too
        orphans = con.execute("SELECT COUNT(*) FROM loans LEFT JOIN copies ON copies.id = loans.copy_id "
                              "WHERE copies.id IS NULL").fetchone()[0]
    finally:
        con.close()
    assert set(committed_before) <= restored
    assert restored <= set(loans.committed)  # nothing uncommitted, nothing invented
    assert orphans == 0


@sqlite_only
def test_backup_does_not_wait_for_an_open_write_and_leaves_it_out(app, make, runner, db_url, tmp_path):
    make.point("P01")
    title, child = make.title(), make.borrower()
    with app.app_context(), session_factory()() as db:
        point_id = db.scalar(select(Point.id).where(Point.code == "P01"))
    loans = LoanWriter(db_url, title.id, child.id, point_id)
    with Session(loans.engine) as db:
        loans.lend_one(1, db)
        db.commit()
    with Session(loans.engine) as open_tx:
        uncommitted = loans.lend_one(2, open_tx).id  # BEGIN IMMEDIATE: holds the write lock
        dest = tmp_path / "b.sqlite3"
        r = runner.invoke(args=["backup", str(dest)])
        assert r.exit_code == 0, r.output
        open_tx.commit()
    loans.engine.dispose()
    con = sqlite3.connect(dest)
    ids = {row[0] for row in con.execute("SELECT id FROM loans")}
    con.close()
    assert len(ids) == 1 and uncommitted not in ids


@sqlite_only
def test_restore_replaces_the_database_and_keeps_the_old_one_beside_it(app, make, runner, db_url, tmp_path):
    make.point("P01", "备份时的阅读点")
    dest = tmp_path / "b.sqlite3"
    assert runner.invoke(args=["backup", str(dest)]).exit_code == 0
    make.point("P02", "备份之后加的")

    r = runner.invoke(args=["restore", str(dest)], input="n\n")
    assert r.exit_code != 0 and "确定继续吗" in r.output  # asks first; "no" changes nothing
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(func.count(Point.id))) == 2

    r = runner.invoke(args=["restore", str(dest)], input="y\n")
    assert r.exit_code == 0, r.output
    with app.app_context(), session_factory()() as db:
        assert db.scalars(select(Point.name)).all() == ["备份时的阅读点"]
    kept = list(_sqlite_file(db_url).parent.glob("library.sqlite3.before-restore-*"))
    assert len(kept) == 1
    con = sqlite3.connect(kept[0])
    assert sorted(r[0] for r in con.execute("SELECT code FROM points")) == ["P01", "P02"]
    con.close()


@sqlite_only
def test_restore_refuses_a_file_that_is_not_a_library_backup(runner, tmp_path):
    text_file = tmp_path / "notes.sqlite3"
    text_file.write_text("not a database")
    r = runner.invoke(args=["restore", str(text_file), "--yes"])
    assert r.exit_code != 0 and "不是 SQLite 备份" in r.output
    other = tmp_path / "other.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    r = runner.invoke(args=["restore", str(other), "--yes"])
    assert r.exit_code != 0 and "不是本系统的备份" in r.output
    broken = tmp_path / "broken.sqlite3"
    data = bytearray(Path(other).read_bytes())
    data[4096:4200] = b"\xff" * 104  # damage the table's page
    broken.write_bytes(bytes(data))
    r = runner.invoke(args=["restore", str(broken), "--yes"])
    assert r.exit_code != 0 and ("损坏" in r.output or "无法读取" in r.output or "不是本系统" in r.output)


@sqlite_only
def test_backup_rotate_writes_dated_files_and_keeps_the_newest(make, runner, tmp_path):
    make.point("P01")
    folder = tmp_path / "backups"
    folder.mkdir()
    for day in ("20250101", "20250102", "20250103"):
        old = folder / f"library-{day}-000000.sqlite3"
        old.write_bytes(b"old")
        os.utime(old, (1_700_000_000 + int(day), 1_700_000_000 + int(day)))
    (folder / "unrelated.txt").write_text("keep me")
    r = runner.invoke(args=["backup-rotate", str(folder), "--keep", "2"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["backup-rotate", str(folder), "--keep", "2"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in folder.iterdir())
    assert "unrelated.txt" in names and len(names) == 3
    assert not any(n.startswith("library-2025") for n in names)  # the old ones went first
    for path in folder.glob("library-*.sqlite3"):
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT code FROM points").fetchall() == [("P01",)]
        con.close()


# ---------------------------------------------------------------- SQLite → PostgreSQL


@pytest.fixture
def pg_target():
    """A brand-new PostgreSQL database for the copy, dropped afterwards."""
    name = f"lib_copy_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        missing(f"PostgreSQL not reachable for the copy test: {exc.__class__.__name__}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _all_rows(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@sqlite_only
def test_copy_to_postgres_copies_every_table_and_verifies_counts(app, make, runner, db_url, pg_target):
    lent = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    copies = [make.copy(point="P01"), make.copy(point="P02")]
    kids = [make.borrower("李小花"), make.borrower("张三", point="P02")]
    make.user("mama", "story_mother", points=["P01", "P02"])
    make.loan(copies[0], kids[0], lent_at=lent)
    make.loan(copies[1], kids[1], point="P02", lent_at=lent, returned_at=lent + timedelta(days=3))
    with app.app_context(), session_factory()() as db:
        db.add(Setting(key="loan_limit", value={"v": 5}, updated_at=lent))
        db.add(AuditLog(at=lent, action="test", details={"中文": ["明细", 1, True]}))
        db.commit()
    source = _all_rows(db_url)

    r = runner.invoke(args=["copy-to-postgres", pg_target])
    assert r.exit_code == 0, r.output
    assert "逐表行数一致" in r.output and "loans: 2 行" in r.output

    copied = _all_rows(pg_target)
    assert copied == source  # every row of every table, with types (times, JSON, booleans) intact
    assert sum(len(rows) for rows in copied.values()) >= 15

    # A second run refuses to write over what is there; --replace starts again from empty.
    r = runner.invoke(args=["copy-to-postgres", pg_target])
    assert r.exit_code != 0 and "已经有数据" in r.output
    r = runner.invoke(args=["copy-to-postgres", pg_target, "--replace"])
    assert r.exit_code == 0, r.output
    assert _all_rows(pg_target) == source

    # Sequences were moved past the copied ids: the app on PostgreSQL adds rows without clashes.
    moved = create_app({"TESTING": True, "DATABASE_URL": pg_target, "SECRET_KEY": "x"})
    try:
        with moved.app_context(), session_factory()() as db:
            point = Point(code="P03", name="搬家后新建", address="", active=True)
            log = AuditLog(at=lent, action="after-move", details={})
            db.add_all([point, log])
            db.commit()
            assert point.id == max(row[0] for row in source["points"]) + 1
            assert log.id == max(row[0] for row in source["audit_log"]) + 1
            assert db.scalar(select(func.count(Loan.id)).where(Loan.returned_at.is_(None))) == 1
    finally:
        moved.extensions["library_db"].engine.dispose()


@sqlite_only
def test_copy_to_postgres_refuses_a_source_that_is_behind_the_code(app, runner, db_url, pg_target):
    con = sqlite3.connect(_sqlite_file(db_url))
    con.execute("UPDATE alembic_version SET version_num = 'older'")
    con.commit()
    con.close()
    r = runner.invoke(args=["copy-to-postgres", pg_target])
    assert r.exit_code != 0 and "init-db" in r.output


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_backup_is_a_pg_dump_that_restore_brings_back(app, make, runner, tmp_path):
    make.point("P01", "备份时的阅读点")
    dest = tmp_path / "library.pgdump"
    r = runner.invoke(args=["backup", str(dest)])
    assert r.exit_code == 0, r.output
    assert dest.read_bytes().startswith(b"PGDMP")
    make.point("P02", "备份之后加的")
    r = runner.invoke(args=["restore", str(dest), "--yes"])
    assert r.exit_code == 0, r.output
    with app.app_context(), session_factory()() as db:
        assert db.scalars(select(Point.name)).all() == ["备份时的阅读点"]
        db.add(Point(code="P03", name="恢复后新建", address="", active=True))
        db.commit()  # the id sequence came back with the data


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_sqlite_backup_is_not_restored_into_postgres(runner, tmp_path):
    path = tmp_path / "b.sqlite3"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    r = runner.invoke(args=["restore", str(path), "--yes"])
    assert r.exit_code != 0 and "copy-to-postgres" in r.output
