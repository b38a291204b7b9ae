"""Instructions per request of /healthz and of a loan in the README's server, under callgrind.

    .venv/bin/python bench/bench_instructions.py [--n 200]      # about 5 minutes

``flask --app library_app serve`` (waitress, 8 threads, SQLite) runs under ``valgrind
--tool=callgrind``; one client sends ``--n`` GET /healthz, then ``--n`` loan events (a loan and
the same copy's return in turn), one at a time, after a warm-up. ``callgrind_control -d`` dumps
the counts at each phase's end, so each figure is one phase's instructions divided by its
requests: every thread of the server, waitress's socket loop included.

Why: the wrk figures (``bench_circulation.py --wrk``) move by a fifth from run to run on these
shared machines, while an instruction count is the same whatever the neighbours do. The ratio
of the two counts is the best loans/s ÷ healthz/s that a server bound by one interpreter can
reach with no waiting at all (callgrind runs one thread at a time): the wrk target of 1/3
needs a loan to cost at most three /healthz. Time in the kernel and waits for memory are not
counted, so real ratios come out lower still.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_circulation import Client, free_port, seed  # noqa: E402


def _total(dump: str) -> int:
    with open(dump, encoding="utf-8") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"no total in {dump}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="requests of each kind")
    args = ap.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("needs valgrind (Debian package valgrind)")
    from library_app.domain.codes import make_code

    tmp = Path(tempfile.mkdtemp(prefix="bench-instr-"))
    url = "sqlite:///" + str(tmp / "bench.sqlite3")
    cards = seed(url, copies=max(5000, args.n), children=2000)
    port = free_port()
    env = dict(os.environ, LIBRARY_DATABASE_URL=url, LIBRARY_INSTANCE_PATH=str(tmp), SECRET_KEY="bench")
    out = str(tmp / "callgrind.out")
    with open(tmp / "server.log", "wb") as log:
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             str(ROOT / ".venv/bin/flask"), "--app", "library_app", "serve", f"--port={port}", "--threads=8"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.5)
            c = Client(port)
            status, body = c.request("POST", "/api/v1/auth/token",
                                     {"username": "mama", "password": "bench-password-1"})
            assert status == 200, body
            headers = {"Authorization": "Bearer " + json.loads(body)["token"]}
            lent = 0

            def loan_and_return() -> None:
                nonlocal lent
                lent += 1
                copy, at = make_code("copy", lent), datetime.now(UTC).isoformat()
                for event in ({"type": "loan", "copy": copy, "card": cards[lent % len(cards)]}, {"type": "return", "copy": copy}):
                    event.update(id=str(uuid.uuid4()), point="P01", at=at)
                    status, answer = c.request("POST", "/api/v1/circulation/events", {"events": [event]}, headers)
                    assert status == 200 and b'"applied"' in answer, answer

            def dump(name: str) -> None:
                subprocess.run(["callgrind_control", "-d", name, str(server.pid)], check=True, capture_output=True)

            for _ in range(30):
                loan_and_return()
                c.request("GET", "/healthz")
            dump("warm-up")
            for _ in range(args.n):
                assert c.request("GET", "/healthz")[0] == 200
            dump("healthz")
            for _ in range(args.n // 2):
                loan_and_return()
            dump("loans")
        finally:
            server.terminate()
            server.wait(120)
    dumps = sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
    _warm, health, loans = (_total(d) for d in dumps[:3])
    per_health, per_loan = health / args.n, loans / (args.n // 2 * 2)
    print(f"instructions per request, `flask --app library_app serve` under callgrind, SQLite, n={args.n}:")
    print(f"  GET /healthz                      {per_health / 1e6:6.2f} M")
    print(f"  POST /api/v1/circulation/events   {per_loan / 1e6:6.2f} M  (a loan or a return, bearer token)")
    print(f"  ratio {per_loan / per_health:.2f}: at most {per_health / per_loan:.2f} loans per /healthz "
          "(wrk target: 0.33)")


if __name__ == "__main__":
    main()
