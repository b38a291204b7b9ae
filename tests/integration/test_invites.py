"""Invitations (api.md "Community-run points", issue 20) on SQLite and PostgreSQL: who may invite
whom, single use, expiry on the app's pinned clock, revocation, password rules, the pages.

New accounts get a cheap argon2 hash here (as in test_login_throttle.py): these tests are about
the invitation, and the real parameters cost a second or two a hash on the test machine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from library_app.db import session_factory
from library_app.models import AuditLog, Invitation, User
from tests.integration.test_auth import csrf_from

NOW = datetime.now(UTC).replace(microsecond=0)
pytestmark = pytest.mark.usefixtures("cheap_hashes")  # every test here checks passwords
PASSWORD = "sea-turtle-lamp-42"


@pytest.fixture
def app_config():
    return {"FIXED_NOW": NOW}


@pytest.fixture
def people(make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    return {
        "admin": make.token(make.user("boss", "admin")),
        "lib": make.token(make.user("lib", "librarian")),
        "lead": make.token(make.user("lead", "point_lead", points=["P01"])),
        "mama": make.token(make.user("mama", "story_mother", points=["P01"])),
    }


def invite(client, headers, role="story_mother", points=("P01",), status=201):
    r = client.post("/api/v1/invites", json={"role": role, "points": list(points)}, headers=headers)
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


def accept(client, token, username="wangli", password=PASSWORD, display_name="王丽", **env):
    return client.post(f"/api/v1/invites/{token}/accept", environ_base=env,
                       json={"username": username, "password": password, "display_name": display_name})


def rows(app, stmt):
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).all()


# ---------------------------------------------------------------- making invitations

@pytest.mark.parametrize("who", ["admin", "lib", "lead"])
def test_admin_librarian_and_point_lead_invite_a_story_mother(client, people, app, who):
    body = invite(client, people[who])
    assert body["url"] == f"/join/{body['token']}"
    assert body["full_url"].endswith(body["url"])
    assert datetime.fromisoformat(body["expires_at"]) == NOW + timedelta(hours=72)
    assert len(body["token"]) >= 43
    [(stored,)] = rows(app, select(Invitation.token_hash))
    assert body["token"] not in stored and len(stored) == 64  # only the hash is kept
    assert [a for (a,) in rows(app, select(AuditLog.action))].count("invite.create") == 1


def test_a_point_lead_is_refused_another_points_story_mother_and_a_librarian(client, people):
    r = client.post("/api/v1/invites", json={"role": "story_mother", "points": ["P02"]}, headers=people["lead"])
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "not_your_point" and "P02" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/invites", json={"role": "librarian", "points": []}, headers=people["lead"])
    assert r.status_code == 403 and "故事妈妈" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/invites", json={"role": "admin"}, headers=people["admin"])
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "role_not_invitable"
    r = client.post("/api/v1/invites", json={"role": "story_mother", "points": []}, headers=people["lib"])
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "point_required"
    r = client.post("/api/v1/invites", json={"role": "story_mother", "points": ["P99"]}, headers=people["lib"])
    assert r.status_code == 422 and "P99" in r.get_json()["error"]["message"]
    assert client.post("/api/v1/invites", json={"role": "story_mother", "points": ["P01"]},
                       headers=people["mama"]).status_code == 403


def test_the_list_shows_a_point_lead_her_own_and_her_points_invitations_only(client, people):
    invite(client, people["admin"], points=["P02"])
    invite(client, people["admin"], role="viewer", points=[])
    mine = invite(client, people["lead"])
    theirs = invite(client, people["lib"], points=["P01", "P02"])
    seen = client.get("/api/v1/invites", headers=people["lead"]).get_json()["invites"]
    assert sorted(i["id"] for i in seen) == sorted([mine["id"], theirs["id"]])
    assert len(client.get("/api/v1/invites", headers=people["lib"]).get_json()["invites"]) == 4
    one = next(i for i in seen if i["id"] == mine["id"])
    assert (one["role"], one["points"], one["state"], one["created_by"]) == ("story_mother", ["P01"], "open", "lead")
    # she may not revoke the librarian's invitation for P01 and P02, nor see the P02 one
    assert client.delete(f"/api/v1/invites/{theirs['id']}", headers=people["lead"]).status_code == 403
    hidden = next(i for i in client.get("/api/v1/invites", headers=people["lib"]).get_json()["invites"]
                  if i["points"] == ["P02"])
    assert client.delete(f"/api/v1/invites/{hidden['id']}", headers=people["lead"]).status_code == 404


# ---------------------------------------------------------------- accepting

def test_accepting_makes_the_account_with_the_role_and_points_and_she_can_log_in(client, people, app):
    token = invite(client, people["lead"])["token"]
    r = accept(client, token)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json() == {"username": "wangli", "role": "story_mother", "points": ["P01"]}
    login = client.post("/api/v1/auth/token", json={"username": "wangli", "password": PASSWORD})
    assert login.status_code == 200 and login.get_json()["user"]["points"] == ["P01"]
    [(used_at, used_by)] = rows(app, select(Invitation.used_at, User.username).join(User, User.id == Invitation.used_by_id))
    assert used_at == NOW and used_by == "wangli"
    actions = [a for (a,) in rows(app, select(AuditLog.action))]
    assert {"invite.create", "user.create", "invite.accept"} <= set(actions)
    assert [i["state"] for i in client.get("/api/v1/invites", headers=people["lead"]).get_json()["invites"]] == ["used"]


def test_a_used_link_is_gone(client, people):
    token = invite(client, people["admin"])["token"]
    assert accept(client, token).status_code == 201
    r = accept(client, token, username="someone_else")
    assert r.status_code == 410 and "用过" in r.get_json()["error"]["message"]


def test_an_expired_link_is_gone_on_the_apps_clock(client, people, app):
    token = invite(client, people["admin"])["token"]
    app.config["FIXED_NOW"] = NOW + timedelta(hours=72)
    r = accept(client, token)
    assert r.status_code == 410 and "过期" in r.get_json()["error"]["message"]
    app.config["FIXED_NOW"] = NOW + timedelta(hours=71, minutes=59)
    assert accept(client, token).status_code == 201


def test_a_revoked_link_is_gone(client, people):
    made = invite(client, people["lead"])
    assert client.delete(f"/api/v1/invites/{made['id']}", headers=people["lead"]).status_code == 204
    r = accept(client, made["token"])
    assert r.status_code == 410 and "撤销" in r.get_json()["error"]["message"]
    listed = client.get("/api/v1/invites", headers=people["admin"]).get_json()["invites"]
    assert [(i["state"], i["revoked_by"]) for i in listed] == [("revoked", "lead")]


def test_disabling_the_inviter_ends_her_open_links(client, people, app):
    token = invite(client, people["lead"])["token"]
    with app.app_context(), session_factory()() as db:
        db.execute(update(User).where(User.username == "lead").values(active=False))
        db.commit()
    assert accept(client, token).status_code == 410


def test_a_weak_password_is_refused_and_the_link_stays_open(client, people):
    token = invite(client, people["admin"])["token"]
    for weak in ("12345678", "short", "wangli2024"):
        r = accept(client, token, password=weak)
        assert r.status_code == 422, weak
        assert re.search(r"[\u4e00-\u9fff]", r.get_json()["error"]["message"])
    assert accept(client, token).status_code == 201


def test_a_taken_login_name_is_refused_and_the_link_stays_open(client, people):
    token = invite(client, people["admin"])["token"]
    r = accept(client, token, username="MAMA")
    assert r.status_code == 409 and "登录名" in r.get_json()["error"]["message"]
    assert accept(client, token, username="mama2").status_code == 201


def test_an_unknown_link_is_404_and_guessing_many_is_throttled_per_address(client, people, app):
    app.config["INVITE_ADDRESS_LIMITS"] = ((3, 60),)
    token = invite(client, people["admin"])["token"]
    for i in range(3):
        r = accept(client, f"guess{i}", REMOTE_ADDR="198.51.100.7")
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "invite_unknown"
    r = accept(client, "guess-again", REMOTE_ADDR="198.51.100.7")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert accept(client, token, REMOTE_ADDR="198.51.100.7").status_code == 429  # even a right one waits
    assert accept(client, token, REMOTE_ADDR="198.51.100.8").status_code == 201  # another address is free
    app.config["FIXED_NOW"] = NOW + timedelta(seconds=61)
    assert accept(client, "guess-later", REMOTE_ADDR="198.51.100.7").status_code == 404


def test_real_links_do_not_count_as_guesses(client, people, app):
    app.config["INVITE_ADDRESS_LIMITS"] = ((2, 60),)
    tokens = [invite(client, people["admin"])["token"] for _ in range(3)]
    for t in tokens:  # three weak tries and three accepts, all with real links, from one address
        assert accept(client, t, password="12345678").status_code == 422
        assert accept(client, t, username=f"user_{t[:6].lower()}x").status_code == 201
    assert accept(client, tokens[0]).status_code == 410


# ---------------------------------------------------------------- pages

def test_the_join_page_makes_the_account_and_lands_her_signed_in_on_the_scan_screen(client, people, app):
    token = invite(client, people["lead"])["token"]
    page = client.get(f"/join/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "故事妈妈" in html and "三灶镇故事会点" in html and 'name="confirm"' in html
    form = {"csrf_token": csrf_from(page.data), "username": "wangli", "display_name": "王丽",
            "password": PASSWORD, "confirm": PASSWORD + "x"}
    r = client.post(f"/join/{token}", data=form)
    assert r.status_code == 422 and "两次输入的密码不一样" in r.get_data(as_text=True)
    r = client.post(f"/join/{token}", data={**form, "password": "12345678", "confirm": "12345678"})
    assert r.status_code == 422 and "太常见" in r.get_data(as_text=True)
    r = client.post(f"/join/{token}", data={**form, "confirm": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/scan")
    scan = client.get("/scan")
    assert scan.status_code == 200 and "王丽" in scan.get_data(as_text=True)
    again = app.test_client().get(f"/join/{token}")
    assert again.status_code == 410 and "用过" in again.get_data(as_text=True)
    assert "Traceback" not in again.get_data(as_text=True)


def test_the_join_page_for_unknown_expired_and_revoked_links(client, people, app):
    made = invite(client, people["admin"])
    assert client.get("/join/not-a-real-token").status_code == 404
    assert "找不到这个邀请链接" in client.get("/join/not-a-real-token").get_data(as_text=True)
    app.config["FIXED_NOW"] = NOW + timedelta(days=4)
    r = client.get(f"/join/{made['token']}")
    assert r.status_code == 410 and "过期" in r.get_data(as_text=True)
    app.config["FIXED_NOW"] = NOW
    assert client.delete(f"/api/v1/invites/{made['id']}", headers=people["admin"]).status_code == 204
    r = client.get(f"/join/{made['token']}")
    assert r.status_code == 410 and "撤销" in r.get_data(as_text=True)


def test_a_taken_name_on_the_join_page_is_a_409_with_a_chinese_message(client, people):
    token = invite(client, people["admin"])["token"]
    page = client.get(f"/join/{token}")
    r = client.post(f"/join/{token}", data={"csrf_token": csrf_from(page.data), "username": "lead",
                                            "display_name": "王丽", "password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == 409 and "这个登录名已经有人用了" in r.get_data(as_text=True)


def test_the_invitations_page_makes_a_link_with_its_qr_and_revokes_it(client, make, app):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    lead = make.user("lead", "point_lead", points=["P01"])
    make.login(client, lead)
    page = client.get("/invites")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="P01"' in html and 'value="P02"' not in html
    assert 'value="librarian"' not in html and 'value="story_mother"' in html
    r = client.post("/invites", data={"csrf_token": csrf_from(page.data), "role": "story_mother", "points": ["P01"]})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'src="data:image/png;base64,' in html
    link = re.search(r'data-invite-url>(http[^<]+/join/([^<]+))</textarea>', html)
    assert link, html
    r = client.post("/invites", data={"csrf_token": csrf_from(page.data), "role": "story_mother", "points": ["P02"]})
    assert r.status_code == 403 and "P02 不是您的阅读点" in r.get_data(as_text=True)
    [(invite_id,)] = rows(app, select(Invitation.id))
    r = client.post(f"/invites/{invite_id}/revoke", data={"csrf_token": csrf_from(page.data)})
    assert r.status_code == 302
    assert app.test_client().get(f"/join/{link.group(2)}").status_code == 410
    assert "已撤销" in client.get("/invites").get_data(as_text=True)


def test_the_nav_offers_invitations_to_inviters_only(client, make):
    make.point("P01")
    for role, shown in (("admin", True), ("librarian", True), ("point_lead", True), ("story_mother", False),
                        ("viewer", False)):
        c = client.application.test_client()
        make.login(c, make.user(f"nav_{role}", role, points=["P01"]))
        assert ('href="/invites"' in c.get("/home").get_data(as_text=True)) is shown, role
