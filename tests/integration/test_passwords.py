"""New passwords (issue 13 item 11): common ones refused everywhere a password is set (ASVS
6.2.4), and every signed-in user can change her own, giving the current one (6.2.2)."""

from __future__ import annotations

import pytest

from library_app.domain.accounts import password_problem
from tests.integration.test_auth import csrf_from
from tests.integration.test_login_throttle import (  # noqa: F401
    PASSWORD,
    app_config,
    user,
)

pytestmark = pytest.mark.usefixtures("cheap_hashes")  # the tests here check passwords

COMMON = ["12345678", "password", "88888888", "qwertyui", "a123456789", "iloveyou", "5201314a"]


@pytest.mark.parametrize("weak", COMMON + ["mama1234"])
def test_common_and_guessable_passwords_are_refused_with_a_chinese_reason(weak):
    assert "太常见" in password_problem(weak, ["mama"])


@pytest.mark.parametrize("fine", ["long-enough-1", "river-kite-moon-7", "故事会妈妈的新密码", "Zhuhai-2026-gushi"])
def test_ordinary_good_passwords_pass(fine):
    assert password_problem(fine, ["mama"]) is None


def test_the_create_user_command_refuses_a_common_password(runner, app):
    r = runner.invoke(args=["create-user", "boss", "--role", "admin", "--password", "12345678"])
    assert r.exit_code != 0 and "太常见" in r.output


def test_the_first_run_page_refuses_a_common_password(client):
    page = client.get("/setup")
    r = client.post("/setup", data={"csrf_token": csrf_from(page.data), "username": "boss",
                                    "password": "12345678", "confirm": "12345678"})
    assert r.status_code == 422 and "太常见" in r.get_data(as_text=True)
    assert client.get("/setup").status_code == 200  # no account was made


def test_the_admin_user_form_refuses_a_common_password(client, make):
    boss = make.user("boss", "admin")
    mama = make.user("mama", "story_mother")
    make.login(client, boss)
    page = client.get("/admin/users/new")
    r = client.post("/admin/users/new", data={"csrf_token": csrf_from(page.data), "username": "mama2",
                                              "role": "story_mother", "password": "12345678"})
    assert r.status_code == 422 and "太常见" in r.get_data(as_text=True)
    r = client.post(f"/admin/users/{mama.id}", data={
        "csrf_token": csrf_from(page.data), "display_name": "mama", "role": "story_mother",
        "active": "y", "password": "password"})
    assert r.status_code == 422 and "太常见" in r.get_data(as_text=True)


def _change(client, **data):
    page = client.get("/account/password")
    return client.post("/account/password", data={"csrf_token": csrf_from(page.data), **data})


def _login(client, name, password):
    token = csrf_from(client.get("/login").data)
    return client.post("/login", data={"csrf_token": token, "username": name, "password": password})


def test_every_signed_in_user_can_change_her_own_password_from_the_menu(app, client, make):
    user(app, make, "viewer1", "viewer")
    assert _login(client, "viewer1", PASSWORD).status_code == 302
    home = client.get("/home").get_data(as_text=True)
    assert 'href="/account/password"' in home and "修改密码" in home
    r = _change(client, current="not-my-password", password="river-kite-moon-7", confirm="river-kite-moon-7")
    assert r.status_code == 422 and "当前密码不正确" in r.get_data(as_text=True)
    r = _change(client, current=PASSWORD, password="12345678", confirm="12345678")
    assert r.status_code == 422 and "太常见" in r.get_data(as_text=True)
    r = _change(client, current=PASSWORD, password="river-kite-moon-7", confirm="river-kite-moen-7")
    assert "两次输入的密码不一致" in r.get_data(as_text=True)
    r = _change(client, current=PASSWORD, password="river-kite-moon-7", confirm="river-kite-moon-7")
    assert r.status_code == 302
    assert "密码已修改" in client.get("/home").get_data(as_text=True)
    other = app.test_client()
    assert "用户名或密码不正确" in _login(other, "viewer1", PASSWORD).get_data(as_text=True)
    assert _login(other, "viewer1", "river-kite-moon-7").status_code == 302


def test_the_password_page_needs_a_signed_in_user(client):
    r = client.get("/account/password")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_wrong_current_passwords_are_throttled_a_refused_new_one_is_not(app, client, make):
    user(app, make, "mama", "story_mother")
    assert _login(client, "mama", PASSWORD).status_code == 302
    for _ in range(6):  # she knows her password and keeps picking common new ones
        r = _change(client, current=PASSWORD, password="12345678", confirm="12345678")
        assert r.status_code == 422 and "太常见" in r.get_data(as_text=True)
    codes = [_change(client, current=f"guess-{i}-guess", password="river-kite-moon-7",
                     confirm="river-kite-moon-7").status_code for i in range(6)]
    assert codes == [422] * 5 + [429]  # someone at her unlocked phone guessing
