"""Fuzz the JSON API with schemathesis over library_app/api/openapi.yaml and report every 5xx.

    .venv/bin/pip install -e '.[test,fuzz]'
    .venv/bin/python bench/fuzz_api.py --minutes 5 [--seed 1] [--max-examples 50]

Run by hand (not part of the test suite). The app runs in this process, served by waitress on a
random port of 127.0.0.1, on a fresh SQLite database (or ``--database-url``) with a few points,
titles, copies and children; schemathesis (``st run``, all phases, positive and negative data,
the ``not_a_server_error`` check) runs once with an admin's bearer token and once with a story
mother's, half the time each. The server counts every request it answers and keeps each 5xx
with its traceback's last line, grouped by route and cause.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "library_app" / "api" / "openapi.yaml"


class Counter:
    """WSGI middleware: how many requests, and which answered 5xx."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.total = 0
        self.by_role: collections.Counter[str] = collections.Counter()
        self.role = "-"
        self.errors: list[dict[str, str]] = []
        self.local = threading.local()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.local.traceback = ""

        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            code = int(status.split()[0])
            with self.lock:
                self.total += 1
                self.by_role[self.role] += 1
                if code >= 500:
                    self.errors.append({"role": self.role, "method": environ["REQUEST_METHOD"],
                                        "path": environ.get("PATH_INFO", ""),
                                        "rule": environ.get("library.rule", ""),
                                        "status": str(code), "cause": self.local.traceback})
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class Catch(logging.Handler):
    """The last line of each unhandled error's traceback, for the request's thread."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.ERROR)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""
            self.counter.local.traceback = f"{type(exc).__name__}: {str(exc)[:160]} @ {where}"


def seed(app: Any) -> dict[str, dict[str, str]]:
    from tests.builders import Builders

    make = Builders(app)
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "平沙镇故事会点")
    for i, name in enumerate(["猜猜我有多爱你", "好饿的毛毛虫", "=HYPERLINK(1)", "十万个为什么"]):
        title = make.title(name, isbn=None if i else "9787533241780")
        make.copy(title, "P01")
        make.copy(title, "P02")
    for name, point in (("王小明", "P01"), ("李小红", "P02")):
        make.borrower(name, point)
    make.unbound_card()
    admin = make.user("fuzz-admin", "admin")
    mother = make.user("fuzz-mother", "story_mother", points=["P01"])
    return {"admin": make.token(admin), "story_mother": make.token(mother)}


HOSTILE: list[Any] = [
    "\ud800", 2**63, -(2**63) - 1, 10**30, 1e308, "0001-01-01T00:00:00", "9999-12-31T23:59:59Z",
    "0001-01-01", "x" * 50_000, "\x1b[31m", "", None, True, [], {}, [[[[[[[[]]]]]]]], "P01\x00",
    "%00", "../../etc/passwd", "C" + "9" * 30, "B0000017", "2026-13", "-1",
]


def sweep(base: str, tokens: dict[str, dict[str, str]], counter: Counter) -> None:
    """Every hostile value above into every path, query and JSON body field of every operation."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    import yaml

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    params = spec["components"]["parameters"]
    schemas = spec["components"]["schemas"]

    def resolve(p: dict[str, Any]) -> dict[str, Any]:
        return params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p

    def body_fields(op: dict[str, Any]) -> list[str] | None:
        content = (op.get("requestBody") or {}).get("content", {})
        if "application/json" not in content:
            return None
        schema = content["application/json"]["schema"]
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        props = dict(schema.get("properties", {}))
        for sub in schema.get("allOf", []) + schema.get("anyOf", []):
            sub = schemas[sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub
            props.update(sub.get("properties", {}))
        return list(props) or ["x"]

    def send(method: str, url: str, header: dict[str, str], body: str | None) -> None:
        req = urllib.request.Request(url, method=method.upper(), headers=dict(header),
                                     data=body.encode("utf-8") if body is not None else None)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            urllib.request.urlopen(req, timeout=30).read()
        except urllib.error.HTTPError as exc:
            exc.read()

    for role, header in tokens.items():
        counter.role = role + " (sweep)"
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                ps = [resolve(p) for p in item.get("parameters", []) + op.get("parameters", [])]
                path_names = [p["name"] for p in ps if p["in"] == "path"]
                normal = {n: ("1" if "id" in n else "2026-10" if n == "month" else "2026" if n == "year"
                              else "C0000019") for n in path_names}
                fields = body_fields(op)
                for value in HOSTILE:
                    text = value if isinstance(value, str) else json.dumps(value)
                    targets = [("path", n) for n in path_names] + [("query", p["name"]) for p in ps
                                                                   if p["in"] == "query"]
                    targets += [("body", f) for f in fields or []]
                    for where, name in targets:
                        values = dict(normal)
                        if where == "path":
                            values[name] = text
                        url = base + path.format(**{k: urllib.parse.quote(v.encode("utf-8", "surrogatepass"), safe="")
                                                    for k, v in values.items()})
                        if where == "query":
                            url += "?" + urllib.parse.urlencode({name: text.encode("utf-8", "surrogatepass")})
                        body = None
                        if fields is not None:
                            body = json.dumps({name: value} if where == "body" else {})
                        send(method, url, header, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()

    from waitress.server import create_server

    from library_app import create_app
    from library_app.db import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="fuzz-api-"))
    url = args.database_url or "sqlite:///" + str(tmp / "fuzz.sqlite3")
    upgrade(url)
    os.environ["LIBRARY_INSTANCE_PATH"] = str(tmp / "instance")
    (tmp / "instance").mkdir()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "fuzz", "RATELIMIT_ENABLED": False,
                      "TESTING": False})
    tokens = seed(app)
    counter = Counter(app.wsgi_app)
    app.wsgi_app = counter  # type: ignore[method-assign]
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)  # the 403 warnings of every refused call
    app.logger.addHandler(Catch(counter))
    app.logger.propagate = False
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    port = server.effective_port  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    budget = max(1, int(args.minutes * 60 / len(tokens)))
    started = time.monotonic()
    try:
        for role, header in tokens.items():
            counter.role = role
            cmd = [st, "run", str(SPEC), "--url", f"http://127.0.0.1:{port}/api/v1",
                   "-H", f"Authorization: {header['Authorization']}", "--checks", "not_a_server_error",
                   "--max-time", str(budget), "--seed", str(args.seed), "--workers", args.workers,
                   "--max-examples", str(args.max_examples), "--no-color",
                   "--suppress-health-check", "all", "--request-timeout", "30"]
            print(f"== {role}: st run for up to {budget} s", flush=True)
            out = subprocess.run(cmd, capture_output=True, text=True)
            lines = [line[:160] for line in out.stdout.splitlines() if line.strip()]
            start = next((i for i, line in enumerate(lines) if "SUMMARY" in line), max(0, len(lines) - 12))
            print("\n".join(lines[start:start + 12]))
        print("== hostile values into every field of every operation", flush=True)
        sweep(f"http://127.0.0.1:{port}/api/v1", tokens, counter)
    finally:
        server.trigger.pull_trigger(server._map.clear)  # type: ignore[union-attr]
        thread.join(timeout=5)
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{counter.total} requests in {time.monotonic() - started:.0f} s "
          f"({', '.join(f'{r}: {n}' for r, n in counter.by_role.items())}); "
          f"{len(counter.errors)} answered 5xx")
    groups: collections.Counter[tuple[str, str, str]] = collections.Counter()
    sample: dict[tuple[str, str, str], str] = {}
    for e in counter.errors:
        key = (e["method"], _route(e["path"]), e["cause"])
        groups[key] += 1
        sample.setdefault(key, e["path"][:120])
    for (method, route, cause), n in groups.most_common():
        print(f"  {n:4} × {method} {route}: {cause or '(no traceback)'}\n         e.g. {sample[(method, route, cause)]}")
    return 1 if counter.errors else 0


def _route(path: str) -> str:
    import re

    return re.sub(r"/(\d+|[BC]\w+|[^/]{25,})(?=/|$)", "/{…}", path)


if __name__ == "__main__":
    sys.exit(main())
