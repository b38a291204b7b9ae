"""``bench_circulation.py --wrk``: loans and /healthz under wrk, against the README's server.

Each round runs, at every connection count, /healthz then loans (so both share whatever else
the machine is doing), each for ``--seconds``. A loan run lends copies never lent before (a
slice of the seeded copies of its own) and returns those its wrk thread lent 200 loans earlier;
then the loans and returns that appeared in the database are compared with the answers wrk got.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "wrk_circulation.lua"
LAG = 200  # a wrk thread returns the copy it lent this many loans before


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("the server stopped (see server.log in its folder)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def _cpu_s(pid: int, tid: int = 0, kernel: bool = False) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far: all its threads, or the thread ``tid``."""
    where = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = Path(where).read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) if kernel else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, connections: int, threads: int, seconds: float, *script_args: str,
         server_pid: int = 0) -> dict[str, Any]:
    cmd = [shutil.which("wrk") or "/usr/bin/wrk", f"-t{min(threads, connections)}", f"-c{connections}",
           f"-d{seconds:g}s", "--latency", "-s", str(LUA), f"http://127.0.0.1:{port}", "--", *script_args]
    cpu0 = _cpu_s(server_pid) if server_pid else 0.0
    main0 = _cpu_s(server_pid, server_pid) if server_pid else 0.0
    sys0 = _cpu_s(server_pid, kernel=True) if server_pid else 0.0
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = _cpu_s(server_pid) - cpu0 if server_pid else 0.0
    main_cpu = _cpu_s(server_pid, server_pid) - main0 if server_pid else 0.0
    sys_cpu = _cpu_s(server_pid, kernel=True) - sys0 if server_pid else 0.0
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result: dict[str, Any] = json.loads(line[len("WRK_JSON "):])
    result["per_s"] = result["requests"] / result["duration_s"]
    result["server_cpu_ms"] = 1000 * cpu / max(1, result["requests"])  # the server's CPU per request
    result["io_cpu_ms"] = 1000 * main_cpu / max(1, result["requests"])  # of which waitress's socket loop
    result["sys_cpu_ms"] = 1000 * sys_cpu / max(1, result["requests"])  # of which in the kernel
    result["load"] = os.getloadavg()[0]
    return result


def _db_counts(url: str) -> tuple[int, int]:
    from sqlalchemy import text

    from library_app.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        loans = c.execute(text("SELECT count(*) FROM loans")).scalar_one()
        returned = c.execute(text("SELECT count(*) FROM loans WHERE returned_at IS NOT NULL")).scalar_one()
    engine.dispose()
    return int(loans), int(returned)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})"


