"""One write request at a time, in-process through Flask's test client (no socket, no waitress):
what a stocktake scan or a loan costs, the SQL statements it sends, and where the time goes.

    .venv/bin/python bench/profile_write.py --what scan [--n 1000] [--database-url URL] [--profile]
    .venv/bin/python bench/profile_write.py --what loan [--n 1000] [--database-url URL] [--profile]

``scan``: POST /api/v1/stocktakes/{id}/scans with one scan, signed in like the phones (browser
session + CSRF header). ``loan``: POST /api/v1/circulation/events with one loan and a bearer
token, then the same copy's return (so every request is real work). Prints p50/p99 of the
request and the statements of one request; ``--profile`` adds cProfile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_circulation import seed  # noqa: E402
from bench_stocktake import add_librarian  # noqa: E402


def sign_in(client: Any) -> dict[str, str]:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"csrf_token": token, "username": "mama", "password": "bench-password-1"})
    page = client.get("/scan").get_data(as_text=True)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return {"X-CSRFToken": csrf}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", choices=("scan", "loan", "healthz"), default="scan")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--database-url", default="", help="an empty database (default: a new SQLite file)")
    ap.add_argument("--profile", action="store_true", help="cProfile's top functions")
    ap.add_argument("--copies", type=int, default=1000, help="copies seeded (children: half as many)")
    ap.add_argument("--dump", default="", help="with --profile: write cProfile's stats to this file")
    ap.add_argument("--pyinstrument", action="store_true", help="pyinstrument's tree (pip install pyinstrument)")
    args = ap.parse_args()

    from sqlalchemy import event

    from library_app import create_app
    from library_app.db import get_engine
    from library_app.domain.codes import make_code

    tmp = Path(tempfile.mkdtemp(prefix="profile-write-"))
    url = args.database_url or "sqlite:///" + str(tmp / "bench.sqlite3")
    copies = max(args.n + 100, args.copies)
    cards = seed(url, copies=copies, children=max(args.n, args.copies // 2))
    add_librarian(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": True,
                      "RATELIMIT_ENABLED": False})
    app.instance_path = str(tmp)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "lib", "password": "bench-password-1"}).get_json()
    lib = {"Authorization": "Bearer " + token["token"]}
    statements: list[str] = []
    with app.app_context():
        event.listen(get_engine(), "before_cursor_execute",
                     lambda _c, _cur, sql, *_a: statements.append(" ".join(sql.split())[:160]))

    if args.what == "scan":
        r = client.post("/api/v1/stocktakes", json={"point": "P01"}, headers=lib)
        assert r.status_code == 201, r.get_data(as_text=True)
        sid = r.get_json()["id"]
        headers = sign_in(client)

        def one(k: int) -> None:
            scan = {"id": str(uuid.uuid4()), "copy": make_code("copy", k + 1), "at": datetime.now(UTC).isoformat()}
            r = client.post(f"/api/v1/stocktakes/{sid}/scans", json={"scans": [scan]}, headers=headers)
            assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "found", r.get_data(as_text=True)
    elif args.what == "healthz":
        def one(k: int) -> None:
            assert client.get("/healthz").status_code == 200
    else:
        token = client.post("/api/v1/auth/token", json={"username": "mama", "password": "bench-password-1"}).get_json()
        mama = {"Authorization": "Bearer " + token["token"]}

        def one(k: int) -> None:
            copy = make_code("copy", k // 2 + 1)
            ev: dict[str, Any] = {"id": str(uuid.uuid4()), "type": "loan" if k % 2 == 0 else "return",
                                  "copy": copy, "point": "P01", "at": datetime.now(UTC).isoformat()}
            if k % 2 == 0:
                ev["card"] = cards[(k // 2) % len(cards)]
            r = client.post("/api/v1/circulation/events", json={"events": [ev]}, headers=mama)
            assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "applied", r.get_data(as_text=True)

    for k in range(20):  # warm up
        one(k)
    statements.clear()
    one(20)
    print(f"statements of one {args.what} ({len(statements)}):")
    for s in statements:
        print("   ", s)
    times, cpu = [], []
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    sampler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0002)
        sampler.start()
    for k in range(21, 21 + args.n):
        t, c = time.perf_counter(), time.thread_time()
        one(k)
        times.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    if profiler:
        profiler.disable()
    if sampler:
        sampler.stop()
    fifth = max(1, len(times) // 5)
    trend = "  ".join(f"{statistics.median(cpu[i:i + fifth]) * 1000:.2f}" for i in range(0, fifth * 5, fifth))
    times.sort()
    kind = url.split(":", 1)[0].split("+")[0]
    print(f"{args.what} in-process, {kind}, n={len(times)}: p50 {statistics.median(times) * 1000:.2f} ms  "
          f"p99 {times[int(len(times) * 0.99)] * 1000:.2f} ms  mean {statistics.mean(times) * 1000:.2f} ms; "
          f"CPU of this thread per request, median of each fifth in order: {trend} ms, overall: median "
          f"{statistics.median(cpu) * 1000:.3f} ms, mean {statistics.mean(cpu) * 1000:.3f} ms (steadier than the clock "
          f"on a shared machine)")
    if sampler:
        print(sampler.output_text(unicode=True, show_all=False))
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        if args.dump:
            profiler.dump_stats(args.dump)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
