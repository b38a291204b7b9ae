"""Loan events per second and p50/p99 latency of POST /api/v1/circulation/events, one event per
request, 8 concurrent clients, the app served by waitress (8 threads) on SQLite — side by side in
the same run with GET /healthz of the same app on the same server.

    .venv/bin/python bench/bench_circulation.py [--seconds 10] [--clients 8] [--append]
    .venv/bin/python bench/bench_circulation.py --wrk [--connections 4,16] [--runs 3] [--seconds 10]
        [--database-url URL] [--append]

Target (issue 5): loans/s at least a third of /healthz req/s, and loan p99 under 50 ms.
The server runs in its own process (waitress-serve), the clients in this one, with keep-alive
connections. Each loan lends a different copy; the children rotate so none reaches the limit.

``--wrk`` (issue 14): the load comes from wrk (a C load generator, so the clients' own Python
does not compete with the server for the interpreter) through ``bench/wrk_circulation.lua``,
against the README's server (``flask --app library_app serve``, waitress, 8 threads), with a
bearer token. Each request is a real loan of a copy never lent before, or the return of a copy
its wrk thread lent 200 loans earlier; afterwards the loans and returns in the database are
counted against the answers wrk received. /healthz and loans run in turns at each connection
count, ``--runs`` times; the figures are medians with their spread (min–max).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, copies: int, children: int) -> list[str]:
    """One point, a story mother, ``copies`` available copies and ``children`` children with cards."""
    from sqlalchemy import insert

    from library_app.db import make_engine, upgrade
    from library_app.domain.codes import make_code
    from library_app.models import Borrower, Card, Copy, Point, Title, User, user_points
    from library_app.services.users import hash_password

    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    cards = [make_code("card", i + 1) for i in range(children)]
    with engine.begin() as c:
        c.execute(insert(Point), [{"id": 1, "code": "P01", "name": "基准阅读点", "address": "", "active": True}])
        c.execute(insert(User), [{"id": 1, "username": "mama", "display_name": "mama", "role": "story_mother",
                                  "password_hash": hash_password("bench-password-1"), "active": True,
                                  "created_at": now}])
        c.execute(insert(user_points), [{"user_id": 1, "point_id": 1}])
        c.execute(insert(Title), [{"id": 1, "title": "猜猜我有多爱你", "author": "", "publisher": "", "category": "",
                                   "age_band": "", "notes": "", "search_pinyin": "", "search_initials": "",
                                   "created_at": now, "updated_at": now}])
        c.execute(insert(Copy), [{"code": make_code("copy", i + 1), "title_id": 1, "home_point_id": 1,
                                  "current_point_id": 1, "status": "available", "source": "purchase",
                                  "notes": "", "created_at": now} for i in range(copies)])
        c.execute(insert(Borrower), [{"id": i + 1, "name": f"小读者{i}", "home_point_id": 1, "consent_at": now,
                                      "status": "active", "type": "child", "search_pinyin": "",
                                      "search_initials": "", "school": "", "grade": "", "guardian_name": "",
                                      "guardian_phone": "", "created_at": now} for i in range(children)])
        c.execute(insert(Card), [{"code": code, "borrower_id": i + 1, "status": "active", "batch": "",
                                  "created_at": now, "bound_at": now} for i, code in enumerate(cards)])
    engine.dispose()
    return cards


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data else {}
        h.update(headers or {})
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        return r.status, r.read()


def browser_session(port: int) -> dict[str, str]:
    """Sign in through the login page like a phone, then use the scan page's CSRF token."""
    import re
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    r = conn.getresponse()
    page = r.read().decode()
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    form = urlencode({"csrf_token": token, "username": "mama", "password": "bench-password-1"})
    conn.request("POST", "/login", body=form, headers={"Cookie": cookie,
                                                       "Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    cookie = r.getheader("Set-Cookie", cookie).split(";")[0]
    conn.request("GET", "/scan", headers={"Cookie": cookie})
    r = conn.getresponse()
    page = r.read().decode()
    cookie = (r.getheader("Set-Cookie") or cookie).split(";")[0]
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    return {"Cookie": cookie, "X-CSRFToken": csrf}


def run_phase(port: int, clients: int, seconds: float, make_request) -> dict:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def worker(i: int) -> None:
        c = Client(port)
        n = 0
        barrier.wait()
        while time.perf_counter() < stop:
            method, path, body, headers, check = make_request(i, n)
            t0 = time.perf_counter()
            status, payload = c.request(method, path, body, headers)
            latencies[i].append(time.perf_counter() - t0)
            if status != 200 or (check and not check(payload)):
                errors[i] += 1
            n += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    flat = sorted(x for per in latencies for x in per)
    return {
        "requests": len(flat), "errors": sum(errors), "per_s": len(flat) / elapsed,
        "p50_ms": statistics.median(flat) * 1000,
        "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000,
    }


def start_server(url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """waitress-serve with 8 threads on a free port over ``url`` (instance folder ``tmp``), once
    it takes connections. The caller terminates it."""
    port = free_port()
    env = dict(os.environ, LIBRARY_DATABASE_URL=url, LIBRARY_INSTANCE_PATH=str(tmp), SECRET_KEY="bench")
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/waitress-serve"), f"--port={port}", "--host=127.0.0.1", "--threads=8",
         "--call", "library_app:create_app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    return server, port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--append", action="store_true", help="append the figures to bench/RESULTS.md")
    ap.add_argument("--wrk", action="store_true", help="load from wrk against `flask --app library_app serve`")
    ap.add_argument("--connections", default="4,16", help="--wrk: connection counts, e.g. 4,16")
    ap.add_argument("--runs", type=int, default=3, help="--wrk: rounds of every connection count")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--server-threads", type=int, default=8, help="--wrk: the serve command's --threads (README: 8)")
    ap.add_argument("--copies", type=int, default=60000)
    ap.add_argument("--database-url", default="", help="--wrk: an empty database (default: a new SQLite file)")
    ap.add_argument("--py-spy-all", action="store_true", help="--py-spy: every thread, not only the one holding the GIL")
    ap.add_argument("--py-spy", default="", help="--wrk: record the server's stacks in the first round's loan "
                                                 "runs to PREFIX-c<connections>.txt (pip install py-spy)")
    args = ap.parse_args()
    if args.wrk:
        from bench_wrk import run_wrk_bench

        run_wrk_bench(args)
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-circ-"))
    url = "sqlite:///" + str(tmp / "bench.sqlite3")
    copies = 60000
    cards = seed(url, copies=copies, children=30000)
    server, port = start_server(url, tmp)
    try:
        c = Client(port)
        status, body = c.request("POST", "/api/v1/auth/token", {"username": "mama", "password": "bench-password-1"})
        assert status == 200, body
        token_auth = {"Authorization": "Bearer " + json.loads(body)["token"]}
        session_auth = browser_session(port)
        auth = session_auth
        for _ in range(50):  # warm up both paths
            c.request("GET", "/healthz")
        counter = iter(range(10**9))
        lock = threading.Lock()

        def health(i: int, n: int):
            return "GET", "/healthz", None, None, None

        def loan(i: int, n: int):
            with lock:
                k = next(counter)
            from library_app.domain.codes import make_code

            event = {"id": str(uuid.uuid4()), "type": "loan", "copy": make_code("copy", k % copies + 1),
                     "card": cards[k % len(cards)], "point": "P01", "at": datetime.now(UTC).isoformat()}
            return ("POST", "/api/v1/circulation/events", {"events": [event]}, dict(auth),
                    lambda p: json.loads(p)["results"][0]["status"] == "applied")

        for k in range(20):
            c.request(*loan(0, k)[:4])
        results = {}
        results["healthz"] = run_phase(port, args.clients, args.seconds, health)
        results["loan"] = run_phase(port, args.clients, args.seconds, loan)  # the scan screen's way
        auth = token_auth
        results["loan_bearer"] = run_phase(port, args.clients, args.seconds / 2, loan)
        results["healthz_again"] = run_phase(port, args.clients, args.seconds / 2, health)
    finally:
        server.terminate()
        server.wait(10)
    ratio = results["loan"]["per_s"] / results["healthz"]["per_s"]
    lines = [f"{name:14s} {r['per_s']:8.1f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
             f"({r['requests']} requests, {r['errors']} errors)" for name, r in results.items()]
    lines.append(f"loans/s ÷ healthz/s = {ratio:.2f} (target ≥ 0.33); loan p99 {results['loan']['p99_ms']:.1f} ms "
                 "(target < 50 ms); loan = browser session + CSRF header (the scan screen), "
                 f"loan_bearer = API token ({results['loan_bearer']['per_s'] / results['healthz']['per_s']:.2f} of healthz)")
    print("\n".join(lines))
    if args.append:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as f:
            f.write(f"\n### bench_circulation.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
                    f"{args.clients} clients × {args.seconds:.0f} s, waitress 8 threads, SQLite\n\n```\n")
            f.write("\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
