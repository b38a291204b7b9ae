"""Files with children's data are readable by the app's user only, whatever the umask (trust.md)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from library_app import create_app
from library_app.db import session_factory
from library_app.models import Point

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """A service started with the common default umask, which would leave files 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_database_wal_backups_and_their_folder_are_private(tmp_path, loose_umask, monkeypatch):
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(tmp_path / "instance"))
    database = tmp_path / "instance" / "library.sqlite3"
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite:///" + str(database),
                      "SECRET_KEY": "test-secret"})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    with app.app_context(), session_factory()() as db:
        db.add(Point(code="P01", name="一号点"))
        db.commit()
        # the WAL and its index exist while a connection holds the database open
        wal, shm = Path(str(database) + "-wal"), Path(str(database) + "-shm")
        assert wal.exists() and shm.exists()
        assert (mode(database), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)

        folder = tmp_path / "backups"
        result = runner.invoke(args=["backup-rotate", str(folder), "--keep", "3"])
        assert result.exit_code == 0, result.output
        (backup,) = folder.glob("library-*.sqlite3")
        assert mode(folder) == 0o700 and mode(backup) == 0o600

        single = tmp_path / "elsewhere" / "copy.sqlite3"
        assert runner.invoke(args=["backup", str(single)]).exit_code == 0
        assert mode(single) == 0o600 and mode(single.parent) == 0o700
    app.extensions["library_db"].engine.dispose()

    result = runner.invoke(args=["restore", str(backup), "--yes"])
    assert result.exit_code == 0, result.output
    (kept,) = database.parent.glob("library.sqlite3.before-restore-*")
    assert mode(kept) == 0o600 and mode(database) == 0o600


def test_an_existing_world_readable_database_is_narrowed_at_start(tmp_path, loose_umask, monkeypatch):
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(tmp_path / "instance"))
    database = tmp_path / "old.sqlite3"
    database.touch(mode=0o644)
    Path(str(database) + "-wal").touch(mode=0o644)
    os.chmod(database, 0o644)
    create_app({"TESTING": True, "DATABASE_URL": "sqlite:///" + str(database), "SECRET_KEY": "x"})
    assert mode(database) == 0o600 and mode(Path(str(database) + "-wal")) == 0o600


