"""Engine, per-request session, SQLite pragmas and migrations.

One session per request lives in ``flask.g``. Views commit once at the end of a
successful request (``commit()``); services only flush. Anything not committed is
rolled back at teardown. On SQLite, write transactions begin IMMEDIATE so two
writers queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app, g, request
from flask.cli import with_appcontext
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        _private_database_file(url)
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", 30)
        kwargs["connect_args"]["check_same_thread"] = False
        engine = create_engine(url, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _private_database_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (its -wal and -shm then get the same mode),
    so children's data is not world-readable whatever the service's umask (trust.md)."""
    from sqlalchemy.engine import make_url

    from library_app.ops.files import private_sqlite

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_sqlite(Path(database))


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # Read pages through the OS page cache without copying (fewer syscalls per query).
        cur.execute("PRAGMA mmap_size=268435456")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode:  # "" = autocommit: each statement is its own read (see ``single_reads``)
            conn.exec_driver_sql(f"BEGIN {mode}")


def single_reads(engine: Engine) -> Engine:
    """The same engine without a transaction around reads on SQLite: each SELECT sees its own
    snapshot, and there is no BEGIN or COMMIT to pay for. For requests whose few reads are
    independent of each other (the signed-in user, the settings)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="")
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions take the write lock at BEGIN on SQLite."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


class Database:
    def __init__(self) -> None:
        self.engine: Engine | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["library_db"] = self
        # the last write probe of /healthz (``can_write``): {"ok": bool, "at": datetime}
        app.extensions["library_write_probe"] = {}
        app.extensions["library_sessions"] = {
            "read": sessionmaker(bind=self.engine, expire_on_commit=False),
            "write": sessionmaker(bind=writer(self.engine), expire_on_commit=False),
            "single_reads": sessionmaker(bind=single_reads(self.engine), expire_on_commit=False),
        }
        app.teardown_appcontext(_close_session)
        app.cli.add_command(init_db_command)


def get_engine() -> Engine:
    return current_app.extensions["library_db"].engine


def session_factory(write: bool = True, kind: str = "") -> sessionmaker[Session]:
    """Sessions whose transactions write (IMMEDIATE on SQLite), read, or ``kind="single_reads"``."""
    return current_app.extensions["library_sessions"][kind or ("write" if write else "read")]


def get_session() -> Session:
    """The request's session: a writer for unsafe methods or views marked ``writes``."""
    if "db_session" not in g:
        write = True
        try:
            write = request.method not in SAFE_METHODS or bool(g.get("writes"))
        except RuntimeError:  # no request: CLI and tests write
            pass
        g.db_session = session_factory(write)()
    return g.db_session


def commit() -> None:
    if "db_session" in g:
        g.db_session.commit()


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        try:
            if exc is not None:
                session.rollback()
        finally:
            session.close()


def ping() -> bool:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "down"
        return False


def can_write(now: datetime) -> bool:
    """Whether the database took a write lately: one row of ``health_checks`` is rewritten at
    most every ``HEALTH_WRITE_SECONDS`` (10 s) per process, so ``/healthz`` stays the lightest
    request while a full disk (reads fine, every write fails) shows within seconds. A request
    that fails for want of disk marks the database unwritable at once (``failure_kind``)."""
    state = current_app.extensions["library_write_probe"]
    every = float(current_app.config.get("HEALTH_WRITE_SECONDS", 10))
    if state and 0 <= (now - state["at"]).total_seconds() < every:
        return bool(state["ok"])
    try:
        with Session(writer(get_engine())) as session, session.begin():
            updated = session.execute(  # type: ignore[attr-defined]
                text("UPDATE health_checks SET at = :at WHERE id = 1"), {"at": now}).rowcount
            if not updated:
                session.execute(text("INSERT INTO health_checks (id, at) VALUES (1, :at)"), {"at": now})
        ok = _room_to_write()
    except Exception:  # noqa: BLE001 - any failure to write means "cannot write"
        current_app.logger.warning("health check: the database did not take a write", exc_info=True)
        ok = False
    state.update(ok=ok, at=now)
    return ok


def _room_to_write() -> bool:
    """On SQLite, enough free space beside the database file (``HEALTH_MIN_FREE_MB``, 100 MB):
    a one-row write lands in WAL space already allocated and succeeds on a full disk, while a
    batch of loans that needs new pages fails."""
    engine = get_engine()
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return True
    import shutil

    folder = Path(engine.url.database).resolve().parent
    free = shutil.disk_usage(folder).free
    needed = float(current_app.config.get("HEALTH_MIN_FREE_MB", 100)) * 1024 * 1024
    if free < needed:
        current_app.logger.warning("health check: %d MB free beside the database", free // 2**20)
        return False
    return True


def failure_kind(exc: BaseException) -> str | None:
    """``disk_full`` or ``database_unavailable`` for a database error a user should hear about
    in its own words (a full disk, a database that cannot be reached), else None."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or ""
    message = str(orig).lower()
    if sqlstate == "53100" or "database or disk is full" in message or "no space left" in message:
        kind = "disk_full"
    elif sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03") \
            or exc.connection_invalidated or "unable to open database file" in message \
            or "connection refused" in message or "could not connect" in message \
            or "server closed the connection" in message:
        kind = "database_unavailable"
    else:
        return None
    if kind == "disk_full":
        try:
            probe = current_app.extensions["library_write_probe"]
        except (RuntimeError, KeyError):  # outside an app: nothing to remember
            pass
        else:
            if probe:
                probe["ok"] = False
    return kind


def include_for(dialect: str) -> Any:
    """Alembic's ``include_object`` for a database of this kind: leaves out the indexes that
    the models create only on another kind (``Index(...).ddl_if(dialect=...)``), which
    autogenerate would otherwise report as missing."""
    def include(obj: Any, _name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
        only = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
        if only is None or only.dialect is None:
            return True
        kinds = [only.dialect] if isinstance(only.dialect, str) else list(only.dialect)
        return dialect in kinds

    return include


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option(
        "file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"
    )
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    url = current_app.config["DATABASE_URL"]
    upgrade(url)
    click.echo("数据库已就绪 / database ready: " + _safe_url(url))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


db = Database()
