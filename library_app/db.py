"""Engine, per-request session, SQLite pragmas and migrations.

One session per request lives in ``flask.g``. Views commit once at the end of a
successful request (``commit()``); services only flush. Anything not committed is
rolled back at teardown. On SQLite, write transactions begin IMMEDIATE so two
writers queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

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
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", 30)
        kwargs["connect_args"]["check_same_thread"] = False
        engine = create_engine(url, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


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
