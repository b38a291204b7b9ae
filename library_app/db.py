"""Engine, per-request session and its one commit point, SQLite pragmas and migrations.

One session per request, held in the request's state (``request_state.current().session``).
Services only flush; views and the API never commit. **One place commits**: ``end_request``,
which the app runs on what the view returned (``web.LibraryApp.dispatch_request``, Indico's
``RH.process``): an answer below 400 (a redirect after a POST included) commits the request's
session, anything else rolls it back: a 4xx or 5xx answer, an exception (the error handlers
answer it, nothing is saved), or a view that called ``discard_changes`` (a refusal told by a
flashed message and a redirect). A failed commit raises inside the request, so the error
handlers answer a full disk or an unreachable database in their own words (``failure_kind``)
exactly as when a view committed. The commit runs before the body is sent; no body streams
from the session afterwards (``_close_session`` says so in the log if one writes).

The few writes that must stay even when the answer is a 4xx go through ``commit_now(reason)``:
- a login attempt is counted before its password is checked (``auth.throttle.attempt``);
- a password change that failed on the new password, not the current one, resets the count;
- a kiosk's look-up of an unknown card is counted though it answers 404 (``api.kiosk``);
- an invitation link's or a kiosk enrol code's look-up is counted per address before it is
  checked, and given back when it was right (``auth.throttle.address_attempt`` / ``address_known``);
- the busy writes of ``circulation.txn.write`` (scans, one-tap pages, stocktake scans) end the
  request's reads first, so nothing is held while the write waits its turn.
``circulation.txn.write`` itself commits in a session of its own (group commit on SQLite): the
documented exception, whose answer (even a 422 of reused event ids) is already saved.
CLI commands (``cli.py``, ``*/commands.py``) are not requests: they open their own sessions
with ``session_factory`` and commit them.

The kind of session is chosen here only (``get_session``): a writer for unsafe methods and
views marked ``access.writes``, a reader for other GETs. On SQLite, write transactions begin
IMMEDIATE so two writers queue on the busy timeout instead of failing on a lock upgrade. The
busy views (``access.lean_actor``: loans and stocktake scans) read the signed-in user on a
connection of their own (``read_alone``) and write through ``circulation.txn.write``, so they
open no request session unless a signed-in session is due its last-seen touch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app, request
from flask.cli import with_appcontext
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from library_app import request_state

if TYPE_CHECKING:
    from flask.wrappers import Response

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
    snapshot, and there is no BEGIN or COMMIT to pay for. For ``read_alone``: a read or two
    that need no snapshot in common (the signed-in user of a busy view)."""
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
        self.single_reads = single_reads(self.engine)
        app.extensions["library_sessions"] = {
            "read": sessionmaker(bind=self.engine, expire_on_commit=False),
            "write": sessionmaker(bind=writer(self.engine), expire_on_commit=False),
        }
        app.teardown_appcontext(_close_session)
        app.cli.add_command(init_db_command)


def get_engine() -> Engine:
    return current_app.extensions["library_db"].engine


def read_alone() -> Connection:
    """A connection of its own, outside the request's session, for the signed-in user of a busy
    view (``access.lean_actor``): on SQLite each statement is its own read (``single_reads``).
    Use it as ``with read_alone() as conn:``; it goes back to the pool at once, so a view that
    then writes through ``circulation.txn.write`` holds no connection while the write waits its
    turn, and needs no session, BEGIN or COMMIT of its own (~12 % of a loan's instructions,
    bench/RESULTS.md)."""
    return current_app.extensions["library_db"].single_reads.connect()


def session_factory(write: bool = True) -> sessionmaker[Session]:
    """Sessions whose transactions write (IMMEDIATE on SQLite) or read."""
    return current_app.extensions["library_sessions"]["write" if write else "read"]


def writes_in_request() -> bool:
    """Whether this request writes in its own session: an unsafe method, or a view marked
    ``access.writes``. Elsewhere (a GET) a bookkeeping write takes a short transaction of its own."""
    try:
        return request.method not in SAFE_METHODS or request_state.current().writes
    except RuntimeError:  # no request: CLI and tests write
        return True


def get_session() -> Session:
    """The request's session, of the kind the request needs (the only place that chooses)."""
    state = request_state.current()
    if state.session is None:
        state.session = session_factory(write=writes_in_request())()
    return state.session


def commit_now(reason: str) -> None:
    """Commit the request's session before the end of the request, for a write that must stay
    whatever the answer (the list in this module's docstring); ``reason`` says which, for the
    reader of the call and for the debug log."""
    state = request_state.current()
    if state.session is not None:
        current_app.logger.debug("commit before the end of the request: %s", reason)
        state.session.commit()


def discard_changes() -> None:
    """Nothing of this request is saved, whatever the answer: for a refusal told by a flashed
    message and a redirect (a 302 would otherwise commit what the service flushed before it
    refused)."""
    request_state.current().discard = True


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's writes are saved (e.g. delete a staged upload only
    when the import it fed is in); never when they are rolled back."""
    request_state.current().after_commit.append(callback)


def end_request(response: Response) -> Response:
    """The commit point: commit the request's session when the view answered below 400 and
    did not discard its changes; else roll it back. A failed commit is rolled back and raised,
    for the error handlers to answer."""
    state = request_state.current()
    state.finished = True
    session = state.session
    if response.status_code >= 400 or state.discard:
        if session is not None:
            session.rollback()
        return response
    if session is not None:
        try:
            session.commit()
        except Exception:
            session.rollback()
            raise
    for callback in state.after_commit:
        callback()
    return response


def _close_session(exc: BaseException | None) -> None:
    state = request_state.pop()
    session = state.session if state is not None else None
    if session is None:
        return
    try:
        if state is not None and state.finished and (session.new or session.dirty or session.deleted):
            current_app.logger.error("changes made after the request's commit point were not saved")
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
