"""The annual report (年度报告) over 1,000,000 loans and 50,000 activities, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_annual.py                          # both back-ends
    .venv/bin/python bench/bench_annual.py --backends sqlite --loans 200000 --activities 10000
    .venv/bin/python bench/bench_annual.py --keep                   # reuse the generated databases

Loans come from bench_reports.py's generator (10 years over 20 points, 6,000 children); the
activities are spread over the same 10 years and points, each with 0-5 children by card and 1-3
of 2,000 volunteers. Endpoints are called in-process with a bearer token (routing, auth, every
query, JSON / XLSX) and the page with a session. Target: each under 150 ms (median).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_reports as base  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from library_app import create_app  # noqa: E402
from library_app.db import upgrade  # noqa: E402

VOLUNTEERS = 2000


def activity_rows(n: int, seed: int = 3) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    rng = random.Random(seed)
    span = (base.NOW - base.START).total_seconds()
    volunteers = [(i, f"志愿者{i}", rng.choice(["story_mother", "worker", "student", "other"]),
                   rng.randrange(1, base.POINTS + 1)) for i in range(1, VOLUNTEERS + 1)]
    acts, cards, shares = [], [], []
    for i in range(1, n + 1):
        at = base.START + timedelta(seconds=rng.random() * span)
        minutes = rng.choice((45, 60, 90))
        children = rng.randrange(3, 25)
        acts.append((i, str(uuid.UUID(int=rng.getrandbits(128), version=4)), rng.randrange(1, base.POINTS + 1),
                     at, minutes, children, children, rng.randrange(0, 5)))
        for b in rng.sample(range(1, base.CHILDREN + 1), rng.randrange(0, 6)):
            cards.append((i, f"C{b:07d}", b))
        for v in rng.sample(range(1, VOLUNTEERS + 1), rng.randrange(1, 4)):
            shares.append((i, v, minutes + 30))
    return volunteers, acts, cards, shares


def load_sqlite(path: Path, data) -> None:  # noqa: ANN001
    volunteers, acts, cards, shares = data
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.executemany("INSERT INTO volunteers (id, name, kind, home_point_id, phone, joined_on, active, created_at) "
                    "VALUES (?, ?, ?, ?, '', '2017-01-01', 1, '2017-01-01 00:00:00.000000')", volunteers)
    con.executemany("INSERT INTO activities (id, client_id, content_hash, point_id, kind, started_at, minutes, "
                    "children, attendance, adults, note, created_at, updated_at) "
                    "VALUES (?, ?, 'bench', ?, 'story', ?, ?, ?, ?, ?, '', ?, ?)",
                    ((i, c, p, base.fmt_sqlite(at), m, ch, att, ad, base.fmt_sqlite(at), base.fmt_sqlite(at))
                     for i, c, p, at, m, ch, att, ad in acts))
    con.executemany("INSERT INTO activity_cards (activity_id, card_code, borrower_id) VALUES (?, ?, ?)", cards)
    con.executemany("INSERT INTO activity_volunteers (activity_id, volunteer_id, minutes) VALUES (?, ?, ?)", shares)
    con.commit()
    con.execute("ANALYZE")
    con.close()


def load_postgres(url: str, data) -> None:  # noqa: ANN001
    volunteers, acts, cards, shares = data
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy("COPY volunteers (id, name, kind, home_point_id, phone, joined_on, active, created_at) "
                      "FROM STDIN") as copy:
            for i, n, k, p in volunteers:
                copy.write_row((i, n, k, p, "", "2017-01-01", True, base.START))
        with cur.copy("COPY activities (id, client_id, content_hash, point_id, kind, started_at, minutes, "
                      "children, attendance, adults, note, created_at, updated_at) FROM STDIN") as copy:
            for i, c, p, at, m, ch, att, ad in acts:
                copy.write_row((i, c, "bench", p, "story", at, m, ch, att, ad, "", at, at))
        with cur.copy("COPY activity_cards (activity_id, card_code, borrower_id) FROM STDIN") as copy:
            for row in cards:
                copy.write_row(row)
        with cur.copy("COPY activity_volunteers (activity_id, volunteer_id, minutes) FROM STDIN") as copy:
            for row in shares:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def bench(kind: str, url: str, runs: int) -> list[tuple[str, str, float, float]]:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "FIXED_NOW": base.NOW,
                      "RATELIMIT_ENABLED": False})
    from library_app.db import session_factory
    from library_app.models import User
    from library_app.services.users import issue_token
    from tests.builders import sign_in_client

    with app.app_context(), session_factory()() as db:
        token, _ = issue_token(db, db.get(User, base.MOTHERS + 1), base.NOW, 24 * 365 * 20)
        db.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    page_client = app.test_client()
    sign_in_client(app, page_client, base.MOTHERS + 1)
    cases = [
        ("annual 2026", client, "/api/v1/reports/annual/2026", headers),
        ("annual 2021", client, "/api/v1/reports/annual/2021", headers),
        ("annual 2026 ?point=P07", client, "/api/v1/reports/annual/2026?point=P07", headers),
        ("annual 2026 .xlsx", client, "/api/v1/reports/annual/2026.xlsx", headers),
        ("page /reports/annual/2026", page_client, "/reports/annual/2026", {}),
        ("/healthz", client, "/healthz", {}),
    ]
    out = []
    for name, c, path, h in cases:
        r = c.get(path, headers=h)
        assert r.status_code == 200, (path, r.status_code, r.data[:300])
        if r.is_json and "activities" in (r.get_json() or {}):
            assert r.get_json()["activities"] > 0
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            c.get(path, headers=h)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out.append((name, kind, statistics.median(times), times[int(len(times) * 0.9) - 1]))
    app.extensions["library_db"].engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "bench_annual"))
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = None
    acts = None
    results = []
    for kind in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if kind == "sqlite":
            path = work / f"annual_{args.loans}_{args.activities}.sqlite3"
            if not (args.keep and path.exists()):
                for p in work.glob(path.name + "*"):
                    p.unlink()
                rows = rows or base.generate(args.loans)
                acts = acts or activity_rows(args.activities)
                t = time.perf_counter()
                base.load_sqlite(path, rows)
                load_sqlite(path, acts)
                print(f"sqlite: loaded in {time.perf_counter() - t:.1f} s", flush=True)
            url = "sqlite:///" + str(path)
        else:
            url, exists = base.pg_database(f"bench_annual_{args.loans}_{args.activities}", args.keep)
            if not exists:
                rows = rows or base.generate(args.loans)
                acts = acts or activity_rows(args.activities)
                t = time.perf_counter()
                base.load_postgres(url, rows)
                load_postgres(url, acts)
                print(f"postgresql: loaded in {time.perf_counter() - t:.1f} s", flush=True)
        upgrade(url)
        results += bench(kind, url, args.runs)
    print(f"\n{args.loans:,} loans, {args.activities:,} activities, {args.runs} runs; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'endpoint':30} {'db':10} {'median':>8} {'p90':>8}  verdict")
    for name, kind, med, p90 in results:
        verdict = "" if name == "/healthz" else ("ok" if med < 150 else "MISSES TARGET")
        print(f"{name:30} {kind:10} {med:8.1f} {p90:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
