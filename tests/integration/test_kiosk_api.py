"""The self-service corner's contract (api.md "Self-service corner") on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from library_app.db import session_factory
from library_app.models import AuditLog, Borrower, CirculationEvent, Kiosk, Loan

EVENTS = "/api/v1/circulation/events"


def ev(kind, copy, card=None, point="P01"):
    event = {"id": str(uuid.uuid4()), "type": kind, "copy": copy.code, "point": point,
             "at": datetime.now(UTC).isoformat()}
    if card is not None:
        event["card"] = card
    return event


def q(app, stmt):
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).all()


def allow(app, borrower, value=True):
    with app.app_context(), session_factory()() as db:
        db.execute(update(Borrower).where(Borrower.id == borrower.id).values(self_service=value))
        db.commit()


def new_kiosk(client, staff_headers, point="P01", name="三灶点平板"):
    r = client.post("/api/v1/kiosks", json={"name": name, "point": point}, headers=staff_headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def enrol(client, code):
    return client.post("/api/v1/kiosk/enrol", json={"enrol_code": code})


@pytest.fixture
def corner(make, client):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    lib = make.user("lib", "librarian")
    staff = make.token(lib)
    created = new_kiosk(client, staff)
    r = enrol(client, created["enrol_code"])
    assert r.status_code == 200
    token = r.get_json()["token"]
    child = make.borrower("欧阳娜娜", point="P01")
    allow(client.application, child)
    books = [make.copy(make.title(t), point="P01") for t in ("猜猜我有多爱你", "好饿的毛毛虫", "大卫，不可以")]
    return {"staff": staff, "kiosk_id": created["id"], "h": {"Authorization": f"Bearer {token}"},
            "child": child, "card": make.card_code(child), "books": books}


def test_a_librarian_creates_a_kiosk_and_the_device_enrols_once(make, client):
    make.point("P01", "三灶镇故事会点")
    staff = make.token(make.user("lib", "librarian"))
    created = new_kiosk(client, staff)
    assert set(created) == {"id", "enrol_code", "expires_at"}
    assert datetime.fromisoformat(created["expires_at"]) > datetime.now(UTC)
    r = enrol(client, created["enrol_code"].lower())  # typed in lower case: still the code
    assert r.status_code == 200 and r.get_json()["point"] == "P01"
    assert r.get_json()["token"].startswith("kiosk.")
    again = enrol(client, created["enrol_code"])
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "invalid_enrol_code"
    assert "登记码" in again.get_json()["error"]["message"]
    [(token_hash, code_hash)] = q(client.application, select(Kiosk.token_hash, Kiosk.enrol_code_hash))
    assert token_hash and r.get_json()["token"] not in token_hash and code_hash is None


def test_an_expired_or_wrong_enrol_code_is_refused(make, client, app):
    make.point("P01")
    staff = make.token(make.user("lib", "librarian"))
    created = new_kiosk(client, staff)
    assert enrol(client, "WRONGCODE").status_code == 400
    with app.app_context(), session_factory()() as db:
        db.execute(update(Kiosk).values(enrol_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.commit()
    assert enrol(client, created["enrol_code"]).get_json()["error"]["code"] == "invalid_enrol_code"


def test_only_staff_create_kiosks_and_a_name_and_point_are_needed(make, client):
    make.point("P01")
    mama = make.token(make.user("mama", "story_mother", points=["P01"]))
    assert client.post("/api/v1/kiosks", json={"name": "x", "point": "P01"}, headers=mama).status_code == 403
    staff = make.token(make.user("lib", "librarian"))
    r = client.post("/api/v1/kiosks", json={"name": "", "point": "P01"}, headers=staff)
    assert r.status_code == 422 and "名字" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/kiosks", json={"name": "平板", "point": "P99"}, headers=staff)
    assert r.status_code == 422 and "阅读点" in r.get_json()["error"]["message"]


def test_a_revoked_kiosk_token_gets_401(client, corner):
    assert client.get("/api/v1/kiosk/me", headers=corner["h"]).status_code == 200
    r = client.delete(f"/api/v1/kiosks/{corner['kiosk_id']}", headers=corner["staff"])
    assert r.status_code == 204
    assert client.get("/api/v1/kiosk/me", headers=corner["h"]).status_code == 401
    r = client.post(EVENTS, json={"events": [ev("return", corner["books"][0])]}, headers=corner["h"])
    assert r.status_code == 401


def test_the_card_shows_the_given_name_her_books_and_how_many_more(client, corner, make, app):
    make.loan(corner["books"][0], corner["child"])
    r = client.get(f"/api/v1/kiosk/cards/{corner['card']}", headers=corner["h"])
    assert r.status_code == 200
    body = r.get_json()
    assert body["display_name"] == "娜娜"
    assert "欧阳" not in r.get_data(as_text=True) and "13812345678" not in r.get_data(as_text=True)
    assert "王大明" not in r.get_data(as_text=True)  # no guardian
    assert [x["title"] for x in body["loans"]] == ["猜猜我有多爱你"] and body["loans"][0]["due_at"]
    assert body["can_borrow"] == 2  # limit 3, one out
    assert q(app, select(AuditLog.action).where(AuditLog.action == "kiosk.card_view"))


def test_a_kiosk_lends_and_returns_at_its_point_and_the_loan_records_the_kiosk(client, corner, app):
    book = corner["books"][0]
    r = client.post(EVENTS, json={"events": [ev("loan", book, corner["card"])]}, headers=corner["h"])
    [res] = r.get_json()["results"]
    assert res["status"] == "applied", res
    assert "欧阳" not in r.get_data(as_text=True) and res["loan"]["borrower"]["name"] == "娜娜"
    [(channel, kiosk_id, lent_by)] = q(app, select(Loan.channel, Loan.kiosk_id, Loan.lent_by_id))
    assert (channel, kiosk_id, lent_by) == ("kiosk", corner["kiosk_id"], None)
    r = client.post(EVENTS, json={"events": [ev("return", book)]}, headers=corner["h"])
    assert r.get_json()["results"][0]["code"] == "returned"
    assert "娜" not in r.get_data(as_text=True)  # a return names no one to the kiosk
    rows = q(app, select(CirculationEvent.type, CirculationEvent.channel, CirculationEvent.kiosk_id)
             .order_by(CirculationEvent.id))
    assert rows == [("loan", "kiosk", corner["kiosk_id"]), ("return", "kiosk", corner["kiosk_id"])]


def test_a_librarians_loan_is_recorded_as_staff(client, corner, app, make):
    r = client.post(EVENTS, json={"events": [ev("loan", corner["books"][1], corner["card"])]},
                    headers=corner["staff"])
    assert r.get_json()["results"][0]["status"] == "applied"
    assert q(app, select(Loan.channel, Loan.kiosk_id)) == [("staff", None)]


def test_another_point_is_not_your_point(client, corner, make):
    elsewhere = make.copy(make.title("小猪佩奇"), point="P02")
    for kind in ("loan", "return"):
        r = client.post(EVENTS, json={"events": [ev(kind, elsewhere, corner["card"], point="P02")]},
                        headers=corner["h"])
        [res] = r.get_json()["results"]
        assert res["status"] == "rejected" and res["code"] == "not_your_point", res


def test_a_renewal_from_a_kiosk_is_refused(client, corner, make):
    make.loan(corner["books"][0], corner["child"])
    r = client.post(EVENTS, json={"events": [ev("renew", corner["books"][0], corner["card"])]},
                    headers=corner["h"])
    assert r.get_json()["results"][0]["code"] == "kiosk_only_lends_and_returns"


def test_a_child_without_the_flag_is_refused(client, corner, app):
    allow(app, corner["child"], False)
    r = client.post(EVENTS, json={"events": [ev("loan", corner["books"][0], corner["card"])]},
                    headers=corner["h"])
    [res] = r.get_json()["results"]
    assert res["status"] == "rejected" and res["code"] == "self_service_not_allowed"
    assert "老师" in res["message"]
    assert q(app, select(Loan.id)) == []
    card = client.get(f"/api/v1/kiosk/cards/{corner['card']}", headers=corner["h"]).get_json()
    assert card["can_borrow"] == 0 and card["refusal"]["code"] == "self_service_not_allowed"


def test_an_overdue_book_blocks_self_service_unless_the_setting_is_off(client, corner, make, app):
    make.loan(corner["books"][0], corner["child"], lent_at=datetime.now(UTC) - timedelta(days=30))
    loan = ev("loan", corner["books"][1], corner["card"])
    [res] = client.post(EVENTS, json={"events": [loan]}, headers=corner["h"]).get_json()["results"]
    assert res["status"] == "rejected" and res["code"] == "overdue_blocks_self_service"
    assert client.get(f"/api/v1/kiosk/cards/{corner['card']}", headers=corner["h"]).get_json()["can_borrow"] == 0
    from library_app.services.settings import update_settings
    admin = make.user("boss", "admin")
    with app.app_context(), session_factory()() as db:
        from library_app.models import User
        update_settings(db, db.get(User, admin.id), datetime.now(UTC), {"kiosk_overdue_blocks": False},
                        app.config)
        db.commit()
    [res] = client.post(EVENTS, json={"events": [ev("loan", corner["books"][1], corner["card"])]},
                        headers=corner["h"]).get_json()["results"]
    assert res["status"] == "applied", res


def test_a_child_of_another_point_is_out_of_reach(client, corner, make):
    other = make.borrower("张小红", point="P02")
    allow(client.application, other)
    r = client.get(f"/api/v1/kiosk/cards/{make.card_code(other)}", headers=corner["h"])
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_your_point"
    assert "小红" not in r.get_data(as_text=True)
    [res] = client.post(EVENTS, json={"events": [ev("loan", corner["books"][0], make.card_code(other))]},
                        headers=corner["h"]).get_json()["results"]
    assert res["code"] == "not_your_point"


def test_unknown_cards_are_slowed_down_after_five_in_a_minute(client, corner, make):
    revoked = make.borrower("李小龙", point="P01")
    with client.application.app_context(), session_factory()() as db:
        from library_app.models import Card
        db.execute(update(Card).where(Card.borrower_id == revoked.id).values(status="revoked"))
        db.commit()
    codes = [make.card_code(revoked), "C0000000000", "nonsense", "C0000000001", "C0000000002"]
    for code in codes:
        r = client.get(f"/api/v1/kiosk/cards/{code}", headers=corner["h"])
        assert r.status_code == 404 and "认不出" in r.get_json()["error"]["message"]
    r = client.get(f"/api/v1/kiosk/cards/{corner['card']}", headers=corner["h"])  # even a good card waits
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_many_tries"
    assert 0 < int(r.headers["Retry-After"]) <= 60
    with client.application.app_context(), session_factory()() as db:
        db.execute(update(Kiosk).values(card_blocked_until=datetime.now(UTC) - timedelta(seconds=1),
                                        card_tries_started_at=datetime.now(UTC) - timedelta(minutes=2)))
        db.commit()
    assert client.get(f"/api/v1/kiosk/cards/{corner['card']}", headers=corner["h"]).status_code == 200


def test_the_kiosk_undoes_its_own_loan(client, corner, app, make):
    loan = ev("loan", corner["books"][0], corner["card"])
    client.post(EVENTS, json={"events": [loan]}, headers=corner["h"])
    r = client.post("/api/v1/kiosk/undo", json={"event_id": loan["id"]}, headers=corner["h"])
    assert r.status_code == 200 and r.get_json()["undone"] is True
    assert q(app, select(Loan.undone_at.is_not(None))) == [(True,)]
    # a loan made by a librarian is not the kiosk's to undo
    staff_loan = ev("loan", corner["books"][1], corner["card"])
    client.post(EVENTS, json={"events": [staff_loan]}, headers=corner["staff"])
    r = client.post("/api/v1/kiosk/undo", json={"event_id": staff_loan["id"]}, headers=corner["h"])
    assert r.status_code == 404


def test_librarians_set_the_self_service_flag(client, corner, make, app):
    child = make.borrower("王小明", point="P01")
    assert client.get(f"/api/v1/borrowers/{child.id}", headers=corner["staff"]).get_json()["self_service"] is False
    r = client.patch(f"/api/v1/borrowers/{child.id}", json={"self_service": True}, headers=corner["staff"])
    assert r.status_code == 200 and r.get_json()["self_service"] is True
    r = client.patch(f"/api/v1/borrowers/{child.id}", json={"self_service": "yes"}, headers=corner["staff"])
    assert r.status_code == 422 and "true 或 false" in r.get_json()["error"]["message"]
    mama = make.token(make.user("mama", "story_mother", points=["P01"]))
    r = client.patch(f"/api/v1/borrowers/{child.id}", json={"self_service": False}, headers=mama)
    assert r.status_code == 403
    assert q(app, select(Borrower.self_service).where(Borrower.id == child.id)) == [(True,)]


def sample_url(rule):
    """This rule's own URL with sample values (url_for may pick another rule of the endpoint)."""
    from werkzeug.routing.converters import NumberConverter, PathConverter

    values = {}
    for arg, conv in rule._converters.items():
        values[arg] = 1 if isinstance(conv, NumberConverter) else "B0000018" if isinstance(conv, PathConverter) else (
            "2026-01" if "month" in arg else "2026" if "year" in arg else "X1")
    return rule.build(values, append_unknown=False)[1]


def test_a_kiosk_token_is_refused_everywhere_but_its_own_endpoints(app, client, corner):
    """Walk the URL map with a kiosk token: every route not marked for kiosks is refused."""
    own = {"api.enrol_kiosk", "api.kiosk_me", "api.kiosk_card", "api.kiosk_undo", "api.kiosk_offline_cache",
           "api.circulation_events", "kiosk.screen", "static"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in own:
            continue
        url = sample_url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            r = client.open(url, method=method, headers=corner["h"], json={})
            assert r.status_code in (401, 403), f"{method} {url} ({rule.endpoint}) gave {r.status_code}"
            checked += 1
    assert checked > 50
    assert client.get("/api/v1/kiosk/me", headers=corner["h"]).status_code == 200
