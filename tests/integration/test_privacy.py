"""Children's data on request: export (logged), erasure that keeps the counts, anonymising
children who left long ago (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from library_app.db import session_factory
from library_app.models import AuditLog, Base, Borrower, CirculationEvent, Loan, ReviewItem
from library_app.services import audit, privacy
from tests.integration.test_auth import csrf_from

SECRETS = ("王小明", "王大明", "13812345678", "三灶小学")


def every_text_in_the_database(app) -> str:
    """Every row of every table as text, with JSON both as stored and decoded."""
    chunks = []
    with app.app_context(), session_factory()() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(select(table)).all():
                for value in row:
                    chunks.append(str(value))
                    if isinstance(value, (dict, list)):
                        chunks.append(json.dumps(value))
                        chunks.append(json.dumps(value, ensure_ascii=False))
    return "\n".join(chunks)


def year_count(client, headers, year: int) -> int:
    r = client.get(f"/api/v1/reports/year/{year}", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["count"]


def lend(client, headers, copy, card, when=None):
    event = {"id": str(uuid.uuid4()), "type": "loan", "copy": copy.code, "card": card,
             "point": "P01", "at": (when or datetime.now(UTC)).isoformat()}
    r = client.post("/api/v1/circulation/events", json={"events": [event]}, headers=headers)
    assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "applied", r.get_json()
    return r.get_json()["results"][0]


def test_admin_exports_one_childs_data_as_json_and_csv_and_it_is_logged(app, client, make):
    make.point("P01")
    child = make.borrower("王小明", guardian_name="=HYPERLINK(\"http://x\")")
    make.loan(make.copy(make.title("好饿的毛毛虫")), child)
    admin = make.user("boss", "admin")
    make.login(client, admin)
    r = client.get(f"/borrowers/{child.id}/export.json")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    assert r.headers["Cache-Control"] == "no-store"
    data = r.get_json()
    assert data["borrower"]["name"] == "王小明" and data["borrower"]["guardian_phone"] == "13812345678"
    assert data["loans"][0]["title"] == "好饿的毛毛虫"
    assert data["cards"][0]["code"] == make.card_code(child)
    r = client.get(f"/borrowers/{child.id}/export.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    body = r.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert ["姓名", "王小明"] in rows and ["监护人电话", "13812345678"] in rows
    assert ["监护人", "'=HYPERLINK(\"http://x\")"] in rows  # no formula runs in a spreadsheet
    assert any(row[:2] == [data["loans"][0]["copy"], "好饿的毛毛虫"] for row in rows)
    api = app.test_client().get(f"/api/v1/borrowers/{child.id}/export", headers=make.token(admin))
    assert api.status_code == 200 and api.get_json()["borrower"]["id"] == child.id
    with app.app_context(), session_factory()() as db:
        exports = db.scalars(select(AuditLog).where(AuditLog.action == "borrower.export")).all()
        assert [(e.actor_id, e.target_id, e.details["format"]) for e in exports] == [
            (admin.id, str(child.id), "json"), (admin.id, str(child.id), "csv"),
            (admin.id, str(child.id), "json")]
    # the admin sees who looked at and exported this child's data on the child's page
    html = client.get(f"/borrowers/{child.id}").get_data(as_text=True)
    assert "访问记录" in html and html.count("boss · 导出") == 3 and "boss · 查看" in html
    # a librarian and a story mother may not export personal data
    for role in ("librarian", "story_mother"):
        other = app.test_client()
        make.login(other, make.user(f"x_{role}", role, points=["P01"]))
        assert other.get(f"/borrowers/{child.id}/export.json").status_code == 403
        assert other.get(f"/api/v1/borrowers/{child.id}/export").status_code == 403


@pytest.mark.parametrize("scan", ["sql", "streamed"])
def test_erasure_removes_name_and_phone_from_every_table_and_keeps_the_loan_count(
        app, client, make, monkeypatch, scan):
    if scan == "streamed":  # the path anonymise-left takes with hundreds of children at once
        monkeypatch.setattr(privacy, "_MATCHES_PER_QUERY", 0)
    make.point("P01")
    child = make.borrower("王小明", guardian_name="王大明", guardian_phone="13812345678",
                          school="三灶小学")
    other = make.borrower("陈大文", guardian_name="陈妈妈", guardian_phone="13900000000")
    card = make.card_code(child)
    mama = make.user("mama", "story_mother", points=["P01"])
    admin = make.user("boss", "admin")
    h = make.token(mama)
    books = [make.copy(make.title(f"书{i}")) for i in range(3)]
    for book in books:
        lend(client, h, book, card)
    lend(client, h, make.copy(make.title("别人的书")), make.card_code(other))
    with app.app_context(), session_factory()() as db:
        # what other areas might write: an audit line and a review note that quote the child
        audit.record(db, None, datetime.now(UTC), "note", "borrower", child.id,
                     text="王小明 的家长 王大明 电话 13812345678 说书丢了")
        db.add(ReviewItem(reason="test", message="王小明借书超限，电话13812345678",
                          details={"borrower": "王小明", "phone": "13812345678"}))
        db.commit()
    assert all(s in every_text_in_the_database(app) for s in SECRETS)  # the test can see them
    ah = make.token(admin)
    year = datetime.now(UTC).year
    before = year_count(client, ah, year)
    with app.app_context(), session_factory()() as db:
        loans_before = db.scalar(select(func.count(Loan.id)))
        events_before = db.scalar(select(func.count(CirculationEvent.id)))
    assert before >= 4

    make.login(client, admin)
    page = client.get(f"/borrowers/{child.id}/erase")
    assert "王小明" in page.get_data(as_text=True)
    refused = client.post(f"/borrowers/{child.id}/erase", data={"csrf_token": csrf_from(page.data)})
    assert refused.status_code == 200 and "请勾选" in refused.get_data(as_text=True)
    r = client.post(f"/borrowers/{child.id}/erase",
                    data={"csrf_token": csrf_from(page.data), "confirm": "1"})
    assert r.status_code == 302

    everything = every_text_in_the_database(app)
    for secret in SECRETS:
        assert secret not in everything, secret
        assert json.dumps(secret)[1:-1] not in everything, secret
    assert "陈大文" in everything and "13900000000" in everything  # nobody else was touched
    assert year_count(client, ah, year) == before
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(func.count(Loan.id))) == loans_before
        assert db.scalar(select(func.count(CirculationEvent.id))) == events_before
        assert db.scalar(select(func.count(Loan.id)).where(Loan.borrower_id == child.id)) == 3
        b = db.get(Borrower, child.id)
        assert (b.name, b.guardian_phone, b.birth_year, b.status) == ("（已匿名）", "", None, "left")
        assert b.anonymised_at is not None
        assert db.scalars(select(AuditLog.action).where(AuditLog.action == "borrower.erase")).all()
    api = app.test_client()
    assert api.get(f"/api/v1/cards/{card}", headers=h).get_json() == {
        "code": card, "status": "revoked", "borrower": None}
    again = api.post(f"/api/v1/borrowers/{child.id}/erase", headers=ah)
    assert again.status_code == 409
    assert api.get("/api/v1/borrowers?q=wang", headers=ah).get_json()["borrowers"] == []


def test_only_admins_erase(app, client, make):
    make.point("P01")
    child = make.borrower()
    lib = make.user("lib", "librarian")
    assert client.post(f"/api/v1/borrowers/{child.id}/erase", headers=make.token(lib)).status_code == 403
    make.login(client, lib)
    assert client.get(f"/borrowers/{child.id}/erase").status_code == 403


def test_cli_anonymises_children_who_left_more_than_n_months_ago(app, runner, make):
    make.point("P01")
    now = datetime.now(UTC)
    long_gone = make.borrower("张三丰", status="left")
    recent = make.borrower("李四光", status="left")
    staying = make.borrower("王五常")
    with app.app_context(), session_factory()() as db:
        db.execute(update(Borrower).where(Borrower.id == long_gone.id).values(left_at=now - timedelta(days=800)))
        db.execute(update(Borrower).where(Borrower.id == recent.id).values(left_at=now - timedelta(days=40)))
        db.commit()
    dry = runner.invoke(args=["anonymise-left", "--months", "24", "--dry-run"])
    assert dry.exit_code == 0 and "将匿名化 1 位" in dry.output
    assert "张三丰" in every_text_in_the_database(app)
    r = runner.invoke(args=["anonymise-left", "--months", "24"])
    assert r.exit_code == 0 and "已匿名化 1 位" in r.output
    everything = every_text_in_the_database(app)
    assert "张三丰" not in everything and "李四光" in everything and "王五常" in everything
    r = runner.invoke(args=["anonymise-left", "--months", "1"])
    assert "已匿名化 1 位" in r.output and "李四光" not in every_text_in_the_database(app)
    r = runner.invoke(args=["anonymise-left"])  # the retention setting (24 months): nobody left
    assert r.exit_code == 0 and "已匿名化 0 位" in r.output
    assert runner.invoke(args=["anonymise-left", "--months", "-1"]).exit_code != 0
    with app.app_context(), session_factory()() as db:
        assert db.get(Borrower, staying.id).anonymised_at is None
        assert db.execute(text("SELECT 1")).scalar() == 1


def test_an_erased_child_gets_no_new_card(app, client, make):
    admin = make.user("boss_erase", "admin")
    child = make.borrower("赵小雨")
    headers = make.token(admin)
    assert client.post(f"/api/v1/borrowers/{child.id}/erase", headers=headers).status_code == 200
    r = client.post(f"/api/v1/borrowers/{child.id}/card", headers=headers)
    assert r.status_code == 422 and "已匿名" in r.get_json()["error"]["message"]
