"""Reports on a million loans: the year and month report endpoints against the bare SQL GROUP BY
over the same rows, measured in the same run, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_reports.py                       # both back-ends, 1,000,000 loans
    .venv/bin/python bench/bench_reports.py --backends sqlite --loans 200000 --runs 9
    .venv/bin/python bench/bench_reports.py --keep                 # reuse the generated databases

Data: 10 years (2017-01 … 2026-11) of loans over 20 points, 6,000 children, 4,000 titles and 40
story mothers; about 10 % returned late, 0.5 % undone, the last weeks' loans still out.
Endpoints are called in-process through Flask's test client with a bearer token (routing, auth,
settings, every query, JSON/CSV/XLSX), i.e. what the server does per request without the socket.
"Bare" is what a DBA would type for the same rows: one GROUP BY point and month over the range,
undone loans excluded, months in UTC, printed for comparison. Target: each endpoint < 150 ms
(the ratio to the bare query is no longer a goal).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from library_app import create_app  # noqa: E402
from library_app.db import upgrade  # noqa: E402

PG_URL = os.environ.get("LIBRARY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
START = datetime(2016, 12, 31, 16, 0, tzinfo=UTC)  # 2017-01-01 00:00 Beijing
POINTS, CHILDREN, TITLES, MOTHERS = 20, 6000, 4000, 40
CATEGORIES = ["绘本", "桥梁书", "科普", "文学", "历史", "艺术", "漫画", "工具书"]
BANDS = ["0-3", "3-6", "6-9", "9-12", "12+"]


def local_day(dt: datetime):  # noqa: ANN201 - a date
    """The loan's local day in the organisation's zone (the app writes it with each loan)."""
    from zoneinfo import ZoneInfo

    from library_app.domain.reports import local_day as in_zone

    return in_zone(dt, ZoneInfo("Asia/Shanghai"))


def fmt_sqlite(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(n: int, seed: int = 1) -> list[tuple]:
    """Loan rows: (point, borrower, title, lent_by, lent_at, due_at, renewals, returned_at,
    returned_by, return_kind, undone_at, renewal), renewal = None or (renewed_at, due_before).
    About 5 % are renewed once, a fifth of those when already overdue."""
    rng = random.Random(seed)
    span = (NOW - START).total_seconds()
    rows = []
    for _ in range(n):
        lent = START + timedelta(seconds=rng.random() * span)
        point = rng.randrange(1, POINTS + 1)
        borrower = rng.randrange(1, CHILDREN + 1)
        title = rng.randrange(1, TITLES + 1)
        mother = (point - 1) * 2 + rng.randrange(1, 3)
        due = lent + timedelta(days=14)
        renewal = None
        if rng.random() < 0.05:
            late = rng.random() < 0.2
            when = due + timedelta(days=rng.uniform(1, 10)) if late else lent + timedelta(days=rng.uniform(3, 13.9))
            if when < NOW:
                renewal = (when, due)
                due = max(when, due) + timedelta(days=14)
        r = rng.random()
        back: datetime | None
        if r < 0.005:
            undone = lent + timedelta(minutes=1)
            rows.append((point, borrower, title, mother, lent, lent + timedelta(days=14), 0, undone, mother,
                         "undo", undone, None))
            continue
        if r < 0.10:
            back = due + timedelta(days=rng.uniform(1, 60))
        else:
            back = lent + timedelta(days=rng.uniform(0.5, 14))
        if renewal is not None and back < renewal[0]:
            back = renewal[0] + timedelta(days=rng.uniform(0.5, 14))
        if rng.random() < 0.003:
            back = None  # lost, never came back
        if back is not None and back > NOW:
            back = None
        rows.append((point, borrower, title, mother, lent, due, 1 if renewal else 0, back,
                     mother if back else None, "normal" if back else "", None, renewal))
    return rows


def renewal_rows(rows: list[tuple]) -> list[tuple]:
    """(loan id, renewed_at, due_before, due_after, renewed_by) for a freshly loaded table,
    whose ids follow the rows' order from 1."""
    return [(i, row[11][0], row[11][1], row[5], row[3])
            for i, row in enumerate(rows, start=1) if row[11] is not None]


