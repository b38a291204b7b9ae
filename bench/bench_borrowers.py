"""Borrowers and cards, by hand (not collected by pytest).

    .venv/bin/python bench/bench_borrowers.py [--borrowers 20000] [--loans 200000]

On a fresh SQLite file: 20,000 children with cards and 200,000 loans, then times
- a search of the list page's query (name, pinyin prefix, initials, card code), p50 / p95;
- GET /borrowers/<id> (a child's page, which writes its access-log line) through the app, p50 / p95;
- the card sheet of 10 cards (QR SVGs) and one card PNG;
- one erasure (scans every text column of every table once) and anonymise-left of 100 children.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

from library_app import create_app  # noqa: E402
from library_app.db import session_factory, upgrade  # noqa: E402
from library_app.domain.codes import make_code  # noqa: E402
from library_app.domain.text import pinyin_keys  # noqa: E402
from library_app.models import Borrower, Card, Copy, Loan, Point, Title, User  # noqa: E402
from library_app.services import borrowers, privacy  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "小明花文虎娜静伟芳敏军洋勇艳杰娟涛超秀霞平刚桂英华丽"


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.95) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--borrowers", type=int, default=20000)
    ap.add_argument("--loans", type=int, default=200000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-borrowers-"))
    url = "sqlite:///" + str(tmp / "b.sqlite3")
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True,
                      "RATELIMIT_ENABLED": False})
    rnd = random.Random(7)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with app.app_context(), session_factory()() as db:
        for i in range(1, 6):
            db.add(Point(code=f"P0{i}", name=f"阅读点{i}"))
        db.add(User(username="lib", password_hash="x", role="librarian"))
        db.add(Title(title="好饿的毛毛虫"))
        db.flush()
        rows, cards = [], []
        for i in range(1, args.borrowers + 1):
            name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
            full, ini = pinyin_keys(name)
            rows.append({"id": i, "name": name, "search_pinyin": full, "search_initials": ini,
                         "home_point_id": rnd.randint(1, 5), "guardian_phone": f"138{i:08d}",
                         "status": "left" if i % 50 == 0 else "active", "consent_at": now,
                         "created_at": now, "type": "child", "school": "", "grade": "",
                         "guardian_name": "家长", "left_at": now - timedelta(days=900) if i % 50 == 0 else None})
            cards.append({"code": make_code("card", i), "borrower_id": i, "status": "active",
                          "batch": "", "created_at": now})
        db.execute(insert(Borrower), rows)
        db.execute(insert(Card), cards)
        db.execute(insert(Copy), [{"id": i, "code": make_code("copy", i), "title_id": 1, "home_point_id": 1,
                                   "current_point_id": 1, "status": "available", "source": "purchase",
                                   "notes": "", "created_at": now} for i in range(1, 2001)])
        loans = [{"copy_id": rnd.randint(1, 2000), "title_id": 1, "borrower_id": rnd.randint(1, args.borrowers),
                  "point_id": rnd.randint(1, 5), "lent_at": now - timedelta(days=rnd.randint(1, 360)),
                  "returned_at": now, "renewals": 0, "return_kind": "normal", "source": "scan", "outcome": ""}
                 for _ in range(args.loans)]
        for loan in loans:
            loan["lent_day"] = loan["lent_at"].date()  # UTC day: visits are not measured here
        for k in range(0, len(loans), 20000):
            db.execute(insert(Loan), loans[k:k + 20000])
        db.commit()
    print(f"setup: {args.borrowers} borrowers, {args.loans} loans in {time.perf_counter() - t0:.1f} s")

    with app.app_context(), session_factory()() as db:
        lib = db.scalar(select(User))
        queries = ["王", "wang", "wxm", "小明", make_code("card", 1234), "zh"]
        for q in queries:
            p50, p95 = timed(lambda q=q: borrowers.search_borrowers(db, lib, q=q), 30)
            print(f"search {q!r:>12}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")

    client = app.test_client()
    from tests.builders import sign_in_client

    sign_in_client(app, client, 1)
    ids = [rnd.randint(1, args.borrowers) for _ in range(60)]
    it = iter(ids)
    p50, p95 = timed(lambda: client.get(f"/borrowers/{next(it)}"), 60)
    print(f"GET /borrowers/<id> (writes an access-log line): p50 {p50:.1f} ms  p95 {p95:.1f} ms")
    p50, p95 = timed(lambda: client.get("/healthz"), 60)
    print(f"GET /healthz for comparison: p50 {p50:.1f} ms  p95 {p95:.1f} ms")
    codes = ",".join(make_code("card", i) for i in range(1, 11))
    p50, p95 = timed(lambda: client.get(f"/cards/sheet?codes={codes}"), 10)
    print(f"card sheet, 10 cards: p50 {p50:.1f} ms  p95 {p95:.1f} ms")
    p50, p95 = timed(lambda: client.get("/borrowers/5/card.png"), 10)
    print(f"card PNG: p50 {p50:.1f} ms  p95 {p95:.1f} ms")

    with app.app_context(), session_factory()() as db:
        lib = db.scalar(select(User))
        b = db.get(Borrower, 7)
        t = time.perf_counter()
        privacy.erase_borrower(db, lib, now, b)
        db.commit()
        print(f"erase one child (scan of every text column, {args.loans} loans): "
              f"{(time.perf_counter() - t) * 1000:.0f} ms")
        t = time.perf_counter()
        done = privacy.anonymise_left(db, now, 24)
        db.commit()
        print(f"anonymise-left: {len(done)} children in {(time.perf_counter() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
