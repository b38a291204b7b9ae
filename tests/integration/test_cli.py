import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from library_app.db import session_factory, upgrade
from library_app.models import Base, User


def test_create_user_then_login_token(runner, app, client):
    r = runner.invoke(args=["create-user", "boss", "--role", "admin", "--password", "long-enough-1"])
    assert r.exit_code == 0, r.output
    assert "已创建用户 boss" in r.output
    tok = client.post("/api/v1/auth/token", json={"username": "boss", "password": "long-enough-1"})
    assert tok.status_code == 200 and tok.get_json()["user"]["role"] == "admin"


def test_create_user_refuses_short_password_and_unknown_point(runner):
    r = runner.invoke(args=["create-user", "x", "--role", "admin", "--password", "short"])
    assert r.exit_code != 0 and "至少需要 8 个字符" in r.output
    r = runner.invoke(args=["create-user", "m", "--role", "story_mother", "--password", "long-enough-1", "--point", "P99"])
    assert r.exit_code != 0 and "P99" in r.output


def test_create_story_mother_with_points(runner, make, app):
    make.point("P01")
    r = runner.invoke(args=["create-user", "mama", "--role", "story_mother", "--password", "long-enough-1", "--point", "p01"])
    assert r.exit_code == 0, r.output
    with app.app_context(), session_factory()() as db:
        user = db.scalar(select(User).where(User.username == "mama"))
        assert user.point_codes() == ["P01"]


def test_init_db_is_safe_to_run_again(runner, app):
    assert runner.invoke(args=["init-db"]).exit_code == 0
    r = runner.invoke(args=["init-db"])
    assert r.exit_code == 0 and "数据库已就绪" in r.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backup_is_a_consistent_copy(runner, make, app, tmp_path):
    make.point("P07", "备份测试点")
    dest = tmp_path / "backup.sqlite3"
    r = runner.invoke(args=["backup", str(dest)])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(dest)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT name FROM points").fetchall() == [("备份测试点",)]
    con.close()


def test_migrations_build_the_models_schema_from_empty(db_url):
    """The migrated schema matches the models: no drift between Alembic and the code."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(db_url)
    with engine.connect() as conn:
        from library_app.db import include_for

        context = MigrationContext.configure(conn, opts={"include_object": include_for(conn.dialect.name)})
        diff = compare_metadata(context, Base.metadata)
        names = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert set(Base.metadata.tables) <= names


def test_upgrade_from_empty_on_a_new_sqlite_file(tmp_path):
    url = "sqlite:///" + str(tmp_path / "new.sqlite3")
    upgrade(url)
    upgrade(url)  # again: nothing to do
    engine = create_engine(url)
    with engine.connect() as conn:
        indexes = {i["name"] for i in inspect(conn).get_indexes("loans")}
    engine.dispose()
    assert "uq_loans_one_open_per_copy" in indexes


def test_one_open_loan_per_copy_is_enforced_by_the_database(make, app):
    from sqlalchemy.exc import IntegrityError

    copy = make.copy()
    a, b = make.borrower("甲"), make.borrower("乙")
    make.loan(copy, a)
    with pytest.raises(IntegrityError):
        make.loan(copy, b)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_connections_have_the_promised_pragmas(app):
    with app.app_context():
        from library_app.db import get_engine
        with get_engine().connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@contextmanager
def _database_at(db_url: str, tmp_path, revision: str) -> Iterator[tuple[str, str]]:
    """A scratch database of the test's kind upgraded to an old ``revision`` (on PostgreSQL a
    database of its own: the shared one stays at head) → (its URL, the UTC suffix its
    timestamps are written with)."""
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL

    admin = None
    if db_url.startswith("postgresql"):
        name = "library_migration_test"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        utc = "+00:00"
    else:
        url, utc = "sqlite:///" + str(tmp_path / "old.sqlite3"), ""
    try:
        upgrade(url, revision)
        yield url, utc
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text('DROP DATABASE IF EXISTS "library_migration_test" WITH (FORCE)'))
            admin.dispose()


def test_the_lent_day_migration_fills_in_the_local_day_of_existing_loans(db_url, tmp_path):
    """Upgrading a database that already has loans: each gets its local day in the zone the
    settings page holds (here Asia/Shanghai, 8 hours ahead of UTC)."""
    from datetime import date

    with _database_at(db_url, tmp_path, "8a4f2b6c1d0e") as (url, utc):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO points (id, code, name, address, active) "
                              "VALUES (1, 'P01', 'x', '', true)"))
            conn.execute(text("INSERT INTO settings (key, value, updated_at) "
                              "VALUES ('timezone', :v, :a)"), {"v": '{"v": "Asia/Shanghai"}', "a": "2026-01-01 00:00:00" + utc})
            conn.execute(text("INSERT INTO loans (point_id, lent_at, renewals, return_kind, source, outcome) "
                              "VALUES (1, :a, 0, '', 'scan', ''), (1, :b, 0, '', 'scan', '')"),
                         {"a": "2026-03-02 15:59:59" + utc, "b": "2026-03-02 16:00:00" + utc})
        upgrade(url)
        with engine.connect() as conn:
            days = [row[0] for row in conn.execute(text("SELECT lent_day FROM loans ORDER BY id"))]
        engine.dispose()
    assert [d if isinstance(d, date) else date.fromisoformat(d) for d in days] == [
        date(2026, 3, 2), date(2026, 3, 3)]


def test_the_renewals_migration_takes_earlier_renewals_from_the_audit_log(db_url, tmp_path):
    """Renewals made before loan_renewals existed are in the audit log with their old and new
    due dates: the upgrade records them, so an earlier month's overdue count stays right."""
    from datetime import UTC, datetime

    from library_app.models import LoanRenewal

    details = ('{"event": "e-1", "copy": "B1", "old_due": "2026-10-24T15:59:59+00:00", '
               '"new_due": "2026-11-17T15:59:59+00:00"}')
    with _database_at(db_url, tmp_path, "b7e3d91f4a2c") as (url, utc):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO points (id, code, name, address, active) "
                              "VALUES (1, 'P01', 'x', '', true)"))
            conn.execute(text("INSERT INTO loans (id, point_id, lent_at, lent_day, due_at, renewals, "
                              "return_kind, source, outcome) VALUES (7, 1, :a, '2026-10-10', :d, 1, '', "
                              "'scan', '')"), {"a": "2026-10-10 03:00:00" + utc, "d": "2026-11-17 15:59:59" + utc})
            conn.execute(text("INSERT INTO audit_log (at, action, target_type, target_id, ip, details) "
                              "VALUES (:at, 'circulation.renew', 'loan', :t, '', :d)"),
                         [{"at": "2026-11-03 02:00:00" + utc, "t": "7", "d": details},
                          {"at": "2026-11-03 02:01:00" + utc, "t": "99", "d": details}])  # no such loan
        upgrade(url)
        with Session(engine) as db:
            renewals = [(r.loan_id, r.renewed_at, r.due_before, r.due_after, r.event_id)
                        for r in db.scalars(select(LoanRenewal))]
        engine.dispose()
    assert renewals == [(7, datetime(2026, 11, 3, 2, tzinfo=UTC), datetime(2026, 10, 24, 15, 59, 59, tzinfo=UTC),
                         datetime(2026, 11, 17, 15, 59, 59, tzinfo=UTC), "e-1")]


