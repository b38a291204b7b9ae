"""Copy codes stay unique when two librarians add copies at the same moment (real threads, each
with its own database session, on SQLite and PostgreSQL); and the import command."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import select

from library_app.db import session_factory
from library_app.domain.codes import parse_code
from library_app.models import Copy, Point, Title, User
from library_app.services import catalog


def test_concurrent_add_copies_never_share_a_code(app, make):
    make.point("P01")
    lib = make.user("lib", "librarian")
    title = make.title()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with app.app_context(), session_factory()() as db:
                barrier.wait(timeout=10)
                point = db.scalar(select(Point).where(Point.code == "P01"))
                catalog.add_copies(db, db.get(User, lib.id), datetime.now(UTC), db.get(Title, title.id), point, 10)
                db.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with app.app_context(), session_factory(False)() as db:
        codes = list(db.scalars(select(Copy.code)))
    assert len(codes) == 40 == len(set(codes))
    for code in codes:
        parse_code(code, expect="copy")  # every code carries a right check digit


def test_import_titles_command(app, make, runner, tmp_path):
    make.point("P01")
    good = tmp_path / "books.csv"
    good.write_bytes("书名,册数,阅读点\r\n好饿的毛毛虫,2,P01\r\n".encode("gbk"))
    r = runner.invoke(args=["import-titles", str(good)])
    assert r.exit_code == 0 and "新建书目 1 种，馆藏 2 册" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("书名,ISBN\r\n好书,9787533241781\r\n", encoding="utf-8")
    r = runner.invoke(args=["import-titles", str(bad)])
    assert r.exit_code != 0 and "第 2 行" in r.output
