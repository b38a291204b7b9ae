"""Registering and finding children, their pages, and who may see them (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import AuditLog, Borrower
from tests.integration.test_auth import csrf_from

NEW = {"name": "李小花", "point": "P01", "birth_year": 2018, "guardian_name": "李大姐",
       "guardian_phone": "13912345678", "consent": True}


def count_borrowers(app) -> int:
    with app.app_context(), session_factory()() as db:
        return db.scalar(select(func.count(Borrower.id)))


def audit_rows(app, action: str) -> list[AuditLog]:
    with app.app_context(), session_factory()() as db:
        rows = list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))
        db.expunge_all()
        return rows


# ---------------------------------------------------------------- registration through the API

def test_register_via_api_gives_a_card_and_records_consent(app, client, make):
    make.point("P01")
    lib = make.user("lib", "librarian")
    r = client.post("/api/v1/borrowers", json=NEW, headers=make.token(lib))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["name"] == "李小花" and body["point"] == "P01"
    assert body["card"].startswith("C") and len(body["card"]) == 8
    assert "warnings" not in body
    with app.app_context(), session_factory()() as db:
        b = db.get(Borrower, body["id"])
        assert b.consent_at is not None and b.consent_by_id == lib.id
        assert b.search_pinyin == "lixiaohua" and b.search_initials == "lxh"
    detail = client.get(f"/api/v1/borrowers/{body['id']}", headers=make.token(lib)).get_json()
    assert detail["guardian_phone"] == "13912345678"  # a librarian sees the whole number
    assert detail["card"] == body["card"] and detail["status"] == "active" and detail["loans"] == []


def test_consent_is_required_in_the_api_and_the_form(app, client, make):
    make.point("P01")
    lib = make.user("lib", "librarian")
    for consent in (False, None, "yes"):
        r = client.post("/api/v1/borrowers", json={**NEW, "consent": consent}, headers=make.token(lib))
        assert r.status_code == 422
        assert r.get_json()["error"]["code"] == "consent_required"
    no_field = {k: v for k, v in NEW.items() if k != "consent"}
    assert client.post("/api/v1/borrowers", json=no_field, headers=make.token(lib)).status_code == 422
    make.login(client, lib)
    page = client.get("/borrowers/new")
    form = {"csrf_token": csrf_from(page.data), "name": "李小花", "point": "P01",
            "guardian_phone": "13912345678", "type": "child"}
    r = client.post("/borrowers/new", data=form)
    assert r.status_code == 200
    assert "需要监护人同意" in r.get_data(as_text=True)
    assert count_borrowers(app) == 0
    r = client.post("/borrowers/new", data={**form, "consent": "y"})
    assert r.status_code == 302 and "/cards/C" in r.headers["Location"]
    assert count_borrowers(app) == 1
    with app.app_context(), session_factory()() as db:
        child_id = db.scalar(select(Borrower.id))
    assert "lib 记录" in client.get(f"/borrowers/{child_id}").get_data(as_text=True)  # who, and when


def test_bad_input_gets_a_chinese_422_never_a_500(client, make):
    make.point("P01")
    h = make.token(make.user("lib", "librarian"))
    for bad in ({"name": ""}, {"birth_year": "abc"}, {"guardian_phone": "12"}, {"point": "P99"},
                {"point": ""}, {"type": "cat"}):
        r = client.post("/api/v1/borrowers", json={**NEW, **bad}, headers=h)
        assert r.status_code in (404, 422), (bad, r.status_code)
        assert r.get_json()["error"]["message"]
    assert client.post("/api/v1/borrowers", data="x", headers=h).status_code == 400


def test_likely_duplicate_is_warned_in_the_form_and_the_api(app, client, make):
    make.point("P01")
    make.borrower("李小花", guardian_phone="13912345678")
    lib = make.user("lib", "librarian")
    r = client.post("/api/v1/borrowers", json=NEW, headers=make.token(lib))
    assert r.status_code == 201 and r.get_json()["warnings"][0]["code"] == "likely_duplicate"
    make.login(client, lib)
    page = client.get("/borrowers/new")
    form = {"csrf_token": csrf_from(page.data), "name": "李小花", "point": "P01", "type": "child",
            "guardian_phone": "139-1234-5678", "consent": "y"}
    first = client.post("/borrowers/new", data=form)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "可能重复登记" in html and "仍然登记" in html
    assert count_borrowers(app) == 2  # not registered yet
    again = client.post("/borrowers/new", data={**form, "confirm_duplicate": "1"})
    assert again.status_code == 302
    assert count_borrowers(app) == 3


# ---------------------------------------------------------------- story mothers: own points only

def test_story_mother_registers_sees_and_acts_only_at_her_points(app, client, make):
    make.point("P01")
    make.point("P02")
    mine = make.borrower("王小明", point="P01")
    theirs = make.borrower("陈大文", point="P02")
    mama = make.user("mama", "story_mother", points=["P01"])
    h = make.token(mama)
    # register
    assert client.post("/api/v1/borrowers", json={**NEW, "point": "P02"}, headers=h).status_code == 403
    assert client.post("/api/v1/borrowers", json=NEW, headers=h).status_code == 201
    # see
    assert client.get(f"/api/v1/borrowers/{mine.id}", headers=h).status_code == 200
    r = client.get(f"/api/v1/borrowers/{theirs.id}", headers=h)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_your_point"
    assert client.get(f"/api/v1/cards/{make.card_code(theirs)}", headers=h).status_code == 403
    listing = client.get("/api/v1/borrowers", headers=h).get_json()
    assert {b["name"] for b in listing["borrowers"]} == {"王小明", "李小花"}
    assert client.get("/api/v1/borrowers?point=P02", headers=h).status_code == 403
    # pages
    make.login(client, mama)
    assert client.get(f"/borrowers/{theirs.id}").status_code == 403
    assert client.get(f"/cards/{make.card_code(theirs)}").status_code == 403
    assert client.get(f"/borrowers/{theirs.id}/card.png").status_code == 403
    html = client.get("/borrowers/").get_data(as_text=True)
    assert "王小明" in html and "陈大文" not in html
    page = client.get("/borrowers/new")
    r = client.post("/borrowers/new", data={"csrf_token": csrf_from(page.data), "name": "赵小虎",
                                            "point": "P02", "type": "child", "consent": "y"})
    assert r.status_code == 403
    # act: bind a blank card to another point's child, or edit and suspend (staff only)
    api = app.test_client()  # bearer only: a browser session would need a CSRF token
    blank = make.unbound_card()
    r = api.post(f"/api/v1/cards/{blank.code}/bind", json={"borrower": theirs.id}, headers=h)
    assert r.status_code == 403
    assert api.patch(f"/api/v1/borrowers/{mine.id}", json={"status": "suspended"}, headers=h).status_code == 403
    assert api.post(f"/api/v1/borrowers/{mine.id}/card", headers=h).status_code == 403
    assert client.get(f"/borrowers/{mine.id}/edit").status_code == 403


def test_phones_are_masked_for_story_mothers_in_html_and_json_and_in_lists(app, client, make):
    make.point("P01")
    child = make.borrower("王小明", guardian_phone="13812345678")
    mama = make.user("mama", "story_mother", points=["P01"])
    lib = make.user("lib", "librarian")
    h = make.token(mama)
    assert client.get(f"/api/v1/borrowers/{child.id}", headers=h).get_json()["guardian_phone"] == "138****5678"
    card = client.get(f"/api/v1/cards/{make.card_code(child)}", headers=h).get_json()
    assert card["borrower"]["guardian_phone"] == "138****5678" and card["borrower"]["name"] == "王小明"
    assert client.get("/api/v1/borrowers", headers=h).get_json()["borrowers"][0]["guardian_phone"] == "138****5678"
    make.login(client, mama)
    for url in (f"/borrowers/{child.id}", "/borrowers/", f"/cards/{make.card_code(child)}"):
        html = client.get(url).get_data(as_text=True)
        assert "13812345678" not in html, url
    assert "138****5678" in client.get(f"/borrowers/{child.id}").get_data(as_text=True)
    # staff see the whole number on the child's page, masked in lists
    client2 = app.test_client()
    make.login(client2, lib)
    assert "13812345678" in client2.get(f"/borrowers/{child.id}").get_data(as_text=True)
    listing = client2.get("/borrowers/").get_data(as_text=True)
    assert "138****5678" in listing and "13812345678" not in listing
    assert app.test_client().get("/api/v1/borrowers?q=wxm", headers=make.token(lib)).get_json()["borrowers"][0]["guardian_phone"] == "138****5678"


def test_viewer_sees_no_personal_data(app, client, make):
    make.point("P01")
    child = make.borrower()
    viewer = make.user("board", "viewer", points=["P01"])
    h = make.token(viewer)
    for url in (f"/api/v1/borrowers/{child.id}", "/api/v1/borrowers",
                f"/api/v1/cards/{make.card_code(child)}", f"/api/v1/borrowers/{child.id}/export"):
        assert client.get(url, headers=h).status_code == 403, url
    make.login(client, viewer)
    for url in ("/borrowers/", f"/borrowers/{child.id}", f"/cards/{make.card_code(child)}",
                f"/s/{make.card_code(child)}", "/cards/"):
        r = client.get(url, follow_redirects=True)
        assert r.status_code == 403, url
        assert "王小明" not in r.get_data(as_text=True)


# ---------------------------------------------------------------- search, pages, states

def test_search_by_name_pinyin_initials_card_and_point(client, make):
    make.point("P01")
    make.point("P02")
    ming = make.borrower("王小明", point="P01")
    make.borrower("陈大文", point="P02")
    h = make.token(make.user("lib", "librarian"))

    def names(query):
        return sorted(b["name"] for b in client.get("/api/v1/borrowers?" + query, headers=h).get_json()["borrowers"])

    assert names("q=小明") == ["王小明"]
    assert names("q=wangxiao") == ["王小明"]
    assert names("q=WXM") == ["王小明"]
    assert names("q=" + make.card_code(ming).lower()) == ["王小明"]
    assert names("point=P02") == ["陈大文"]
    assert names("q=%25") == []  # a LIKE wildcard is searched as text
    assert names("") == ["王小明", "陈大文"]


def test_borrower_page_shows_loans_due_dates_overdue_history_and_cards(app, client, make):
    make.point("P01")
    child = make.borrower("王小明")
    now = datetime.now(UTC)
    overdue = make.copy(make.title("好饿的毛毛虫"))
    make.loan(overdue, child, lent_at=now - timedelta(days=20), days=14)
    fresh = make.copy(make.title("猜猜我有多爱你"))
    make.loan(fresh, child, lent_at=now - timedelta(days=1))
    for i in range(7):
        old = make.copy(make.title(f"旧书{i}"))
        make.loan(old, child, lent_at=now - timedelta(days=60 + i), returned_at=now - timedelta(days=50 + i))
    lib = make.user("lib", "librarian")
    make.login(client, lib)
    html = client.get(f"/borrowers/{child.id}").get_data(as_text=True)
    assert "在借 2 本" in html and "逾期 1 本" in html and "已逾期" in html
    assert "好饿的毛毛虫" in html and "猜猜我有多爱你" in html
    due = (now - timedelta(days=20) + timedelta(days=14)).astimezone().strftime("%Y")
    assert "应还 " + due in html
    assert all(f"旧书{i}" in html for i in range(7))
    assert make.card_code(child) in html and "借阅证记录" in html
    mama = make.user("mama", "story_mother", points=["P01"])
    c2 = app.test_client()
    make.login(c2, mama)
    html = c2.get(f"/borrowers/{child.id}").get_data(as_text=True)
    shown = sum(f"旧书{i}" in html for i in range(7))
    assert shown == 5 and "显示最近 5 次" in html
    assert "编辑信息" not in html and "导出" not in html  # staff/admin actions hidden (and refused)
    api = client.get(f"/api/v1/borrowers/{child.id}", headers=make.token(lib)).get_json()
    assert {x["title"] for x in api["loans"]} == {"好饿的毛毛虫", "猜猜我有多爱你"}
    assert api["overdue"] == 1 and all(x["due_at"] for x in api["loans"])


def test_every_view_of_a_childs_page_is_logged_without_personal_data(app, client, make):
    make.point("P01")
    child = make.borrower("王小明")
    mama = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mama)
    client.get(f"/borrowers/{child.id}")
    client.get(f"/cards/{make.card_code(child)}")
    client.get(f"/api/v1/borrowers/{child.id}", headers=make.token(mama))
    views = audit_rows(app, "borrower.view")
    assert [(v.actor_id, v.target_id) for v in views] == [(mama.id, str(child.id))] * 3
    assert [v.details["via"] for v in views] == ["page", "card", "api"]
    assert "王小明" not in str([v.details for v in views])


def test_librarian_edits_suspends_marks_left_and_reactivates(app, client, make):
    make.point("P01")
    make.point("P02")
    child = make.borrower("王小明")
    lib = make.user("lib", "librarian")
    make.login(client, lib)
    page = client.get(f"/borrowers/{child.id}/edit")
    r = client.post(f"/borrowers/{child.id}/edit", data={
        "csrf_token": csrf_from(page.data), "name": "王晓明", "point": "P02", "type": "child",
        "birth_year": "2016", "guardian_name": "王大明", "guardian_phone": "13800000000"})
    assert r.status_code == 302
    h = make.token(lib)
    data = client.get(f"/api/v1/borrowers/{child.id}", headers=h).get_json()
    assert (data["name"], data["point"], data["birth_year"], data["guardian_phone"]) == (
        "王晓明", "P02", 2016, "13800000000")
    token = csrf_from(client.get(f"/borrowers/{child.id}").data)
    for status, label in (("suspended", "暂停借阅"), ("left", "已离开"), ("active", "正常")):
        r = client.post(f"/borrowers/{child.id}/status", data={"csrf_token": token, "status": status},
                        follow_redirects=True)
        assert r.status_code == 200 and label in r.get_data(as_text=True)
    bad = client.post(f"/borrowers/{child.id}/status", data={"csrf_token": token, "status": "active"})
    assert bad.status_code == 409
    api = app.test_client()
    r = api.patch(f"/api/v1/borrowers/{child.id}", json={"status": "left"}, headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "left" and r.get_json()["left_at"]
    r = api.patch(f"/api/v1/borrowers/{child.id}", json={"birth_year": 1800}, headers=h)
    assert r.status_code == 422
    edits = audit_rows(app, "borrower.update")
    assert edits[0].details["fields"] == ["birth_year", "guardian_phone", "name", "point"]
    assert "王晓明" not in str(edits[0].details)


def test_a_child_without_her_card_is_found_by_phone_tail_or_given_name_and_made_current(app, client, make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02")
    ming = make.borrower("王小明", point="P01", guardian_phone="13812345678")
    make.borrower("欧阳小梅", point="P01", guardian_phone="13900002222")
    make.borrower("李明", point="P01", guardian_phone="13700005678")  # same phone tail
    make.borrower("张小明", point="P02", guardian_phone="13600005678")  # another point
    mama = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mama)

    def names(q):
        page = client.get("/borrowers/", query_string={"q": q}).get_data(as_text=True)
        return sorted(re.findall(r"<strong>([^<]+)</strong></a>", page))

    assert names("5678") == ["李明", "王小明"]  # not 张小明: another point's child
    assert names("xiaoming") == ["王小明"]      # the given name's pinyin
    assert names("xm") == ["欧阳小梅", "王小明"]  # the given name's initials, after 1 or 2 surname characters
    assert names("xiaomei") == ["欧阳小梅"] and names("xmei") == []
    assert names("wxm") == ["王小明"] and names("WangXiaoMing") == ["王小明"]  # the whole name still works
    assert names("1234") == [] and names("138") == []  # 3 digits or a wrong tail find nobody
    page = client.get("/borrowers/", query_string={"q": "5678"}).get_data(as_text=True)
    assert page.count(">借书</button>") == 2
    # 借书 on a result makes her the scan screen's current child, like scanning her card
    card = make.card_code(ming)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/scan/current", data={"csrf_token": token, "card": card, "point": "P01"})
    assert r.status_code == 302 and f"card={card}" in r.headers["Location"]
    with client.session_transaction() as s:
        assert s["scan_current"]["card"] == card and "name" not in s["scan_current"]  # no name in a cookie
    # staff see whole numbers, and may type one
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    page = lib.get("/borrowers/", query_string={"q": "136-0000-5678"}).get_data(as_text=True)
    assert "张小明" in page and "王小明" not in page
    page = client.get("/borrowers/", query_string={"q": "13600005678"}).get_data(as_text=True)
    assert "张小明" not in page  # a story mother cannot probe whole numbers
