"""Hardening per trust.md: headers, cookie flags behind HTTPS and a reverse proxy, next=,
throttling per address, CSRF, upload limits, no-store, 403 logged, the secret key.

Access rules do not depend on the database: these run on SQLite only.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
from flask import request

from library_app import create_app
from tests.builders import PASSWORD
from tests.integration.test_auth import csrf_from

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _login(client, username: str, password: str = PASSWORD, **kw):
    token = csrf_from(client.get("/login", **kw).data)
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password}, **kw)


def _session_cookie(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert cookies, "the response sets the session cookie"
    return cookies[-1]


# ---------------------------------------------------------------- headers


def test_pages_api_and_errors_carry_the_security_headers(client, make):
    make.login(client, make.user("boss", "admin"))
    for url in ("/login", "/home", "/admin/settings", "/api/v1/points", "/no/such/page", "/healthz"):
        r = client.get(url)
        csp = r.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'", url
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")
        assert directives["script-src"].split()[0] == "'self'"
        assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
        assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "camera=(self)" in r.headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in r.headers  # plain http: no HSTS


def test_every_html_page_an_admin_can_open_is_no_store(app, client, make):
    """Pages may show children's data: never kept by shared caches or the back button."""
    make.point("P01")
    make.login(client, make.user("boss", "admin"))
    checked = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        r = client.get(rule.rule)
        if r.status_code == 200 and r.mimetype == "text/html":
            assert r.headers.get("Cache-Control") == "no-store", rule.rule
            checked.append(rule.rule)
    assert {"/home", "/admin/settings", "/admin/audit", "/admin/users"} <= set(checked)


# ---------------------------------------------------------------- cookies, HTTPS and the proxy


def test_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(client, make):
    make.user("lib", "librarian")
    r = _login(client, "lib")
    assert r.status_code == 302
    cookie = _session_cookie(r)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # would be dropped by the browser on http://192.168.x.x:5000


def test_session_cookie_is_secure_when_served_over_https(client, make):
    make.user("lib", "librarian")
    r = _login(client, "lib", base_url="https://lib.example.org",
               headers={"Referer": "https://lib.example.org/login"})
    assert r.status_code == 302
    cookie = _session_cookie(r)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def _lang_cookie(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("lang=")]
    assert cookies, "the response sets the language cookie"
    return cookies[-1]


def test_the_language_cookie_is_flagged_like_the_session_cookie(client, make):
    make.user("lib", "librarian")
    token = csrf_from(client.get("/login").data)
    plain = _lang_cookie(client.post("/lang/en", data={"csrf_token": token}))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    https = {"base_url": "https://lib.example.org", "headers": {"Referer": "https://lib.example.org/login"}}
    token = csrf_from(client.get("/login", **https).data)
    secure = _lang_cookie(client.post("/lang/zh_CN", data={"csrf_token": token}, **https))
    assert "Secure" in secure and "HttpOnly" in secure and "SameSite=Lax" in secure


@pytest.fixture
def proxied_app(db_url, tmp_path):
    """The app as deployed behind nginx: LIBRARY_TRUST_PROXY=1 in the environment."""
    old = {k: os.environ.get(k) for k in ("LIBRARY_TRUST_PROXY", "LIBRARY_INSTANCE_PATH")}
    os.environ["LIBRARY_TRUST_PROXY"] = "1"
    os.environ["LIBRARY_INSTANCE_PATH"] = str(tmp_path / "proxied")
    try:
        app = create_app({"TESTING": True, "DATABASE_URL": db_url})
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield app
    app.extensions["library_db"].engine.dispose()


FORWARDED_HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lib.example.org",
                   "X-Forwarded-For": "203.0.113.9", "Referer": "https://lib.example.org/login"}


def test_behind_a_trusted_proxy_https_is_seen_and_the_cookie_is_secure(proxied_app):
    from flask import url_for

    from tests.builders import Builders

    @proxied_app.get("/_external")
    def external():
        return url_for("auth.login", _external=True) + " " + request.remote_addr

    external._public = True
    Builders(proxied_app).user("lib", "librarian")
    client = proxied_app.test_client()
    r = _login(client, "lib", headers=FORWARDED_HTTPS)
    assert r.status_code == 302, r.get_data(as_text=True)
    assert "Secure" in _session_cookie(r)
    assert "Strict-Transport-Security" in r.headers
    home = client.get("/home", headers=FORWARDED_HTTPS)
    assert home.status_code == 200
    # links the app makes are the public https address, and the client is the phone, not nginx
    seen = client.get("/_external", headers=FORWARDED_HTTPS).get_data(as_text=True)
    assert seen == "https://lib.example.org/login 203.0.113.9"


