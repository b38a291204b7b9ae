"""Walk the whole URL map: every endpoint declares who may use it, and the server enforces it.

Anonymous users are sent to the login page (pages) or get 401 (API); each signed-in role that an
endpoint does not allow gets 403. New endpoints are covered automatically.

Roles are half of it: test_data_scope.py walks the same URL map as a story mother of P01 against
a child of P02 (every id and code that reaches that child) and checks no answer names her.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter, PathConverter

from library_app.access import ALL_ROLES, allowed_roles, is_kiosk_route, is_public

# Endpoints anyone may reach. Adding one here is a decision: say why in the commit.
PUBLIC = {
    "static", "main.index", "main.healthz", "main.set_language", "auth.login", "auth.setup",
    "api.token",
    # offline scan screen shell: manifest, service worker and icons carry no personal data
    "offline.manifest", "offline.service_worker",
    # self-service corner: the tablet's screen (no data in the page) and trading a one-time
    # enrol code for the kiosk's token
    "kiosk.screen", "api.enrol_kiosk",
    # invitations: the invited person has no account yet; opening and accepting a link is
    # throttled per address (auth.throttle.address_attempt), the token is 256 random bits
    "invites.join", "api.accept_invite",
}

SAMPLE_ARGS = {"int": 1, "default": "X1", "path": "B0000018", "string": "X1"}


def _url(app, rule):
    values = {}
    for arg in rule.arguments:
        conv = rule._converters[arg]
        if isinstance(conv, IntegerConverter):  # also the app's bounded <int:>
            values[arg] = 1
        elif isinstance(conv, PathConverter):
            values[arg] = "B0000018"
        else:
            values[arg] = "2026-01" if "month" in arg else ("2026" if "year" in arg else "X1")
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **values)


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


# Access rules do not depend on the database: the matrix runs on SQLite only.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_every_endpoint_declares_its_roles(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if not is_public(view) and not allowed_roles(view) and not is_kiosk_route(view):
            undeclared.append(rule.endpoint)
        if is_public(view):
            assert rule.endpoint in PUBLIC, f"{rule.endpoint} is public but not in the allow-list"
    assert undeclared == []


def test_anonymous_is_refused_everywhere_but_public(app, client):
    checked = 0
    for rule, method in _routes(app):
        view = app.view_functions[rule.endpoint]
        if is_public(view):
            continue
        url = _url(app, rule)
        r = client.open(url, method=method)
        if rule.rule.startswith("/api/"):
            assert r.status_code == 401, (method, url, r.status_code)
            assert r.get_json()["error"]["code"] == "unauthorized"
        else:
            assert r.status_code == 302 and "/login" in r.headers["Location"], (method, url, r.status_code)
        checked += 1
    assert checked >= 10


def test_each_role_gets_403_where_not_allowed(app, make):
    checked = 0
    for role in ALL_ROLES:
        user = make.user(f"matrix_{role}", role, points=["P01"])
        client = app.test_client()
        make.login(client, user)
        api_headers = make.token(user)
        for rule, method in _routes(app):
            view = app.view_functions[rule.endpoint]
            if is_public(view) or role in allowed_roles(view):
                continue
            url = _url(app, rule)
            r = client.open(url, method=method)
            assert r.status_code == 403, (role, method, url, r.status_code)
            if rule.rule.startswith("/api/"):
                r2 = app.test_client().open(url, method=method, headers=api_headers)
                assert r2.status_code == 403, (role, method, url, "bearer", r2.status_code)
                assert r2.get_json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked >= 5
