"""A point lead (阅读点负责人) has a librarian's powers at her own points only (product.md,
Community-run points; issue 20), on SQLite and PostgreSQL.

The role matrix (test_role_matrix.py) checks the routes she may not use at all; the data-scope
walk (test_data_scope.py) checks that no answer names another point's child. These tests check
what she may do at her point and is refused at another's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Borrower, Copy, Title
from tests.integration.test_auth import csrf_from

CHILD = {"name": "陈小雨", "birth_year": 2018, "guardian_name": "陈妈妈",
         "guardian_phone": "13912345678", "consent": True}


@pytest.fixture
def lead(make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    return make.user("lead_p01", "point_lead", points=["P01"])


def test_she_registers_and_edits_children_at_her_point_only(app, client, make, lead):
    api = make.token(lead)
    r = client.post("/api/v1/borrowers", json={**CHILD, "point": "P01"}, headers=api)
    assert r.status_code == 201, r.get_json()
    there = client.post("/api/v1/borrowers", json={**CHILD, "point": "P02"}, headers=api)
    assert there.status_code == 403 and "阅读点" in there.get_json()["error"]["message"]
    own = make.borrower("王小明", point="P01")
    other = make.borrower("李小红", point="P02")
    assert client.patch(f"/api/v1/borrowers/{own.id}", json={"school": "三灶小学"},
                      headers=api).status_code == 200
    assert client.patch(f"/api/v1/borrowers/{other.id}", json={"school": "x"}, headers=api).status_code == 403
    # moving her own child to another point is refused too
    assert client.patch(f"/api/v1/borrowers/{own.id}", json={"point": "P02"}, headers=api).status_code == 403
    # she sees her families' phone numbers whole, to call them (a story mother sees 139****5678)
    detail = client.get(f"/api/v1/borrowers/{own.id}", headers=api).get_json()
    assert "*" not in (detail.get("guardian_phone") or "")
    assert client.post(f"/api/v1/borrowers/{own.id}/card", headers=api).status_code == 201
    assert client.post(f"/api/v1/borrowers/{other.id}/card", headers=api).status_code == 403


def test_she_adds_titles_edits_only_her_own_and_adds_copies_at_her_point(app, client, make, lead):
    api = make.token(lead)
    made = client.post("/api/v1/titles", json={"title": "我们的小书"}, headers=api)
    assert made.status_code == 201
    mine = made.get_json()["id"]
    assert client.put(f"/api/v1/titles/{mine}", json={"title": "我们的小书（修订）"},
                      headers=api).status_code == 200
    shared = make.title("猜猜我有多爱你")  # a librarian's title
    r = client.put(f"/api/v1/titles/{shared.id}", json={"title": "改名"}, headers=api)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_your_title"
    with app.app_context(), session_factory()() as db:
        assert db.get(Title, shared.id).title == "猜猜我有多爱你"
    # copies of any title, at her point only
    ok = client.post(f"/api/v1/titles/{shared.id}/copies", json={"point": "P01", "count": 2}, headers=api)
    assert ok.status_code == 201 and {c["point"] for c in ok.get_json()["copies"]} == {"P01"}
    no = client.post(f"/api/v1/titles/{shared.id}/copies", json={"point": "P02", "count": 1}, headers=api)
    assert no.status_code == 403
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(Copy.id).join(Copy.home_point).where(Copy.title_id == shared.id,
                                                                    Copy.home_point.has(code="P02"))) is None
    # the edit page of a title she did not add is refused; her own opens
    client_pages = app.test_client()
    make.login(client_pages, lead)
    assert client_pages.get(f"/titles/{shared.id}/edit").status_code == 403
    assert client_pages.get(f"/titles/{mine}/edit").status_code == 200
    page = client_pages.get(f"/titles/{shared.id}").get_data(as_text=True)
    assert "编辑书目" not in page and "P02" not in page.split("添加馆藏")[-1]


def test_copies_of_another_point_are_not_hers_to_mark_or_move(app, client, make, lead):
    api = make.token(lead)
    title = make.title("好饿的毛毛虫")
    mine, theirs = make.copy(title, point="P01"), make.copy(title, point="P02")
    assert client.post(f"/api/v1/copies/{theirs.code}/status", json={"action": "lost"},
                       headers=api).status_code == 403
    assert client.post(f"/api/v1/copies/{mine.code}/status", json={"action": "damaged"},
                       headers=api).status_code == 200
    moved = client.post("/api/v1/transfers", json={"codes": [theirs.code], "to": "P01"}, headers=api)
    assert moved.status_code in (403, 422)
    away = client.post("/api/v1/transfers", json={"codes": [mine.code], "to": "P02"}, headers=api)
    assert away.status_code == 403
    with app.app_context(), session_factory()() as db:
        assert db.get(Copy, theirs.id).status == "available"
        assert db.get(Copy, theirs.id).current_point.code == "P02"


def test_her_transfers_list_holds_her_points_transfers_only(app, client, make, lead):
    make.point("P03", "南屏镇故事会点")
    lib = make.token(make.user("lin", "librarian"))
    title = make.title("小蓝和小黄")
    into, out_of, elsewhere = (make.copy(title, point=p) for p in ("P02", "P01", "P02"))
    mixed = [make.copy(title, point="P01"), make.copy(title, point="P03")]
    for codes, to in (([into.code], "P01"), ([out_of.code], "P02"), ([elsewhere.code], "P03"),
                      ([c.code for c in mixed], "P02")):  # the last from two points: no one "from"
        assert client.post("/api/v1/transfers", json={"codes": codes, "to": to}, headers=lib).status_code == 201
    librarian_list = app.test_client()
    make.login(librarian_list, make.user("lin2", "librarian"))
    assert librarian_list.get("/transfers").get_data(as_text=True).count(title.title) == 5
    make.login(client, lead)
    page = client.get("/transfers").get_data(as_text=True)
    assert into.code in page and out_of.code in page and mixed[0].code in page
    assert elsewhere.code not in page  # P02 to P03: not hers


def test_her_reports_are_of_her_point(app, client, make, lead):
    own, other = make.borrower("王小明", point="P01"), make.borrower("李小红", point="P02")
    now = datetime.now(UTC) - timedelta(hours=1)
    for _ in range(2):
        make.loan(make.copy(make.title("甲"), point="P01"), own, point="P01", lent_at=now)
    for _ in range(3):
        make.loan(make.copy(make.title("乙"), point="P02"), other, point="P02", lent_at=now)
    api = make.token(lead)
    year = str(now.year)
    body = client.get(f"/api/v1/reports/year/{year}", headers=api).get_json()
    assert body["point"] == "P01" and body["count"] == 2 and [p["code"] for p in body["points"]] == ["P01"]
    assert client.get(f"/api/v1/reports/year/{year}?point=P02", headers=api).status_code == 403
    month = now.astimezone(UTC).strftime("%Y-%m")
    m = client.get(f"/api/v1/reports/month/{month}", headers=api).get_json()
    assert m["point"] == "P01"
    assert client.get(f"/api/v1/reports/month/{month}?point=P02", headers=api).status_code == 403
    assert client.get(f"/api/v1/reports/annual/{year}?point=P02", headers=api).status_code == 403
    # a librarian still sees the whole organisation
    lib = make.token(make.user("lib", "librarian"))
    assert client.get(f"/api/v1/reports/year/{year}", headers=lib).get_json()["count"] == 5


def test_her_loans_list_and_card_sheet_hold_her_points_children(app, make, lead):
    own, other = make.borrower("王小明", point="P01"), make.borrower("李小红", point="P02")
    visiting = make.copy(make.title("猜猜我有多爱你"), point="P01")
    far = make.copy(make.title("大卫，不可以"), point="P02")
    make.loan(visiting, other, point="P01")   # a P02 child borrowed at P01
    make.loan(make.copy(make.title("小熊很忙"), point="P01"), own, point="P01")
    make.loan(far, other, point="P02")
    client = app.test_client()
    make.login(client, lead)
    page = client.get("/circulation/loans").get_data(as_text=True)
    assert "王小明" in page and "李小红" not in page and "其他阅读点的小读者" in page
    assert far.code not in page  # a loan at another point is not on her list
    sheet = client.get(f"/cards/sheet?ids={own.id},{other.id}").get_data(as_text=True)
    assert "王小明" in sheet and "李小红" not in sheet
    # the librarian's list names both
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    assert "李小红" in lib.get("/circulation/loans").get_data(as_text=True)


def test_she_opens_a_stocktake_and_a_kiosk_at_her_point_only(app, client, make, lead):
    api = make.token(lead)
    make.copy(make.title("甲"), point="P01")
    assert client.post("/api/v1/stocktakes", json={"point": "P01"}, headers=api).status_code == 201
    assert client.post("/api/v1/stocktakes", json={"point": "P02"}, headers=api).status_code == 403
    assert client.post("/api/v1/kiosks", json={"name": "平板", "point": "P01"}, headers=api).status_code == 201
    assert client.post("/api/v1/kiosks", json={"name": "平板", "point": "P02"}, headers=api).status_code == 403


def test_create_user_makes_a_point_lead(app, make):
    make.point("P03", "前山故事会点")
    runner = app.test_cli_runner()
    r = runner.invoke(args=["create-user", "lead3", "--role", "point_lead", "--point", "P03",
                            "--password", "a-long-pass-phrase-1"])
    assert r.exit_code == 0, r.output
    client = app.test_client()
    page = client.get("/login")
    r = client.post("/login", data={"csrf_token": csrf_from(page.data), "username": "lead3",
                                    "password": "a-long-pass-phrase-1"}, follow_redirects=True)
    assert r.status_code == 200 and "阅读点负责人" in r.get_data(as_text=True)
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(Borrower.id)) is None


def test_her_first_page_shows_her_points_day_overdue_activities_and_story_mothers(app, make, lead):
    own, other = make.borrower("王小明", point="P01"), make.borrower("李小红", point="P02")
    now = datetime.now(UTC)
    make.loan(make.copy(make.title("甲"), point="P01"), own, point="P01", lent_at=now - timedelta(minutes=5))
    make.loan(make.copy(make.title("乙"), point="P01"), own, point="P01", lent_at=now - timedelta(days=40))
    make.loan(make.copy(make.title("丙"), point="P02"), other, point="P02", lent_at=now - timedelta(days=40))
    make.user("张阿姨", "story_mother", points=["P01"])
    make.user("李阿姨", "story_mother", points=["P02"])
    client = app.test_client()
    make.login(client, lead)
    page = client.get("/home").get_data(as_text=True)
    section = page.split('data-testid="point-overview"')[1]
    assert 'data-testid="lead-today">1<' in section
    assert 'data-testid="lead-overdue">1<' in section  # P02's overdue loan is not counted
    assert "张阿姨" in section and "李阿姨" not in page
    assert "王小明" not in page  # counts, not children


def test_the_admins_point_pages_name_the_lead(app, make, lead):
    make.user("张阿姨", "story_mother", points=["P01"])
    client = app.test_client()
    make.login(client, make.user("boss", "admin"))
    listing = client.get("/points/").get_data(as_text=True)
    row = listing.split("三灶镇故事会点")[1].split("</tr>")[0]
    assert "lead_p01" in row and "故事妈妈 1 位" in row
    other_row = listing.split("红旗镇故事会点")[1].split("</tr>")[0]
    assert "lead_p01" not in other_row
    page = client.get("/points/P01/edit").get_data(as_text=True)
    assert "负责人" in page and "lead_p01" in page and "张阿姨" in page


def test_the_point_page_lists_its_invitations(app, make, lead):
    admin = make.user("boss", "admin")
    api = make.token(admin)
    client = app.test_client()
    assert client.post("/api/v1/invites", json={"role": "story_mother", "points": ["P01"]},
                       headers=api).status_code == 201
    assert client.post("/api/v1/invites", json={"role": "story_mother", "points": ["P02"]},
                       headers=api).status_code == 201
    make.login(client, admin)
    here = client.get("/points/P01/edit").get_data(as_text=True).split('data-testid="point-invitations"')
    assert len(here) == 2 and here[1].split("</ul>")[0].count("<li>") == 1
    assert "故事妈妈 · 可使用" in here[1]