def test_without_trust_proxy_forwarded_headers_are_ignored(client, make):
    make.user("lib", "librarian")
    r = _login(client, "lib", headers={**FORWARDED_HTTPS, "Referer": "http://localhost/login"})
    assert r.status_code == 302
    cookie = _session_cookie(r)
    assert "Secure" not in cookie and "Strict-Transport-Security" not in r.headers


def test_session_cookie_secure_can_be_forced_by_configuration(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LIBRARY_SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(tmp_path / "forced"))
    app = create_app({"TESTING": True, "DATABASE_URL": db_url})
    try:
        from tests.builders import Builders

        Builders(app).user("lib", "librarian")
        assert app.config["SESSION_COOKIE_SECURE"] is True
        r = app.test_client().get("/login")
        assert "Secure" in _session_cookie(r)
    finally:
        app.extensions["library_db"].engine.dispose()


# ---------------------------------------------------------------- throttling by address


def _failed_logins(client, usernames, forwarded_for=None):
    codes = []
    for i, name in enumerate(usernames):
        headers = {"X-Forwarded-For": forwarded_for or f"198.51.100.{i}"}
        token = csrf_from(client.get("/login", headers=headers).data)
        codes.append(client.post("/login", headers=headers, data={
            "csrf_token": token, "username": name, "password": "wrong-password"}).status_code)
    return codes


def _small_address_allowance(app) -> None:
    """Five failures a minute per address (the default is 60, see test_auth): these tests are
    about which address is counted, not how many."""
    app.config["LOGIN_ADDRESS_LIMITS"] = ((5, 60),)


