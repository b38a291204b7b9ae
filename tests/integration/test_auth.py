import re

from tests.builders import PASSWORD


def csrf_from(html: bytes) -> str:
    m = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        rb'name="csrf_token" value="([^"]+)"', html)
    assert m, "form has a CSRF token"
    return m.group(1).decode()


def test_first_run_page_creates_the_first_admin_then_disappears(client, app):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/setup")
    page = client.get("/setup")
    assert "创建管理员" in page.get_data(as_text=True)
    r = client.post("/setup", data={"csrf_token": csrf_from(page.data), "username": "boss",
                                    "display_name": "林老师", "password": "long-enough-1",
                                    "confirm": "long-enough-1"})
    assert r.status_code == 302
    home = client.get("/home")
    assert "你好，林老师" in home.get_data(as_text=True)
    # the page is gone once a user exists, for everyone
    assert client.get("/setup").status_code == 404
    assert app.test_client().get("/setup").status_code == 404


def test_setup_refuses_short_password(client):
    page = client.get("/setup")
    r = client.post("/setup", data={"csrf_token": csrf_from(page.data), "username": "boss",
                                    "password": "short", "confirm": "short"})
    assert r.status_code == 200
    assert "至少需要 8 个字符" in r.get_data(as_text=True)


def test_login_logout_and_same_message_for_unknown_user(client, make):
    make.user("mama", "story_mother", points=["P01"])
    page = client.get("/login")
    assert "登录" in page.get_data(as_text=True)
    token = csrf_from(page.data)
    wrong = client.post("/login", data={"csrf_token": token, "username": "mama", "password": "nope-nope"})
    unknown = client.post("/login", data={"csrf_token": token, "username": "ghost", "password": "nope-nope"})
    assert "用户名或密码不正确" in wrong.get_data(as_text=True)
    assert "用户名或密码不正确" in unknown.get_data(as_text=True)
    ok = client.post("/login?next=/points/", data={"csrf_token": token, "username": "MAMA", "password": PASSWORD})
    assert ok.status_code == 302 and ok.headers["Location"] == "/points/"
    assert client.get("/home").status_code == 200
    home = client.get("/home")
    r = client.post("/logout", data={"csrf_token": csrf_from(home.data)})
    assert r.status_code == 302
    assert client.get("/home").status_code == 302


def test_login_next_never_leaves_the_site(client, make):
    make.user("lib", "librarian")
    for evil in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]:
        page = client.get("/login")
        r = client.post("/login?next=" + evil, data={"csrf_token": csrf_from(page.data),
                                                     "username": "lib", "password": PASSWORD})
        assert r.headers["Location"] == "/home", evil
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/home").data)})


def test_disabled_user_cannot_log_in(client, make):
    make.user("old", "librarian", active=False)
    page = client.get("/login")
    r = client.post("/login", data={"csrf_token": csrf_from(page.data), "username": "old", "password": PASSWORD})
    assert "用户名或密码不正确" in r.get_data(as_text=True)


def test_form_post_without_csrf_token_is_refused(client, make):
    make.user("lib", "librarian")
    r = client.post("/login", data={"username": "lib", "password": PASSWORD})
    assert r.status_code == 400
    assert "请求无效" in r.get_data(as_text=True)


def test_login_is_throttled_per_account(client, make):
    make.user("lib", "librarian")
    page = client.get("/login")
    token = csrf_from(page.data)
    codes = [client.post("/login", data={"csrf_token": token, "username": "lib", "password": "wrong-pass"},
                         environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code for i in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[-1] == 429


def test_token_api(client, make):
    make.user("mama", "story_mother", points=["P01", "P02"])
    r = client.post("/api/v1/auth/token", json={"username": "mama", "password": PASSWORD})
    assert r.status_code == 200
    body = r.get_json()
    assert body["user"] == {"username": "mama", "role": "story_mother", "points": ["P01", "P02"]}
    assert body["token"] and body["expires_at"]
    headers = {"Authorization": "Bearer " + body["token"]}
    points = client.get("/api/v1/points", headers=headers).get_json()["points"]
    assert [p["code"] for p in points] == ["P01", "P02"]
    assert set(points[0]) >= {"code", "name", "active"}
    # bad credentials: 401 with a Chinese message; garbage token: 401
    bad = client.post("/api/v1/auth/token", json={"username": "mama", "password": "x"})
    assert bad.status_code == 401 and bad.get_json()["error"]["message"] == "用户名或密码不正确。"
    assert client.get("/api/v1/points", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/api/v1/auth/token", data="not json").status_code == 400


def test_token_endpoint_throttles_after_repeated_failures(client, make):
    make.user("mama", "story_mother")
    codes = [client.post("/api/v1/auth/token", json={"username": "mama", "password": "bad-bad-bad"}).status_code
             for _ in range(7)]
    assert codes[0] == 401 and 429 in codes
    assert client.post("/api/v1/auth/token", json={"username": "mama", "password": "bad"}).get_json()["error"]["message"]


def test_bearer_requests_need_no_csrf_but_browser_posts_do(client, make):
    lib = make.user("lib", "librarian")
    headers = make.token(lib)
    r = client.post("/api/v1/points", json={"code": "P09", "name": "新阅读点"}, headers=headers)
    assert r.status_code == 201
    make.login(client, lib)
    r = client.post("/api/v1/points", json={"code": "P10", "name": "另一个"})
    assert r.status_code == 400  # a session cookie alone is not enough: CSRF token missing


def test_passwords_are_argon2id(app, make):
    from library_app.services.users import hash_password
    assert hash_password("some-password").startswith("$argon2id$")


def test_expired_or_revoked_tokens_are_refused(client, make, app):
    from datetime import UTC, datetime, timedelta

    from library_app.db import session_factory
    from library_app.models import ApiToken

    headers = make.token(make.user("lib", "librarian"))
    assert client.get("/api/v1/points", headers=headers).status_code == 200
    with app.app_context(), session_factory()() as db:
        row = db.query(ApiToken).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.commit()
    assert client.get("/api/v1/points", headers=headers).status_code == 401
    with app.app_context(), session_factory()() as db:
        row = db.query(ApiToken).one()
        row.expires_at = datetime.now(UTC) + timedelta(hours=1)
        row.revoked_at = datetime.now(UTC)
        db.commit()
    assert client.get("/api/v1/points", headers=headers).status_code == 401