def run_wrk_bench(args: Any) -> None:
    from bench_circulation import Client, free_port, seed

    from library_app.domain.codes import make_code

    conns = [int(c) for c in str(args.connections).split(",") if c.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    url = args.database_url or "sqlite:///" + str(tmp / "bench.sqlite3")
    cards = seed(url, copies=args.copies, children=min(30000, args.copies // 2))
    port = free_port()
    env = dict(os.environ, LIBRARY_DATABASE_URL=url, LIBRARY_INSTANCE_PATH=str(tmp), SECRET_KEY="bench")
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - waitress warns a lot under load: never a pipe
    server = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "library_app", "serve", f"--port={port}",
                               f"--threads={args.server_threads}"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        _wait_for(port, server)
        c = Client(port)
        status, body = c.request("POST", "/api/v1/auth/token", {"username": "mama", "password": "bench-password-1"})
        assert status == 200, body
        token = json.loads(body)["token"]
        for _ in range(200):  # warm the server up
            c.request("GET", "/healthz")
        cursor = 1
        slices = args.runs * len(conns)
        per_run = (args.copies - cursor) // slices
        for rnd in range(args.runs):
            for n in conns:
                codes = tmp / f"codes-{rnd}-{n}.txt"
                codes.write_text("".join(f"{make_code('copy', k)} {cards[k % len(cards)]}\n"
                                         for k in range(cursor, cursor + per_run)), encoding="ascii")
                cursor += per_run
                health = _wrk(port, n, args.wrk_threads, args.seconds, "healthz", server_pid=server.pid)
                before = _db_counts(url)
                nonce = int(time.time()) % 0xFFFFFF * 16 + rnd
                spy = None
                if args.py_spy and rnd == 0:  # the stacks of the thread holding the GIL while the server lends (py-spy, collapsed)
                    spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(server.pid),
                                            "-d", f"{args.seconds:g}", "-r", "500", "-f", "raw", "--nonblocking", *([] if args.py_spy_all else ["--gil"]),
                                            "-o", f"{args.py_spy}-c{n}.txt"], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
                loans = _wrk(port, n, args.wrk_threads, args.seconds, "loans", token, str(codes), str(nonce),
                             str(min(args.wrk_threads, n)), str(LAG), server_pid=server.pid)
                if spy is not None:
                    spy.wait(30)
                time.sleep(1)  # requests in flight when wrk stopped are still answered by the server
                after = _db_counts(url)
                loans["db_loans"], loans["db_returns"] = after[0] - before[0], after[1] - before[1]
                loans["ok"] = sum(v for k, v in loans["answers"].items() if k.startswith("200 "))
                if loans["sent"]["out_of_copies"]:
                    problems.append(f"c={n} round {rnd + 1}: ran out of fresh copies (use --copies)")
                odd = {k: v for k, v in loans["answers"].items() if k not in ("200 applied lent", "200 applied returned")}
                if odd:  # every request must be a real loan or a real return
                    problems.append(f"c={n} round {rnd + 1}: not a plain loan or return: {odd}")
                in_db = loans["db_loans"] + loans["db_returns"]
                if not 0 <= in_db - loans["ok"] <= n:  # at most the requests in flight at the end
                    problems.append(f"c={n} round {rnd + 1}: {in_db} loans+returns in the database, "
                                    f"{loans['ok']} answered 2xx")
                runs.append({"round": rnd + 1, "connections": n, "healthz": health, "loans": loans})
                print(f"round {rnd + 1} c={n:<3d} healthz {health['per_s']:7.0f}/s p99 {health['p99_ms']:5.1f} ms "
                      f"cpu {health['server_cpu_ms']:.2f} (io {health['io_cpu_ms']:.2f}, sys {health['sys_cpu_ms']:.2f}) ms | "
                      f"loans {loans['per_s']:6.0f}/s p50 {loans['p50_ms']:5.1f} p99 {loans['p99_ms']:5.1f} ms "
                      f"cpu {loans['server_cpu_ms']:.2f} (io {loans['io_cpu_ms']:.2f}, sys {loans['sys_cpu_ms']:.2f}) ms, "
                      f"2xx {loans['ok']} = db {loans['db_loans']} loans + {loans['db_returns']} returns; "
                      f"load {health['load']:.1f}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    kind = url.split(":", 1)[0].split("+")[0]
    lines = [f"wrk -t{args.wrk_threads} -d{args.seconds:g}s, `flask --app library_app serve` "
             f"(waitress {args.server_threads} threads), "
             f"{kind}, bearer token; median (min–max) of {args.runs} rounds"]
    for n in conns:
        mine = [r for r in runs if r["connections"] == n]
        ratios = [r["loans"]["per_s"] / r["healthz"]["per_s"] for r in mine]
        lines.append(f"c={n:<3d} healthz/s {_spread([r['healthz']['per_s'] for r in mine])}  "
                     f"p99 ms {_spread([r['healthz']['p99_ms'] for r in mine])}")
        lines.append(f"      loans/s   {_spread([r['loans']['per_s'] for r in mine])}  "
                     f"p50 ms {_spread([r['loans']['p50_ms'] for r in mine])}  "
                     f"p99 ms {_spread([r['loans']['p99_ms'] for r in mine])}")
        lines.append(f"      loans/s ÷ healthz/s {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) "
                     "(target ≥ 0.33, p99 < 50 ms); load average "
                     f"{_spread([r['healthz']['load'] for r in mine])}")
    total_ok = sum(r["loans"]["ok"] for r in runs)
    total_db = sum(r["loans"]["db_loans"] + r["loans"]["db_returns"] for r in runs)
    lent = sum(r["loans"]["answers"].get("200 applied lent", 0) for r in runs)
    back = sum(r["loans"]["answers"].get("200 applied returned", 0) for r in runs)
    lines.append(f"every loan run: {total_ok} answered 2xx ({lent} lent, {back} returned), "
                 f"{total_db} loans + returns in the database; "
                 + ("; ".join(problems) if problems else "no problem found"))
    print("\n".join(lines))
    (tmp / "runs.json").write_text(json.dumps(runs, indent=1), encoding="utf-8")
    if args.append:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as f:
            f.write(f"\n### bench_circulation.py --wrk, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n```\n")
            f.write("\n".join(lines) + "\n```\n")
    if problems:
        sys.exit(1)