def test_login_is_throttled_per_address_across_usernames(app, client, make):
    _small_address_allowance(app)
    make.user("lib", "librarian")
    names = [f"guess{i}" for i in range(6)]
    codes = [_login(client, n, "wrong-password", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code
             for n in names]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    assert "尝试次数过多" in _login(client, "lib", environ_base={"REMOTE_ADDR": "192.0.2.7"}).get_data(as_text=True)
    # another address is not blocked by someone else's guessing
    assert _login(client, "lib", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 302


def test_behind_the_proxy_each_client_address_has_its_own_limit(proxied_app):
    from tests.builders import Builders

    _small_address_allowance(proxied_app)
    Builders(proxied_app).user("lib", "librarian")
    client = proxied_app.test_client()
    codes = _failed_logins(client, [f"guess{i}" for i in range(6)], forwarded_for="203.0.113.5")
    assert codes[5] == 429  # one phone guessing is stopped...
    other = _failed_logins(client, ["someone"], forwarded_for="203.0.113.6")
    assert other == [200]  # ...but the other phones behind the same nginx are not


def test_without_trust_proxy_a_spoofed_forwarded_for_does_not_dodge_the_limit(app, client, make):
    _small_address_allowance(app)
    make.user("lib", "librarian")
    codes = _failed_logins(client, [f"guess{i}" for i in range(6)])  # a new X-Forwarded-For each time
    assert codes[5] == 429


# ---------------------------------------------------------------- next=, CSRF, uploads


@pytest.mark.parametrize("evil", [
    "https:evil.example", "///evil.example", "/\\/evil.example", " //evil.example",
    "http://localhost/home", "\t//evil.example", "/%0a/evil.example\r\nSet-Cookie: x=1",
])
def test_next_never_redirects_off_site(client, make, evil):
    make.user("lib", "librarian")
    token = csrf_from(client.get("/login").data)
    r = client.post("/login", query_string={"next": evil},
                    data={"csrf_token": token, "username": "lib", "password": PASSWORD})
    assert r.status_code == 302
    assert r.headers["Location"] == "/home"
    assert "x=1" not in " ".join(r.headers.getlist("Set-Cookie"))


def test_forms_refuse_a_post_without_csrf_token(client, make):
    make.login(client, make.user("boss", "admin"))
    r = client.post("/admin/settings", data={"org_name": "被篡改"})
    assert r.status_code == 400 and "请求无效" in r.get_data(as_text=True)
    r = client.post("/admin/users/new", data={"username": "x", "role": "admin", "password": "long-enough-1"})
    assert r.status_code == 400
    r = client.post("/admin/settings", data={"org_name": "被篡改", "csrf_token": "forged"})
    assert r.status_code == 400
    assert "被篡改" not in client.get("/home").get_data(as_text=True)


@pytest.fixture
def app_config():
    return {"MAX_CONTENT_LENGTH": 64 * 1024}


def test_an_oversize_upload_is_413_on_pages_and_json_on_the_api(client, make):
    make.login(client, make.user("boss", "admin"))
    token = csrf_from(client.get("/admin/settings").data)
    big = io.BytesIO(b"\x89PNG" + b"0" * (100 * 1024))
    r = client.post("/admin/settings", data={"csrf_token": token, "org_name": "x", "logo": (big, "logo.png")},
                    content_type="multipart/form-data")
    assert r.status_code == 413
    html = r.get_data(as_text=True)
    assert "文件太大" in html and "<html" in html and "Traceback" not in html
    headers = make.token(make.user("lib", "librarian"))
    r = client.post("/api/v1/points", data=b"{" + b" " * (100 * 1024) + b"}", headers=headers,
                    content_type="application/json")
    assert r.status_code == 413
    assert r.get_json()["error"] == {"code": "too_large", "message": "上传的文件太大了。"}


# ---------------------------------------------------------------- refusals and secrets


def test_a_refused_role_gets_403_and_the_refusal_is_logged(client, make, caplog):
    make.login(client, make.user("mama", "story_mother", points=["P01"]))
    with caplog.at_level(logging.WARNING):
        r = client.get("/admin/audit")
    assert r.status_code == 403 and "没有权限" in r.get_data(as_text=True)
    assert any("403 GET /admin/audit user=mama role=story_mother" in m for m in caplog.messages)


def test_debug_is_off_and_errors_show_no_internals(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(tmp_path / "prod"))
    app = create_app({"DATABASE_URL": db_url})  # as `serve` runs it: no TESTING, no DEBUG
    try:
        assert app.debug is False and app.testing is False

        @app.get("/explode")
        def explode():
            raise ZeroDivisionError("internal detail 42")

        explode._public = True
        r = app.test_client().get("/explode")
        body = r.get_data(as_text=True)
        assert r.status_code == 500 and "系统出错了" in body
        assert "ZeroDivisionError" not in body and "internal detail" not in body
    finally:
        app.extensions["library_db"].engine.dispose()


def test_secret_key_is_generated_once_into_instance_never_a_default(db_url, tmp_path, monkeypatch):
    instance = tmp_path / "fresh-instance"
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("LIBRARY_SECRET_KEY", raising=False)
    first = create_app({"DATABASE_URL": db_url})
    second = create_app({"DATABASE_URL": db_url})
    other = tmp_path / "other-instance"
    monkeypatch.setenv("LIBRARY_INSTANCE_PATH", str(other))
    third = create_app({"DATABASE_URL": db_url})
    for a in (first, second, third):
        a.extensions["library_db"].engine.dispose()
    key_file = Path(instance) / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 32
    assert third.config["SECRET_KEY"] != first.config["SECRET_KEY"]  # per installation
    monkeypatch.setenv("SECRET_KEY", "given-by-the-admin")
    given = create_app({"DATABASE_URL": db_url})
    given.extensions["library_db"].engine.dispose()
    assert given.config["SECRET_KEY"] == "given-by-the-admin"


def test_the_serve_command_behind_a_proxy_passes_forwarded_headers_to_the_app(make, db_url, tmp_path):
    """Through the real `serve` (waitress drops X-Forwarded-* unless told otherwise): with
    LIBRARY_TRUST_PROXY=1, a request that nginx marks as https gets a Secure cookie and HSTS."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    make.user("lib", "librarian")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIBRARY_DATABASE_URL": db_url, "LIBRARY_INSTANCE_PATH": str(tmp_path / "srv"),
           "LIBRARY_TRUST_PROXY": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "library_app", "serve", "--port", str(port), "--threads", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/login", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "lib.example.org",
            "X-Forwarded-For": "203.0.113.9"})
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    headers = response.headers
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        cookie = next(h for h in headers.get_all("Set-Cookie") if h.startswith("session="))
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
