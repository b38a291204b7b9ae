from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import User
from tests.builders import PASSWORD
from tests.integration.test_auth import csrf_from


def _user(app, username):
    with app.app_context(), session_factory()() as db:
        user = db.scalar(select(User).where(User.username == username))
        return user, user.point_codes()


def test_admin_creates_a_story_mother_with_points(client, make, app):
    make.point("P01"), make.point("P02")
    make.login(client, make.user("boss", "admin"))
    page = client.get("/admin/users/new")
    r = client.post("/admin/users/new", data={
        "csrf_token": csrf_from(page.data), "username": "mama1", "display_name": "陈妈妈",
        "role": "story_mother", "points": ["P02"], "password": "long-enough-1"})
    assert r.status_code == 302
    user, points = _user(app, "mama1")
    assert user.role == "story_mother" and points == ["P02"]
    assert "陈妈妈" in client.get("/admin/users").get_data(as_text=True)
    # she can sign in with that password
    fresh = app.test_client()
    tok = fresh.post("/api/v1/auth/token", json={"username": "mama1", "password": "long-enough-1"})
    assert tok.get_json()["user"]["points"] == ["P02"]


def test_admin_disables_a_user_and_her_tokens_stop_working(client, make, app):
    make.point("P01")
    make.login(client, make.user("boss", "admin"))
    mama = make.user("mama", "story_mother", points=["P01"])
    headers = make.token(mama)
    assert client.application.test_client().get("/api/v1/points", headers=headers).status_code == 200
    page = client.get(f"/admin/users/{mama.id}")
    r = client.post(f"/admin/users/{mama.id}", data={
        "csrf_token": csrf_from(page.data), "display_name": "mama", "role": "story_mother",
        "points": ["P01"], "password": ""})  # 'active' unchecked
    assert r.status_code == 302
    user, _ = _user(app, "mama")
    assert user.active is False
    assert app.test_client().get("/api/v1/points", headers=headers).status_code == 401
    assert app.test_client().post("/api/v1/auth/token", json={"username": "mama", "password": PASSWORD}).status_code == 401


def test_duplicate_username_and_short_password_are_explained(client, make):
    make.login(client, make.user("boss", "admin"))
    page = client.get("/admin/users/new")
    r = client.post("/admin/users/new", data={"csrf_token": csrf_from(page.data), "username": "BOSS",
                                              "role": "librarian", "password": "long-enough-1"})
    assert "该用户名已被使用" in r.get_data(as_text=True)
    r = client.post("/admin/users/new", data={"csrf_token": csrf_from(page.data), "username": "new",
                                              "role": "librarian", "password": "short"})
    assert "至少需要 8 个字符" in r.get_data(as_text=True)


def test_admin_cannot_lock_themselves_out(client, make):
    boss = make.user("boss", "admin")
    make.login(client, boss)
    page = client.get(f"/admin/users/{boss.id}")
    r = client.post(f"/admin/users/{boss.id}", data={"csrf_token": csrf_from(page.data),
                                                      "role": "viewer", "active": "y"})
    assert "不能取消或停用您自己的管理员账号" in r.get_data(as_text=True)