def test_recompute_days_follows_a_zone_set_in_the_configuration(app, make):
    """LIBRARY_TIMEZONE changed in the configuration (not on the settings page): the command
    rewrites each loan's local day in the zone now in force."""
    from datetime import UTC, date, datetime

    from library_app.models import Loan

    title = make.title("小熊")
    copy = make.copy(title)
    kid = make.borrower("王小明")
    make.loan(copy, kid, lent_at=datetime(2026, 3, 2, 16, 30, tzinfo=UTC))  # 3 March in Beijing
    app.config["TIMEZONE"] = "UTC"
    result = app.test_cli_runner().invoke(args=["recompute-days"])
    assert result.exit_code == 0 and "UTC" in result.output and "1 条" in result.output
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(Loan.lent_day)) == date(2026, 3, 2)


def test_the_tallies_migration_counts_the_books_already_found(db_url, tmp_path):
    """A stocktake under way when the database is upgraded: its scans go on answering with the
    number of books found so far (the tally starts from the found items)."""
    with _database_at(db_url, tmp_path, "559cd6f4beee") as (url, utc):
        engine = create_engine(url)
        at = "2026-12-01 08:00:00" + utc
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO points (id, code, name, address, active) VALUES (1, 'P01', 'x', '', true)"))
            conn.execute(text("INSERT INTO titles (id, title, author, publisher, category, age_band, notes, "
                              "search_pinyin, search_initials, created_at, updated_at) "
                              "VALUES (1, 't', '', '', '', '', '', '', '', :a, :a)"), {"a": at})
            for i in range(1, 4):
                conn.execute(text("INSERT INTO copies (id, code, title_id, home_point_id, current_point_id, status, "
                                  "source, notes, created_at) VALUES (:i, :c, 1, 1, 1, 'available', 'purchase', '', :a)"),
                             {"i": i, "c": f"B{i:07d}", "a": at})
            conn.execute(text("INSERT INTO stocktakes (id, point_id, status, opened_at, expected) "
                              "VALUES (1, 1, 'open', :a, 3), (2, 1, 'closed', :a, 3)"), {"a": at})
            conn.execute(text("INSERT INTO stocktake_items (stocktake_id, copy_id, status_at_open, found_at) "
                              "VALUES (1, 1, 'available', :a), (1, 2, 'available', :a), (1, 3, 'available', NULL), "
                              "(2, 1, 'available', NULL)"), {"a": at})
        upgrade(url)
        with engine.connect() as conn:
            tallies = conn.execute(text("SELECT stocktake_id, slot, found FROM stocktake_tallies")).all()
        engine.dispose()
    assert [tuple(t) for t in tallies] == [(1, 0, 2)]
