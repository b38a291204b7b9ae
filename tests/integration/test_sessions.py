"""Sessions end on the server (issue 13 item 5, api.md "Accounts (additions)"): a cookie copied
before logout, a password change or disabling is worth nothing after it; sessions have an idle
and an absolute lifetime (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS) on the app's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from library_app.db import session_factory
from library_app.models import User
from tests.integration.test_auth import csrf_from
from tests.integration.test_login_throttle import PASSWORD, user

START = datetime(2026, 6, 6, 14, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("cheap_hashes")  # every test here signs in with a password


def sign_in(client, name: str, password: str = PASSWORD):
    token = csrf_from(client.get("/login").data)
    r = client.post("/login", data={"csrf_token": token, "username": name, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)


def copy_of(app, client):
    """Another browser holding a copy of this one's session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def signed_out(client) -> bool:
    page = client.get("/home")
    api = client.get("/api/v1/points")
    return (page.status_code == 302 and "/login" in page.headers["Location"]
            and api.status_code == 401)


def post_form(client, path: str, **data):
    data["csrf_token"] = csrf_from(client.get(path if path != "/logout" else "/home").data)
    return client.post(path, data=data)


def test_a_cookie_copied_before_logout_is_signed_out_after_it(app, client, make):
    mama = user(app, make, "mama")
    token = make.token(mama)
    sign_in(client, "mama")
    thief = copy_of(app, client)
    assert thief.get("/home").status_code == 200  # the copy works while she is signed in
    assert app.test_client().get("/api/v1/points", headers=token).status_code == 200
    assert post_form(client, "/logout").status_code == 302
    assert signed_out(thief)
    assert signed_out(client)
    assert client.get("/api/v1/points", headers=token).status_code == 401  # her token too


def test_changing_her_own_password_ends_her_other_sessions_and_tokens(app, client, make):
    mama = user(app, make, "mama")
    token = make.token(mama)
    sign_in(client, "mama")
    thief = copy_of(app, client)
    assert app.test_client().get("/api/v1/points", headers=token).status_code == 200
    r = post_form(client, "/account/password", current=PASSWORD, password="river-kite-moon-7",
                  confirm="river-kite-moon-7")
    assert r.status_code == 302 and r.headers["Location"] == "/home"
    assert signed_out(thief)
    assert app.test_client().get("/api/v1/points", headers=token).status_code == 401
    assert client.get("/home").status_code == 200  # this browser goes on, with a new session
    assert post_form(client, "/logout").status_code == 302
    sign_in(client, "mama", "river-kite-moon-7")


def test_an_admin_changing_her_password_or_disabling_her_ends_her_sessions(app, client, make):
    boss = make.user("boss", "admin")
    mama = user(app, make, "mama")
    make.login(client, boss)
    hers = app.test_client()
    sign_in(hers, "mama")
    thief = copy_of(app, hers)
    form = {"display_name": "mama", "role": "story_mother", "active": "y", "password": "new-long-secret-9"}
    assert post_form(client, f"/admin/users/{mama.id}", **form).status_code == 302
    assert signed_out(thief) and signed_out(hers)

    sign_in(hers, "mama", "new-long-secret-9")
    thief = copy_of(app, hers)
    token = make.token(mama)
    form = {"display_name": "mama", "role": "story_mother"}  # active unticked
    assert post_form(client, f"/admin/users/{mama.id}", **form).status_code == 302
    form["active"] = "y"
    assert post_form(client, f"/admin/users/{mama.id}", **form).status_code == 302
    with app.app_context(), session_factory()() as db:
        assert db.get(User, mama.id).active
    # re-enabled: her old session and token stay dead, she signs in again
    assert signed_out(thief) and signed_out(hers)
    assert app.test_client().get("/api/v1/points", headers=token).status_code == 401
    sign_in(hers, "mama", "new-long-secret-9")


def test_an_admin_changing_her_own_password_stays_signed_in_on_this_browser(app, client, make):
    boss = user(app, make, "boss", "admin")
    sign_in(client, "boss")
    other = copy_of(app, client)
    form = {"display_name": "boss", "role": "admin", "active": "y", "password": "new-long-secret-9"}
    assert post_form(client, f"/admin/users/{boss.id}", **form).status_code == 302
    assert client.get("/home").status_code == 200
    assert signed_out(other)


def test_a_session_ends_after_three_idle_hours_however_it_is_replayed(app, client, make):
    user(app, make, "mama")
    app.config["FIXED_NOW"] = START
    sign_in(client, "mama")
    thief = copy_of(app, client)
    # in use: each request moves the idle limit on
    for minutes in (170, 340, 510):
        app.config["FIXED_NOW"] = START + timedelta(minutes=minutes)
        assert client.get("/home").status_code == 200, minutes
    app.config["FIXED_NOW"] = START + timedelta(minutes=510 + 181)
    assert signed_out(thief)
    assert signed_out(client)


def test_a_session_ends_after_twelve_hours_even_when_in_use(app, client, make):
    user(app, make, "mama")
    app.config["FIXED_NOW"] = START
    sign_in(client, "mama")
    for hour in range(1, 12):
        app.config["FIXED_NOW"] = START + timedelta(hours=hour)
        assert client.get("/home").status_code == 200, hour
    app.config["FIXED_NOW"] = START + timedelta(hours=12, minutes=1)
    assert signed_out(client)
    sign_in(client, "mama")  # a new sign-in starts a new twelve hours
    assert client.get("/home").status_code == 200


def test_the_lifetimes_are_configurable(app, client, make):
    user(app, make, "mama")
    app.config.update(FIXED_NOW=START, SESSION_IDLE_MINUTES=10, SESSION_MAX_HOURS=1)
    sign_in(client, "mama")
    app.config["FIXED_NOW"] = START + timedelta(minutes=9)
    assert client.get("/home").status_code == 200
    app.config["FIXED_NOW"] = START + timedelta(minutes=20)
    assert signed_out(client)


def test_the_cookie_holds_no_user_data_only_an_opaque_session(app, client, make):
    """A forged or pre-migration cookie with only a user id signs no one in."""
    mama = user(app, make, "mama")
    with client.session_transaction() as sess:
        sess["_user_id"] = str(mama.id)
        sess["_fresh"] = True
    assert signed_out(client)
