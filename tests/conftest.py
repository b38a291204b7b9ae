"""Test fixtures: every database test runs on SQLite and again on PostgreSQL.

- ``LIBRARY_TEST_DATABASES`` (default ``sqlite,postgresql``) picks the back-ends.
- ``LIBRARY_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
  is the server; each test session works in a fresh database of its own, dropped at the end.
- Without a reachable PostgreSQL the PostgreSQL runs are skipped with the reason, except in CI
  (``CI=true`` or ``LIBRARY_REQUIRE_ALL=1``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from library_app import create_app
from library_app.db import upgrade
from library_app.models import Base

from .builders import CHEAP, Builders

PG_URL = os.environ.get(
    "LIBRARY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    b.strip() for b in os.environ.get("LIBRARY_TEST_DATABASES", "sqlite,postgresql").split(",")
    if b.strip()
]
STRICT = os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("LIBRARY_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    """Skip on a newcomer's machine; fail in CI, where every part must be there."""
    if STRICT:
        pytest.fail(f"{reason} (CI requires it)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------- databases

class _Template:
    """A migrated schema per back-end, made once per test session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sqlite_file: Path | None = None
        self.pg_url: str | None = None
        self.pg_error: str | None = None
        self._pg_admin_url: str | None = None

    def sqlite(self) -> Path:
        if self.sqlite_file is None:
            path = self.tmp / "template.sqlite3"
            upgrade("sqlite:///" + str(path))
            self.sqlite_file = path
        return self.sqlite_file

    def postgres(self) -> str:
        if self.pg_url is None and self.pg_error is None:
            name = f"lib_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            try:
                admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                admin.dispose()
            except Exception as exc:  # noqa: BLE001
                self.pg_error = f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string(hide_password=True)}: {exc.__class__.__name__}"
            else:
                self._pg_admin_url = PG_URL
                self.pg_url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
                upgrade(self.pg_url)
        if self.pg_error:
            missing(self.pg_error)
        assert self.pg_url is not None
        return self.pg_url

    def drop(self) -> None:
        if self.pg_url and self._pg_admin_url:
            name = make_url(self.pg_url).database
            admin = create_engine(self._pg_admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def db_templates() -> Iterator[_Template]:
    tmp = Path(tempfile.mkdtemp(prefix="library-tests-"))
    templates = _Template(tmp)
    yield templates
    templates.drop()
    shutil.rmtree(tmp, ignore_errors=True)


def fresh_database(backend: str, templates: _Template, tmp_path: Path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or the PostgreSQL one emptied."""
    if backend == "sqlite":
        path = tmp_path / "library.sqlite3"
        shutil.copyfile(templates.sqlite(), path)
        return "sqlite:///" + str(path)
    url = templates.postgres()
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, db_templates: _Template, tmp_path: Path) -> str:
    """A migrated, empty database of each back-end."""
    return fresh_database(request.param, db_templates, tmp_path)


@pytest.fixture
def app_config(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Override in a test module to add settings (e.g. FIXED_NOW, PUBLIC_BASE_URL)."""
    return {}


@pytest.fixture
def app(db_url: str, tmp_path: Path, app_config: dict[str, Any]) -> Iterator[Any]:
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    old = os.environ.get("LIBRARY_INSTANCE_PATH")
    os.environ["LIBRARY_INSTANCE_PATH"] = str(instance)
    try:
        application = create_app({
            "TESTING": True,
            "DATABASE_URL": db_url,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": True,
            **app_config,
        })
    finally:
        if old is None:
            os.environ.pop("LIBRARY_INSTANCE_PATH", None)
        else:
            os.environ["LIBRARY_INSTANCE_PATH"] = old
    yield application
    application.extensions["library_db"].engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def make(app: Any) -> Builders:
    """Builders for test data: make.point(), make.user(), make.title(), ..."""
    return Builders(app)


# ---------------------------------------------------------------- live server

class LiveServer:
    def __init__(self, app: Any) -> None:
        from waitress.server import create_server

        self.app = app
        self.server = create_server(app, host="127.0.0.1", port=0, threads=8)
        self.port = self.server.effective_port  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass
        return self

    def stop(self) -> None:
        # End the loop from inside its own thread (closing sockets under a running select()
        # raised EBADF in the server thread now and then), then close once nothing polls them.
        self.server.trigger.pull_trigger(self.server._map.clear)  # type: ignore[union-attr]
        self.thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    """The app served by waitress on a free port of 127.0.0.1, in a thread."""
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Password hashing at its cheapest (``builders.CHEAP``) for the tests that check many."""
    from library_app.services import users

    monkeypatch.setattr(users, "_hasher", CHEAP)
    monkeypatch.setattr(users, "_DUMMY_HASH", CHEAP.hash("not-a-real-password"))
