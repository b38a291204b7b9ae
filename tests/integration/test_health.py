"""/healthz proves the database can write; a full disk and an unreachable database get their own
code and a Chinese message instead of a generic 500 (issue 13, item 20)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from library_app import create_app


def test_healthz_says_the_database_took_a_write(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok", "write": "ok"}


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB file system of its own (tmpfs), which the test fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_full_disk_answers_503_disk_full_and_healthz_says_so(db_url, db_templates, small_disk, make_app):
    database = small_disk / "library.sqlite3"
    shutil.copyfile(db_templates.sqlite(), database)
    app = make_app("sqlite:///" + str(database), HEALTH_WRITE_SECONDS=0, HEALTH_MIN_FREE_MB=0.25)
    from tests.builders import Builders

    make = Builders(app)
    make.point("P01")
    headers = make.token(make.user("mama", "story_mother", points=["P01"]))
    child = make.borrower(point="P01")
    card = make.card_code(child)
    copies = [make.copy(make.title(f"书{i}"), point="P01") for i in range(3)]
    client = app.test_client()
    assert client.get("/healthz").status_code == 200

    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # take every free block (unbuffered: nothing left to
        # write when the file is closed, so closing it cannot fail on the full disk)
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    events = [{"id": str(uuid.uuid4()), "type": "loan", "copy": c.code, "card": card, "point": "P01",
               "at": datetime.now(UTC).isoformat()} for c in copies]
    r = client.post("/api/v1/circulation/events", json={"events": events}, headers=headers)
    assert r.status_code == 503, r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert error["code"] == "disk_full" and "存储空间已满" in error["message"]
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["write"] == "error"

    filler.unlink()
    assert client.get("/healthz").status_code == 200  # back by itself once there is room
    r = client.post("/api/v1/circulation/events", json={"events": events}, headers=headers)
    assert r.status_code == 200 and {x["status"] for x in r.get_json()["results"]} == {"applied"}


def test_an_unreachable_database_answers_503_with_its_own_code(tmp_path, make_app):
    app = make_app("postgresql+psycopg://postgres@127.0.0.1:1/none")
    client = app.test_client()
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["database"] == "error"
    r = client.post("/api/v1/auth/token", json={"username": "mama", "password": "x" * 12})
    assert r.status_code == 503
    error = r.get_json()["error"]
    assert error["code"] == "database_unavailable" and "连不上数据库" in error["message"]


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(tmp_path / "instance"))
    apps = []

    def build(url: str, **config):
        app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret",
                          **config})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["library_db"].engine.dispose()


if os.name != "posix":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="tmpfs and file systems are Linux here")
