"""Reading activities, volunteers and the annual report through the API (api.md), on SQLite and
PostgreSQL: exactly once by the client's id, a story mother only at her points and her own for
24 hours, a viewer reads aggregates only, and the figures of the annual report in JSON, CSV and
XLSX."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


@pytest.fixture
def people(app, make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "平沙镇故事会点")
    return {
        "mama": make.user("mama", "story_mother", points=["P01"]),
        "lib": make.user("lib", "librarian"),
        "viewer": make.user("board", "viewer"),
    }


def activity(**over):
    body = {"id": str(uuid.uuid4()), "point": "P01", "kind": "story",
            "started_at": "2026-11-14T15:00:00+08:00", "minutes": 60, "children": 5,
            "adults": 2, "titles": ["猜猜我有多爱你"], "volunteers": [{"username": "mama"}]}
    body.update(over)
    return body


def test_activity_recorded_once_duplicate_and_conflict(app, make, people):
    h = make.token(people["mama"])
    client = app.test_client()
    body = activity()
    r = client.post("/api/v1/activities", json=body, headers=h)
    assert r.status_code == 201, r.get_json()
    data = r.get_json()
    assert data["status"] == "applied" and data["id"] == body["id"]
    # her minutes default to the activity's 60 plus the organisation's 30 of preparation
    assert data["volunteers"][0]["minutes"] == 90 and data["attendance"] == 5
    again = client.post("/api/v1/activities", json=body, headers=h)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    other = client.post("/api/v1/activities", json={**body, "children": 9}, headers=h)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "id_conflict"
    listed = client.get("/api/v1/activities?point=P01&from=2026-11-01&to=2026-11-30", headers=h)
    assert [a["id"] for a in listed.get_json()["activities"]] == [body["id"]]
    assert listed.get_json()["activities"][0]["children"] == 5  # the conflicting send changed nothing


def test_attendance_from_count_and_cards_and_bad_input(app, make, people):
    kids = [make.borrower("王小明"), make.borrower("李小红")]
    cards = [make.card_code(k) for k in kids]
    h = make.token(people["lib"])
    client = app.test_client()
    r = client.post("/api/v1/activities", json=activity(children=None, cards=cards + [cards[0]]),
                    headers=h)
    assert r.status_code == 201 and r.get_json()["attendance"] == 2
    r = client.post("/api/v1/activities", json=activity(children=1, cards=cards), headers=h)
    assert r.get_json()["attendance"] == 2
    bad = client.post("/api/v1/activities", json=activity(minutes="一小时"), headers=h)
    assert bad.status_code == 422 and "时长" in bad.get_json()["error"]["message"]
    bad = client.post("/api/v1/activities", data="x", headers=h)
    assert bad.status_code == 400


def test_story_mother_outside_her_points_is_refused(app, make, people):
    h = make.token(people["mama"])
    client = app.test_client()
    r = client.post("/api/v1/activities", json=activity(point="P02"), headers=h)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_your_point"
    r = client.post("/api/v1/volunteers", json={"name": "张阿姨", "kind": "worker", "point": "P02"},
                    headers=h)
    assert r.status_code == 403
    assert client.get("/api/v1/activities?point=P02", headers=h).status_code == 403


def test_story_mother_corrects_her_own_for_24_hours_librarian_any_time(app, make, people):
    client = app.test_client()
    mama, lib = make.token(people["mama"]), make.token(people["lib"])
    body = activity()
    assert client.post("/api/v1/activities", json=body, headers=mama).status_code == 201
    r = client.put(f"/api/v1/activities/{body['id']}", json={**body, "children": 7}, headers=mama)
    assert r.status_code == 200 and r.get_json()["attendance"] == 7
    app.config["FIXED_NOW"] = NOW + timedelta(hours=25)
    late = client.put(f"/api/v1/activities/{body['id']}", json={**body, "children": 8}, headers=mama)
    assert late.status_code == 403 and "24" in late.get_json()["error"]["message"]
    r = client.put(f"/api/v1/activities/{body['id']}", json={**body, "children": 8}, headers=lib)
    assert r.status_code == 200 and r.get_json()["attendance"] == 8


def test_volunteers_register_child_consent_and_masked_phone(app, make, people):
    client = app.test_client()
    mama = make.token(people["mama"])
    r = client.post("/api/v1/volunteers", json={"name": "小红", "kind": "child", "point": "P01"},
                    headers=mama)
    assert r.status_code == 422 and "监护人" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/volunteers", json={"name": "小红", "kind": "child", "point": "P01",
                                                "consent": True, "phone": "13812345678"}, headers=mama)
    assert r.status_code == 201
    body = r.get_json()
    assert {k: body[k] for k in ("name", "kind", "point")} == {"name": "小红", "kind": "child", "point": "P01"}
    assert body["phone"] == "138****5678"
    listed = client.get("/api/v1/volunteers", headers=mama).get_json()["volunteers"]
    assert [v["phone"] for v in listed] == ["138****5678"]


def test_viewer_reads_aggregates_only(app, make, people):
    client = app.test_client()
    viewer = make.token(people["viewer"])
    assert client.get("/api/v1/activities", headers=viewer).status_code == 403
    assert client.get("/api/v1/volunteers", headers=viewer).status_code == 403
    assert client.post("/api/v1/activities", json=activity(), headers=viewer).status_code == 403
    assert client.get("/api/v1/volunteers/1/certificate", headers=viewer).status_code == 403
    r = client.get("/api/v1/reports/annual/2026", headers=viewer)
    assert r.status_code == 200 and "summary" in r.get_json()
    assert "mama" not in r.get_data(as_text=True)


def test_annual_report_figures_months_points_last_year_and_downloads(app, make, people):
    lib = make.token(people["lib"])
    client = app.test_client()
    kid, other = make.borrower("王小明"), make.borrower("李小红", point="P02")
    book = make.copy(make.title("小猪佩奇"))
    book2 = make.copy(make.title("好饿的毛毛虫"), point="P02")
    # Loans: 00:30 on 1 January Beijing time is 2026; 23:30 on 31 December 2025 is last year.
    make.loan(book, kid, lent_at=datetime(2025, 12, 31, 16, 30, tzinfo=UTC),
              returned_at=datetime(2026, 1, 2, tzinfo=UTC))
    make.loan(book2, other, point="P02", lent_at=datetime(2025, 12, 31, 15, 30, tzinfo=UTC),
              returned_at=datetime(2026, 1, 2, tzinfo=UTC))
    make.loan(book, kid, lent_at=datetime(2026, 3, 5, 2, 0, tzinfo=UTC),
              returned_at=datetime(2026, 3, 9, tzinfo=UTC))
    v = client.post("/api/v1/volunteers", json={"name": "张阿姨", "kind": "worker", "point": "P01"},
                    headers=lib).get_json()
    # the child who borrowed also attends by card: served once at P01
    r = client.post("/api/v1/activities", headers=lib, json=activity(
        started_at="2026-01-01T00:10:00+08:00", children=6, cards=[make.card_code(kid)],
        volunteers=[{"volunteer": v["id"], "minutes": 100}, {"username": "mama"}]))
    assert r.status_code == 201
    r = client.post("/api/v1/activities", headers=lib, json=activity(
        point="P02", started_at="2026-03-20T10:00:00+08:00", minutes=45, children=10,
        volunteers=[{"volunteer": v["id"]}]))
    assert r.status_code == 201
    client.post("/api/v1/activities", headers=lib, json=activity(
        started_at="2025-12-31T23:50:00+08:00", children=4, volunteers=[]))
    r = client.put("/api/v1/reports/annual/2026/targets", json={"activities": 400},
                   headers=make.token(make.user("boss", "admin")))
    assert r.status_code == 200

    data = client.get("/api/v1/reports/annual/2026", headers=lib).get_json()
    assert data["loans"] == 2 and data["activities"] == 2 and data["attendance"] == 16
    assert data["children_served"] == 1          # borrowed and attended: once
    assert data["volunteer_participations"] == 3 and data["volunteers"] == 2
    assert data["volunteer_minutes"] == 100 + 90 + 75
    assert data["targets"]["loans"] == 12000 and data["targets"]["activities"] == 400
    months = {m["month"]: m for m in data["months"]}
    assert months["2026-01"]["loans"] == 1 and months["2026-01"]["activities"] == 1
    assert months["2026-03"]["attendance"] == 10 and months["2026-03"]["volunteer_minutes"] == 75
    points = {p["code"]: p for p in data["points"]}
    assert points["P02"]["activities"] == 1 and points["P02"]["loans"] == 0
    assert points["P01"]["children_served"] == 1
    assert data["last_year"]["loans"] == 1 and data["last_year"]["activities"] == 1
    assert data["summary"].startswith("2026 年，")
    assert "共开展故事会等阅读活动 2 场，服务儿童 16 人次" in data["summary"]

    one = client.get("/api/v1/reports/annual/2026?point=P02", headers=lib).get_json()
    assert one["activities"] == 1 and one["loans"] == 0 and one["volunteer_minutes"] == 75

    xlsx = client.get("/api/v1/reports/annual/2026.xlsx", headers=lib)
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    cells = {row[0]: row[1:] for row in ws.iter_rows(values_only=True) if row[0]}
    assert cells["阅读活动（场）"][:2] == (2, 400)
    assert cells["志愿服务时长（分钟）"][0] == 265
    assert cells["2026-03"][:3] == (1, 1, 10)
    text = client.get("/api/v1/reports/annual/2026.csv", headers=lib).data.decode("utf-8-sig")
    by_label = {row[0]: row for row in csv.reader(io.StringIO(text)) if row}
    assert by_label["活动儿童参与（人次）"][1] == "16" and by_label["借阅人次"][4] == "1"


def test_annual_report_counts_a_child_once_per_point_and_in_total_by_beijing_years(app, make, people):
    """Children served: a child once whether she borrowed, attended by card or both; at each
    point she was served at, once in the total; undone loans never count; the year is Beijing's
    (a loan at 23:30 on 31 December Beijing time is last year's, one at 00:30 on 1 January this
    year's), and follows the organisation's zone when it changes."""
    from sqlalchemy import select

    from library_app.db import session_factory
    from library_app.models import Loan
    from library_app.services.settings import update_settings

    lib = make.token(people["lib"])
    client = app.test_client()
    book, book2 = make.copy(make.title("小猪佩奇")), make.copy(make.title("好饿的毛毛虫"), point="P02")
    a, b, c, d, e = (make.borrower(n) for n in ("甲", "乙", "丙", "丁", "戊"))

    def lend(copy, kid, at, point="P01", **fields):
        make.loan(copy, kid, point=point, lent_at=at, returned_at=at + timedelta(days=3), **fields)

    def attend(point, at, *kids):
        r = client.post("/api/v1/activities", headers=lib, json=activity(
            point=point, started_at=at, children=1, cards=[make.card_code(k) for k in kids], volunteers=[]))
        assert r.status_code == 201, r.get_json()

    lend(book, a, datetime(2026, 2, 1, 2, tzinfo=UTC))
    lend(book, a, datetime(2026, 5, 1, 2, tzinfo=UTC))
    attend("P01", "2026-05-02T10:00:00+08:00", a)                  # a: borrowed and attended at P01
    lend(book, b, datetime(2026, 3, 1, 2, tzinfo=UTC))
    attend("P02", "2026-03-02T10:00:00+08:00", b, c)               # b: borrowed at P01, attended at P02
    attend("P02", "2026-04-02T10:00:00+08:00", c)                  # c: attended only, twice
    lend(book, d, datetime(2025, 12, 31, 15, 30, tzinfo=UTC))      # 23:30 on 31 Dec in Beijing: 2025
    attend("P01", "2025-12-31T23:50:00+08:00", d)                  # 2025 too
    lend(book2, d, datetime(2025, 12, 31, 16, 30, tzinfo=UTC), point="P02")  # 00:30 on 1 Jan: 2026
    lend(book, e, datetime(2026, 6, 1, 2, tzinfo=UTC), undone_at=datetime(2026, 6, 1, 2, 1, tzinfo=UTC))

    data = client.get("/api/v1/reports/annual/2026", headers=lib).get_json()
    points = {p["code"]: p["children_served"] for p in data["points"]}
    assert data["children_served"] == 4 and points == {"P01": 2, "P02": 3}   # a b | b c d
    assert data["last_year"]["children_served"] == 1                         # d
    assert data["loans"] == 4 and data["last_year"]["loans"] == 1
    one = client.get("/api/v1/reports/annual/2026?point=P02", headers=lib).get_json()
    assert one["children_served"] == 3 and one["last_year"]["children_served"] == 0
    assert client.get("/api/v1/reports/annual/2026?point=P01", headers=lib).get_json()["children_served"] == 2

    admin = make.user("boss", "admin")
    with app.app_context(), session_factory()() as db:
        update_settings(db, db.get(type(admin), admin.id), NOW, {"timezone": "UTC"}, app.config)
        db.commit()
        years = sorted(db.scalars(select(Loan.lent_year)))
    assert years == [2025, 2025, 2026, 2026, 2026, 2026]  # 16:30 UTC on 31 Dec is 2025 in UTC
    data = client.get("/api/v1/reports/annual/2026", headers=lib).get_json()
    assert {p["code"]: p["loans"] for p in data["points"]} == {"P01": 3, "P02": 0}
    assert data["points"][1]["children_served"] == 2  # P02: b and c attended; d's loan is 2025's now


def test_certificate_page_has_name_hours_number(app, make, people):
    lib = make.token(people["lib"])
    client = app.test_client()
    v = client.post("/api/v1/volunteers", json={"name": "张阿姨", "kind": "worker", "point": "P01"},
                    headers=lib).get_json()
    for day in ("2026-05-01", "2026-06-01"):
        client.post("/api/v1/activities", headers=lib, json=activity(
            started_at=f"{day}T15:00:00+08:00", volunteers=[{"volunteer": v["id"], "minutes": 90}]))
    r = client.get(f"/api/v1/volunteers/{v['id']}/certificate?from=2026-01-01&to=2026-12-31",
                   headers=lib)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "志愿服务证明" in page and "张阿姨" in page and "故事会" in page
    assert 'data-testid="cert-hours">3<' in page and "ZY20261115-" in page
    bad = client.get(f"/api/v1/volunteers/{v['id']}/certificate?from=2026-13-01", headers=lib)
    assert bad.status_code == 422


def test_outbox_batch_applies_each_once_and_refuses_one_without_losing_others(app, make, people):
    h = make.token(people["mama"])
    client = app.test_client()
    good, outside = activity(), activity(point="P02")
    r = client.post("/api/v1/activities/batch", json={"events": [good, outside]}, headers=h)
    assert r.status_code == 200
    assert [(x["id"], x["status"]) for x in r.get_json()["results"]] == [
        (good["id"], "applied"), (outside["id"], "rejected")]
    again = client.post("/api/v1/activities/batch", json={"events": [good]}, headers=h)
    assert again.get_json()["results"][0]["status"] == "duplicate"
    listed = client.get("/api/v1/activities", headers=h).get_json()["activities"]
    assert [a["id"] for a in listed] == [good["id"]]


def test_pages_annual_report_activity_form_and_volunteers(app, make, people):
    client = app.test_client()
    make.login(client, people["mama"])
    page = client.get("/activities/new").get_data(as_text=True)
    assert "记录阅读活动" in page and "故事会" in page and 'name="children"' in page
    page = client.get("/volunteers").get_data(as_text=True)
    assert "登记志愿者" in page
    assert client.get("/reports/annual/2026").status_code == 403
    viewer = app.test_client()
    make.login(viewer, people["viewer"])
    page = viewer.get("/reports/annual/2026").get_data(as_text=True)
    assert "2026 年度报告" in page and "2026 年，" in page and "下载 XLSX" in page
    assert 'href="/reports/annual/"' in viewer.get("/home").get_data(as_text=True)  # in the menu
    assert viewer.get("/activities/new").status_code == 403
    bad = viewer.get("/reports/annual/abc")
    assert bad.status_code == 400 and "年份" in bad.get_data(as_text=True)


def test_manager_home_shows_the_years_activities_and_volunteer_minutes(app, make, people):
    lib = make.token(people["lib"])
    client = app.test_client()
    client.post("/api/v1/activities", headers=lib, json=activity(
        volunteers=[{"username": "mama", "minutes": 75}, {"username": "lib"}]))
    client.post("/api/v1/activities", headers=lib, json=activity(
        started_at="2025-12-31T23:00:00+08:00", volunteers=[{"username": "mama"}]))  # last year
    viewer = app.test_client()
    make.login(viewer, people["viewer"])
    page = viewer.get("/home").get_data(as_text=True)
    assert 'data-testid="home-activities">1<' in page
    assert 'data-testid="home-volunteer-minutes">165<' in page  # 75 + (60 + 30)
    mother = app.test_client()
    make.login(mother, people["mama"])
    assert "home-activities" not in mother.get("/home").get_data(as_text=True)


def test_settings_page_sets_activity_kinds_and_preparation_minutes(app, make, people):
    from tests.integration.test_auth import csrf_from
    from tests.integration.test_settings import FORM

    admin = app.test_client()
    make.login(admin, make.user("boss", "admin"))
    token = csrf_from(admin.get("/admin/settings").data)
    r = admin.post("/admin/settings", data={**FORM, "csrf_token": token, "volunteer_prep_minutes": "15",
                                            "activity_kinds": "story=故事会,craft=手工活动"},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    h = make.token(people["lib"])
    client = app.test_client()
    r = client.post("/api/v1/activities", json=activity(kind="craft"), headers=h)
    assert r.status_code == 201 and r.get_json()["volunteers"][0]["minutes"] == 75  # 60 + 15
    assert client.post("/api/v1/activities", json=activity(kind="parent_child"), headers=h).status_code == 422
    token = csrf_from(admin.get("/admin/settings").data)
    r = admin.post("/admin/settings", data={**FORM, "csrf_token": token, "activity_kinds": "故事会"},
                   content_type="multipart/form-data")
    assert r.status_code == 422 and "活动类型编号" in r.get_data(as_text=True)