def seed_reference(conn, url_kind: str) -> None:
    """Points, users, titles and children with plain SQL (fast, same on both back-ends)."""
    created = fmt_sqlite(START - timedelta(days=30)) if url_kind == "sqlite" else START - timedelta(days=30)
    conn.execute(text("INSERT INTO points (id, code, name, address, active) VALUES (:i, :c, :n, '', :a)"),
                 [{"i": i, "c": f"P{i:02d}", "n": f"阅读点{i:02d}", "a": True} for i in range(1, POINTS + 1)])
    conn.execute(text("INSERT INTO users (id, username, display_name, password_hash, role, active, created_at) "
                      "VALUES (:i, :u, :d, 'x', :r, :a, :t)"),
                 [{"i": i, "u": f"mama{i}", "d": f"故事妈妈{i}", "r": "story_mother", "a": True, "t": created}
                  for i in range(1, MOTHERS + 1)]
                 + [{"i": MOTHERS + 1, "u": "bench", "d": "bench", "r": "admin", "a": True, "t": created}])
    rng = random.Random(2)
    conn.execute(text("INSERT INTO titles (id, title, author, publisher, category, age_band, notes, "
                      "search_pinyin, search_initials, created_at, updated_at) "
                      "VALUES (:i, :t, '', '', :c, :b, '', '', '', :at, :at)"),
                 [{"i": i, "t": f"书目{i}", "c": rng.choice(CATEGORIES), "b": rng.choice(BANDS), "at": created}
                  for i in range(1, TITLES + 1)])
    span = (NOW - START).total_seconds()
    conn.execute(text("INSERT INTO borrowers (id, type, name, search_pinyin, search_initials, school, grade, "
                      "guardian_name, guardian_phone, home_point_id, status, created_at) "
                      "VALUES (:i, 'child', :n, '', '', '', '', '', '', :p, 'active', :at)"),
                 [{"i": i, "n": f"孩子{i}", "p": rng.randrange(1, POINTS + 1),
                   "at": (fmt_sqlite if url_kind == "sqlite" else (lambda d: d))(
                       START + timedelta(seconds=rng.random() * span))}
                  for i in range(1, CHILDREN + 1)])


def load_sqlite(path: Path, rows: list[tuple]) -> None:
    url = "sqlite:///" + str(path)
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        seed_reference(conn, "sqlite")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO loans (point_id, borrower_id, title_id, lent_by_id, lent_at, lent_day, lent_year, due_at, "
        "renewals, returned_at, returned_by_id, return_kind, undone_at, source, outcome) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scan', '')",
        ((p, b, t, m, fmt_sqlite(lent), local_day(lent).isoformat(), local_day(lent).year, fmt_sqlite(due), ren,
          fmt_sqlite(back), by, kind, fmt_sqlite(undone))
         for p, b, t, m, lent, due, ren, back, by, kind, undone, _renewal in rows))
    assert con.execute("SELECT min(id), max(id) FROM loans").fetchone() == (1, len(rows))
    con.executemany(
        "INSERT INTO loan_renewals (loan_id, renewed_at, due_before, due_after, renewed_by_id) "
        "VALUES (?, ?, ?, ?, ?)",
        ((i, fmt_sqlite(w), fmt_sqlite(before), fmt_sqlite(after), by)
         for i, w, before, after, by in renewal_rows(rows)))
    con.commit()
    con.execute("ANALYZE")
    con.close()


