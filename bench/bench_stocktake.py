"""A stocktake of 5,000 copies scanned by 4 phones at once: p50/p99 of each scan's answer
(POST /api/v1/stocktakes/{id}/scans, one scan per request, as the page sends them online), the
app served by waitress (8 threads) in its own process on SQLite (or --database-url), beside
GET /healthz of the same server.

    .venv/bin/python bench/bench_stocktake.py [--copies 5000] [--phones 4] [--database-url URL] [--append]

Target (issue 18): scan p99 under 50 ms. Each phone scans its own quarter of the shelves, then
every phone scans 50 books another phone had (answered ``duplicate``); at the end the stocktake
must count every copy found exactly once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_circulation import Client, browser_session, seed, start_server  # noqa: E402


def add_librarian(url: str) -> None:
    from sqlalchemy import insert

    from library_app.db import make_engine
    from library_app.models import User
    from library_app.services.users import hash_password

    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(insert(User), [{"id": 2, "username": "lib", "display_name": "lib", "role": "librarian",
                                  "password_hash": hash_password("bench-password-1"), "active": True,
                                  "created_at": datetime.now(UTC)}])
    engine.dispose()


def percentiles(latencies: list[float]) -> dict[str, float]:
    flat = sorted(latencies)
    return {"n": len(flat), "p50_ms": statistics.median(flat) * 1000,
            "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000, "max_ms": flat[-1] * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=5000)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--database-url", default="", help="an empty database (default: a new SQLite file)")
    ap.add_argument("--append", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()

    from library_app.domain.codes import make_code

    tmp = Path(tempfile.mkdtemp(prefix="bench-stocktake-"))
    url = args.database_url or "sqlite:///" + str(tmp / "bench.sqlite3")
    seed(url, copies=args.copies, children=10)
    add_librarian(url)
    server, port = start_server(url, tmp)
    try:
        c = Client(port)
        status, body = c.request("POST", "/api/v1/auth/token", {"username": "lib", "password": "bench-password-1"})
        assert status == 200, body
        lib = {"Authorization": "Bearer " + json.loads(body)["token"]}
        t0 = time.perf_counter()
        status, body = c.request("POST", "/api/v1/stocktakes", {"point": "P01"}, lib)
        open_ms = (time.perf_counter() - t0) * 1000
        assert status == 201, body
        st = json.loads(body)
        assert st["expected"] == args.copies, st
        sid = st["id"]
        phones = [browser_session(port) for _ in range(args.phones)]  # signed in like the page
        for _ in range(50):
            c.request("GET", "/healthz")

        codes = [make_code("copy", i + 1) for i in range(args.copies)]
        share = [codes[i::args.phones] for i in range(args.phones)]
        lat: list[list[float]] = [[] for _ in range(args.phones)]
        health: list[list[float]] = [[] for _ in range(args.phones)]
        wrong: list[list[str]] = [[] for _ in range(args.phones)]
        barrier = threading.Barrier(args.phones)

        def phone(i: int) -> None:
            conn = Client(port)
            mine = share[i]
            others = share[(i + 1) % args.phones][:50]
            barrier.wait()
            for n, code in enumerate(mine + others):
                scan = {"id": str(uuid.uuid4()), "copy": code, "at": datetime.now(UTC).isoformat()}
                t = time.perf_counter()
                status, payload = conn.request("POST", f"/api/v1/stocktakes/{sid}/scans", {"scans": [scan]}, phones[i])
                lat[i].append(time.perf_counter() - t)
                expected = "found" if n < len(mine) else "duplicate"
                got = json.loads(payload)["results"][0]["status"] if status == 200 else f"http {status}"
                if got != expected:
                    wrong[i].append(f"{code}: {got}")
                if n % 25 == 0:  # a light probe beside the scans
                    t = time.perf_counter()
                    conn.request("GET", "/healthz")
                    health[i].append(time.perf_counter() - t)

        started = time.perf_counter()
        threads = [threading.Thread(target=phone, args=(i,)) for i in range(args.phones)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        c = Client(port)  # a new connection: the first one may have idled past the server's timeout
        status, body = c.request("GET", f"/api/v1/stocktakes/{sid}", None, lib)
        summary = json.loads(body)
        t0 = time.perf_counter()
        status, body = c.request("POST", f"/api/v1/stocktakes/{sid}/close", None, lib)
        close_ms = (time.perf_counter() - t0) * 1000
        assert status == 200, body
    finally:
        server.terminate()
        server.wait(10)
    scans = percentiles([x for per in lat for x in per])
    probe = percentiles([x for per in health for x in per])
    errors = [w for per in wrong for w in per]
    kind = url.split(":", 1)[0].split("+")[0]
    lines = [
        f"stocktake of {args.copies} copies, {args.phones} phones, {scans['n']} scans in {elapsed:.1f} s "
        f"({scans['n'] / elapsed:.0f} scans/s), {kind}",
        f"scan     p50 {scans['p50_ms']:6.1f} ms  p99 {scans['p99_ms']:6.1f} ms  max {scans['max_ms']:6.1f} ms "
        f"(target p99 < 50 ms)",
        f"healthz  p50 {probe['p50_ms']:6.1f} ms  p99 {probe['p99_ms']:6.1f} ms  (probed beside the scans, n={probe['n']})",
        f"open (snapshot of {args.copies}) {open_ms:.0f} ms; close {close_ms:.0f} ms; "
        f"found {summary['found']} / {summary['expected']}, missing {len(summary['missing'])}; "
        f"wrong answers {len(errors)}" + (f" e.g. {errors[:3]}" if errors else ""),
    ]
    print("\n".join(lines))
    if args.append:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as f:
            f.write(f"\n### bench_stocktake.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, waitress 8 threads\n\n```\n")
            f.write("\n".join(lines) + "\n```\n")
    if errors or summary["found"] != args.copies:
        sys.exit(1)


if __name__ == "__main__":
    main()
