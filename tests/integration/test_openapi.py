"""library_app/api/openapi.yaml describes every /api/v1 route the app has, and nothing it lacks:
the fuzz pass (bench/fuzz_api.py) reaches only what the file lists, so it must not drift."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from library_app import create_app

SPEC = Path(__file__).resolve().parents[2] / "library_app" / "api" / "openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete"}


def _routes(tmp_path) -> set[tuple[str, str]]:
    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "DATABASE_URL": "sqlite:///" + str(tmp_path / "unused.sqlite3")})
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1"):])
        found |= {(m.lower(), path) for m in rule.methods or () if m.lower() in METHODS}
    return found


def _described() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    assert spec["servers"] == [{"url": "/api/v1"}]
    return {(m, path) for path, item in spec["paths"].items() for m in item if m in METHODS}


def test_openapi_describes_every_api_route_and_no_other(tmp_path):
    routes, described = _routes(tmp_path), _described()
    assert sorted(routes - described) == [], "routes missing from library_app/api/openapi.yaml"
    assert sorted(described - routes) == [], "operations in openapi.yaml the app does not have"


def test_every_operation_has_an_id_and_path_parameters_match():
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    params = spec["components"]["parameters"]
    ids = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method not in METHODS:
                continue
            ids.append(op["operationId"])
            declared = {params[p["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in p else p["name"]
                        for p in shared + op.get("parameters", [])
                        if (params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["in"] == "path"}
            assert declared == set(re.findall(r"{([a-z_]+)}", path)), (method, path)
    assert len(ids) == len(set(ids))