def load_postgres(url: str, rows: list[tuple]) -> None:
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        seed_reference(conn, "postgresql")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy("COPY loans (point_id, borrower_id, title_id, lent_by_id, lent_at, lent_day, lent_year, "
                      "due_at, renewals, returned_at, returned_by_id, return_kind, undone_at, source, outcome) "
                      "FROM STDIN") as copy:
            for p, b, t, m, lent, due, ren, back, by, kind, undone, _renewal in rows:
                day = local_day(lent)
                copy.write_row((p, b, t, m, lent, day, day.year, due, ren, back, by, kind, undone, "scan", ""))
        cur.execute("SELECT min(id), max(id) FROM loans")
        assert cur.fetchone() == (1, len(rows))
        with cur.copy("COPY loan_renewals (loan_id, renewed_at, due_before, due_after, renewed_by_id) "
                      "FROM STDIN") as copy:
            for renewal in renewal_rows(rows):
                copy.write_row(renewal)
        raw.commit()
        for table in ("points", "users", "titles", "borrowers", "loans", "loan_renewals"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # The triggers updated each day's loan_days row once per loan inside the one COPY
        # transaction, which leaves ~25 dead versions per live row (84 MB for 72,000 rows) that
        # no pruning could touch. A library that lent those loans over ten years, with
        # autovacuum, holds them compactly: rewrite the two tables as it would be, then VACUUM
        # (a rewrite leaves the visibility map empty, which index-only scans need).
        conn.execute(text("VACUUM FULL loan_days, loan_year_children"))
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed(fn, runs: int) -> tuple[float, float, float]:
    fn()  # warm up (caches, first-request set-up)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[0], times[int(len(times) * 0.9) - 1 if len(times) > 1 else 0]


def bare_sql(engine, kind: str, ranges: list[tuple[datetime, datetime]]):
    """The bare GROUP BY point and month over the rows in ``ranges`` (the fastest of the two
    natural orders of the GROUP BY, so the planner's choice does not flatter the endpoint)."""
    month = "strftime('%Y-%m', lent_at)" if kind == "sqlite" else "date_trunc('month', lent_at)"
    where = " OR ".join(f"(lent_at >= :s{i} AND lent_at < :e{i})" for i in range(len(ranges)))
    params: dict[str, object] = {}
    for i, (start, end) in enumerate(ranges):
        params[f"s{i}"] = fmt_sqlite(start) if kind == "sqlite" else start
        params[f"e{i}"] = fmt_sqlite(end) if kind == "sqlite" else end
    sqls = [text(f"SELECT point_id, {month} AS m, count(*) FROM loans "
                 f"WHERE ({where}) AND undone_at IS NULL GROUP BY {order}")
            for order in ("point_id, m", "m, point_id")]

    def runner(sql):
        def run():
            with engine.connect() as conn:
                return conn.execute(sql, params).all()
        return run
    return [runner(sql) for sql in sqls]


def interleaved(fns: dict[str, object], runs: int) -> dict[str, float]:
    """Median ms of each function, run in turns (one of each per round) so that all of them
    see the same load on a shared machine; one warm-up round first."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for round_ in range(runs + 1):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            if round_:
                times[name].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def bare_fns(engine, kind: str, own, same) -> dict[str, object]:
    """The bare GROUP BY over the report's own rows and over all the rows it reads, each in both
    GROUP BY orders; over several ranges also one query per range (PostgreSQL plans an OR of
    ranges as a bitmap heap scan). The fastest form is the baseline."""
    fns: dict[str, object] = {}
    for j, run in enumerate(bare_sql(engine, kind, own)):
        fns[f"own{j}"] = run
    if same != own:
        for j, run in enumerate(bare_sql(engine, kind, same)):
            fns[f"same{j}"] = run
        if len(same) > 1:
            per_range = [bare_sql(engine, kind, [r])[1] for r in same]
            fns["same_apart"] = lambda runs=per_range: [r() for r in runs]
    return fns


def report_cases() -> list[tuple[str, str, tuple[list, list]]]:
    """(name, URL, (the report's own row ranges, all the ranges it reads)) of each case."""
    from zoneinfo import ZoneInfo

    from library_app.domain.reports import Month, month_bounds, year_bounds
    tz = ZoneInfo("Asia/Shanghai")

    def year_rows(y: int) -> tuple[list, list]:
        # the year's rows; the report also reads last year's (same date last year, its total)
        return [year_bounds(y, tz)], [(year_bounds(y - 1, tz)[0], year_bounds(y, tz)[1])]

    def month_rows(y: int, m: int) -> tuple[list, list]:
        # the month's rows; the report also reads the previous month and the same month last year
        month = Month(y, m)
        three = [month_bounds(x, tz) for x in (month, month.previous(), month.same_month_last_year())]
        return [month_bounds(month, tz)], three

    cases = [
        ("year 2026 (current)", "/api/v1/reports/year/2026", year_rows(2026)),
        ("year 2021 (past)", "/api/v1/reports/year/2021", year_rows(2021)),
        ("month 2026-10", "/api/v1/reports/month/2026-10", month_rows(2026, 10)),
        ("month 2026-11 (current)", "/api/v1/reports/month/2026-11", month_rows(2026, 11)),
        ("month 2019-06 (old)", "/api/v1/reports/month/2019-06", month_rows(2019, 6)),
        ("month 2026-10 ?point=P07", "/api/v1/reports/month/2026-10?point=P07", month_rows(2026, 10)),
        ("month 2026-10 .csv", "/api/v1/reports/month/2026-10.csv", month_rows(2026, 10)),
        ("month 2026-10 .xlsx", "/api/v1/reports/month/2026-10.xlsx", month_rows(2026, 10)),
        ("page /reports/year/2026", "/reports/year/2026", year_rows(2026)),
        ("page /reports/month/2026-10", "/reports/month/2026-10", month_rows(2026, 10)),
        ("page /home (year counter)", "/home", year_rows(2026)),
        ("page /home (story mother's day)", "/home", month_rows(2026, 11)),
    ]
    cases += [  # the same endpoints with visits (one child, one point, one day) as the metric
        ("year 2026 (visits)", "/api/v1/reports/year/2026", year_rows(2026)),
        ("month 2026-10 (visits)", "/api/v1/reports/month/2026-10", month_rows(2026, 10)),
    ]
    return cases


def bench_backend(kind: str, url: str, runs: int, only: str = "") -> list[tuple[str, str, float, float, float, float]]:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "FIXED_NOW": NOW,
                      "RATELIMIT_ENABLED": False})
    client = app.test_client()
    from library_app.db import session_factory
    from library_app.models import Point, User
    from library_app.services.users import issue_token

    with app.app_context(), session_factory()() as db:
        token, _ = issue_token(db, db.get(User, MOTHERS + 1), NOW, 24 * 365 * 20)
        mother = db.get(User, 1)  # the home page's story mother: her point's day and month
        if not mother.points:
            mother.points = [db.get(Point, 1)]
        db.commit()
    headers = {"Authorization": f"Bearer {token}"}
    engine = app.extensions["library_db"].engine
    cases = report_cases()
    if only:
        cases = [c for c in cases if any(part in c[0] for part in only.split(","))]
    results = []
    # No app context around the requests: each request then gets its own, as under a server
    # (an outer one would keep one database session, and its snapshot, across requests).
    health = timed(lambda: client.get("/healthz"), runs)[0]
    results.append(("/healthz", kind, health, 0.0, 0.0, 0.0))
    for name, url_path, (own, same) in cases:
        set_metric(app, "visits" if "(visits)" in name else "loans")
        if not url_path.startswith("/api/"):
            # pages need a browser session (the home page as a story mother shows her points' day)
            page_client = app.test_client()
            from tests.builders import sign_in_client

            sign_in_client(app, page_client, 1 if "story mother" in name else MOTHERS + 1)

            def call(u=url_path, c=page_client):
                r = c.get(u)
                assert r.status_code == 200, (u, r.status_code)
        else:
            def call(u=url_path, metric="visits" if "(visits)" in name else "loans"):
                r = client.get(u, headers=headers)
                assert r.status_code == 200, (u, r.status_code, r.data[:200])
                assert not r.is_json or r.get_json()["metric"] == metric, (u, metric)
        fns = {"endpoint": call, **bare_fns(engine, kind, own, same)}
        medians = interleaved(fns, runs)
        bare_own = min(v for k, v in medians.items() if k.startswith("own"))
        bare_same = min([v for k, v in medians.items() if k.startswith("same")] or [bare_own])
        results.append((name, kind, medians["endpoint"], 0.0, bare_own, bare_same))
    set_metric(app, "loans")
    engine.dispose()
    return results


def set_metric(app, metric: str) -> None:
    """The organisation's count metric, as the settings page stores it."""
    from library_app.db import session_factory
    from library_app.models import Setting

    with app.app_context(), session_factory()() as db:
        row = db.get(Setting, "count_metric")
        if metric == "loans":
            if row is not None:
                db.delete(row)
        elif row is None:
            db.add(Setting(key="count_metric", value={"v": metric}, updated_at=NOW))
        db.commit()


def pg_database(name: str, keep: bool) -> tuple[str, bool]:
    """The URL of PostgreSQL database ``name`` on the bench server, and whether it was kept
    (``keep`` and it exists); otherwise it is dropped and created empty."""
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not (keep and exists):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            exists = None
    admin.dispose()
    return url, exists is not None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="reuse databases from an earlier run")
    parser.add_argument("--only", default="", help="only the cases whose names contain one of these (comma-separated)")
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "bench_reports"))
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = None
    all_results = []
    for kind in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if kind == "sqlite":
            path = work / f"loans_{args.loans}.sqlite3"
            if not (args.keep and path.exists()):
                for p in work.glob(f"loans_{args.loans}.sqlite3*"):
                    p.unlink()
                rows = rows or generate(args.loans)
                t = time.perf_counter()
                load_sqlite(path, rows)
                print(f"sqlite: loaded {args.loans} loans in {time.perf_counter() - t:.1f} s", flush=True)
            url = "sqlite:///" + str(path)
        else:
            url, exists = pg_database(f"bench_reports_{args.loans}", args.keep)
            if not exists:
                rows = rows or generate(args.loans)
                t = time.perf_counter()
                load_postgres(url, rows)
                print(f"postgresql: loaded {args.loans} loans in {time.perf_counter() - t:.1f} s", flush=True)
        upgrade(url)  # a kept database from an older schema: migrate it (nothing to do otherwise)
        all_results += bench_backend(kind, url, args.runs, args.only)
    print(f"\n{args.loans:,} loans, {args.runs} rounds, median ms (endpoint and bare queries run in turns); load average {os.getloadavg()[0]:.1f}")
    print("bare(own) = GROUP BY point, month over the year's/month's own rows; bare(same) = over all")
    print("the rows the report reads (year: this and last year; month: it, the previous, last year's)")
    print(f"{'endpoint':30} {'db':10} {'median':>7} {'bare own':>9} {'bare same':>9} "
          f"{'×own':>5} {'×same':>5}  verdict")
    for name, kind, med, _p90, own, same in all_results:
        verdict = ""
        if same:
            verdict = "ok" if med < 150 else "MISSES TARGET (150 ms)"
        r_own = med / own if own else 0
        r_same = med / same if same else 0
        print(f"{name:30} {kind:10} {med:7.1f} {own:9.1f} {same:9.1f} {r_own:5.2f} {r_same:5.2f}  {verdict}")


if __name__ == "__main__":
    main()
