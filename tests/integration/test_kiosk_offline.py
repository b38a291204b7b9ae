"""The kiosk offline (issue 17): its cache of one point, offline loans refused at sync sent for
review, the enrol endpoint's throttle, and kiosks not seen for 30 days. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from library_app.db import session_factory
from library_app.models import AuditLog, Borrower, Card, CirculationEvent, Kiosk, Loan, ReviewItem

EVENTS = "/api/v1/circulation/events"
CACHE = "/api/v1/kiosk/offline-cache"


def q(app, stmt):
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).all()


def change(app, stmt):
    with app.app_context(), session_factory()() as db:
        db.execute(stmt)
        db.commit()


def kiosk_token(client, staff, point):
    r = client.post("/api/v1/kiosks", json={"name": f"{point}平板", "point": point}, headers=staff)
    assert r.status_code == 201
    created = r.get_json()
    r = client.post("/api/v1/kiosk/enrol", json={"enrol_code": created["enrol_code"]})
    assert r.status_code == 200
    return created["id"], {"Authorization": f"Bearer {r.get_json()['token']}"}


def offline_loan(copy, card, hours_ago=1):
    """A loan the kiosk queued with no connection, sent later (outbox.js marks it offline)."""
    return {"id": str(uuid.uuid4()), "type": "loan", "copy": copy.code, "card": card, "point": "P01",
            "at": (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(), "offline": True}


@pytest.fixture
def corner(make, client, app):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    staff = make.token(make.user("lib", "librarian"))
    kid, h = kiosk_token(client, staff, "P01")
    nana = make.borrower("欧阳娜娜", point="P01", self_service=True)
    ming = make.borrower("王小明", point="P01")  # not allowed self-service
    hong = make.borrower("张小红", point="P02", self_service=True)  # another point's
    gone = make.borrower("李小龙", point="P01", self_service=True)
    change(app, update(Card).where(Card.borrower_id == gone.id).values(status="revoked"))
    books = [make.copy(make.title(t), point="P01") for t in ("猜猜我有多爱你", "好饿的毛毛虫", "大卫，不可以")]
    far = make.copy(make.title("小猪佩奇"), point="P02")
    return {"staff": staff, "kiosk_id": kid, "h": h, "nana": nana, "ming": ming, "hong": hong,
            "books": books, "far": far, "card": make.card_code(nana)}


# ---------------------------------------------------------------- the offline cache

def test_the_cache_holds_this_points_self_service_children_by_given_name_only(client, corner, make, app):
    make.loan(corner["books"][0], corner["nana"])
    r = client.get(CACHE, headers=corner["h"])
    assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"]
    body = r.get_json()
    assert set(body) == {"point", "generated_at", "expires_at", "loan_limit", "cards", "copies"}
    assert body["point"] == "P01" and body["loan_limit"] == 3
    generated, expires = (datetime.fromisoformat(body[k]) for k in ("generated_at", "expires_at"))
    assert expires - generated == timedelta(hours=24)
    # only 娜娜: 小明 may not self-serve, 小红 is of P02, 小龙's card is revoked
    assert body["cards"] == [{"code": corner["card"], "name": "娜娜", "open_loans": 1, "blocked": False}]
    text = r.get_data(as_text=True)
    for secret in ("欧阳", "王大明", "13812345678", "2018", "小明", "小红", "小龙"):
        assert secret not in text, secret
    titles = ("猜猜我有多爱你", "好饿的毛毛虫", "大卫，不可以")
    assert body["copies"] == sorted(({"code": b.code, "title": t} for b, t in zip(corner["books"], titles, strict=True)),
                                    key=lambda c: c["code"])
    assert corner["far"].code not in text
    [(details,)] = q(app, select(AuditLog.details).where(AuditLog.action == "kiosk.offline_cache"))
    assert details == {"cards": 1, "copies": 3}


def test_an_overdue_book_marks_her_blocked_in_the_cache(client, corner, make):
    make.loan(corner["books"][0], corner["nana"], lent_at=datetime.now(UTC) - timedelta(days=30))
    [card] = client.get(CACHE, headers=corner["h"]).get_json()["cards"]
    assert card["blocked"] is True and card["open_loans"] == 1


def test_another_points_kiosk_reads_only_its_own_point_and_nobody_else_reads_it(client, corner, make):
    _kid, other = kiosk_token(client, corner["staff"], "P02")
    body = client.get(CACHE, headers=other).get_json()
    assert body["point"] == "P02"
    assert [c["name"] for c in body["cards"]] == ["小红"]
    assert [c["code"] for c in body["copies"]] == [corner["far"].code]
    assert "娜娜" not in str(body)
    assert client.get(CACHE + "?point=P01", headers=other).get_json()["point"] == "P02"  # no way round
    assert client.get(CACHE, headers=corner["staff"]).status_code == 403  # a user's token: not a kiosk
    mama = make.token(make.user("mama", "story_mother", points=["P01"]))
    assert client.get(CACHE, headers=mama).status_code == 403
    assert client.get(CACHE).status_code == 401
    client.delete(f"/api/v1/kiosks/{corner['kiosk_id']}", headers=corner["staff"])
    assert client.get(CACHE, headers=corner["h"]).status_code == 401  # revoked


# ---------------------------------------------------------------- offline loans at sync

def _review_items(app):
    return q(app, select(ReviewItem.reason, ReviewItem.loan_id.is_not(None), ReviewItem.event_id))


def test_an_offline_loan_after_self_service_was_turned_off_is_lent_and_sent_for_review(client, corner, app):
    change(app, update(Borrower).where(Borrower.id == corner["nana"].id).values(self_service=False))
    event = offline_loan(corner["books"][0], corner["card"])
    for _ in range(2):  # sent twice (a lost answer): still one loan, one review item
        r = client.post(EVENTS, json={"events": [event]}, headers=corner["h"])
        assert r.status_code == 200
    [res] = r.get_json()["results"]
    assert res["status"] == "duplicate" and res["original_status"] == "review"
    assert q(app, select(Loan.copy_id, Loan.channel)) == [(corner["books"][0].id, "kiosk")]
    assert _review_items(app) == [("kiosk_self_service_off", True, event["id"])]
    [kiosk] = [k for k in _activity(app) if k["id"] == corner["kiosk_id"]]
    assert (kiosk["loans"], kiosk["reviews"]) == (1, 1)


def test_an_offline_loan_over_the_limit_or_with_an_overdue_book_goes_to_review(client, corner, make, app):
    extra = [make.copy(make.title(f"书{i}"), point="P01") for i in range(3)]
    make.loan(extra[0], corner["nana"], lent_at=datetime.now(UTC) - timedelta(days=30))  # overdue
    make.loan(extra[1], corner["nana"])
    make.loan(extra[2], corner["nana"])  # 3 out: at the limit
    event = offline_loan(corner["books"][0], corner["card"])
    [res] = client.post(EVENTS, json={"events": [event]}, headers=corner["h"]).get_json()["results"]
    assert res["status"] == "review", res
    [(reason, message, details)] = q(app, select(ReviewItem.reason, ReviewItem.message, ReviewItem.details))
    assert reason == "kiosk_overdue" and "over_limit" in details["reasons"]
    assert "过期" in message and "上限" in message


def test_an_offline_loan_refused_at_sync_is_not_silent(client, corner, make, app):
    # her card was moved to another point after the tablet cached it: refused, and a review item
    change(app, update(Borrower).where(Borrower.id == corner["nana"].id).values(
        home_point_id=select(Borrower.home_point_id).where(Borrower.id == corner["hong"].id).scalar_subquery()))
    event = offline_loan(corner["books"][1], corner["card"])
    [res] = client.post(EVENTS, json={"events": [event]}, headers=corner["h"]).get_json()["results"]
    assert res["status"] == "rejected" and res["code"] == "not_your_point"
    assert "书已经被孩子拿走" in res["message"]
    assert q(app, select(Loan.id)) == []
    [(reason, has_loan, eid)] = _review_items(app)
    assert (reason, has_loan, eid) == ("kiosk_refused", False, event["id"])
    [(details,)] = q(app, select(ReviewItem.details))
    assert details["copy"] == corner["books"][1].code and details["refusal"] == "not_your_point"
    [kiosk] = [k for k in _activity(app) if k["id"] == corner["kiosk_id"]]
    assert (kiosk["loans"], kiosk["refusals"], kiosk["reviews"]) == (0, 1, 1)
    # and the librarian sees it on the review page and on the kiosks page
    make.login(client, make.user("lib2", "librarian"))
    page = client.get("/circulation/review").get_data(as_text=True)
    assert "自助借书机离线借出的书没能记成借阅" in page and corner["books"][1].code in page
    assert "待复核 1" in client.get("/kiosks").get_data(as_text=True)


def test_online_a_refusal_stays_a_refusal_with_no_review(client, corner, app):
    change(app, update(Borrower).where(Borrower.id == corner["nana"].id).values(self_service=False))
    event = {**offline_loan(corner["books"][0], corner["card"], hours_ago=0), "offline": False}
    [res] = client.post(EVENTS, json={"events": [event]}, headers=corner["h"]).get_json()["results"]
    assert res["status"] == "rejected" and res["code"] == "self_service_not_allowed"
    assert _review_items(app) == [] and q(app, select(Loan.id)) == []
    assert q(app, select(CirculationEvent.status)) == [("rejected",)]


def _activity(app):
    from library_app.services import kiosk as service
    with app.app_context(), session_factory()() as db:
        return service.activity(db, datetime.now(UTC) - timedelta(days=1))


# ---------------------------------------------------------------- the enrol throttle

def test_wrong_enrol_codes_from_one_address_are_slowed_down(client, corner, app):
    app.config["KIOSK_ENROL_ADDRESS_LIMITS"] = ((3, 600),)
    created = client.post("/api/v1/kiosks", json={"name": "新平板", "point": "P01"},
                          headers=corner["staff"]).get_json()
    here = {"REMOTE_ADDR": "198.51.100.9"}
    for guess in ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC"):
        r = client.post("/api/v1/kiosk/enrol", json={"enrol_code": guess}, environ_base=here)
        assert r.status_code == 400
    r = client.post("/api/v1/kiosk/enrol", json={"enrol_code": created["enrol_code"]}, environ_base=here)
    assert r.status_code == 429  # even the right code waits now
    assert 0 < int(r.headers["Retry-After"]) <= 600
    error = r.get_json()["error"]
    assert error["code"] == "too_many_requests" and "分钟后再试" in error["message"]
    # another address is not slowed, and a right code is not counted as a guess
    there = {"REMOTE_ADDR": "198.51.100.10"}
    assert client.post("/api/v1/kiosk/enrol", json={"enrol_code": "DDDDDDDD"}, environ_base=there).status_code == 400
    assert client.post("/api/v1/kiosk/enrol", json={"enrol_code": created["enrol_code"]},
                       environ_base=there).status_code == 200
    second = client.post("/api/v1/kiosks", json={"name": "再一台", "point": "P01"}, headers=corner["staff"]).get_json()
    assert client.post("/api/v1/kiosk/enrol", json={"enrol_code": "EEEEEEEE"}, environ_base=there).status_code == 400
    assert client.post("/api/v1/kiosk/enrol", json={"enrol_code": second["enrol_code"]},
                       environ_base=there).status_code == 200  # 3 tries, 2 wrong: still under the limit


# ---------------------------------------------------------------- tokens that never expire, seen

def test_a_kiosk_not_seen_for_30_days_is_flagged(client, corner, make, app):
    kiosk_token(client, corner["staff"], "P02")
    old = datetime.now(UTC) - timedelta(days=31)
    change(app, update(Kiosk).where(Kiosk.id == corner["kiosk_id"]).values(last_seen_at=old))
    listed = {k["id"]: k for k in client.get("/api/v1/kiosks", headers=corner["staff"]).get_json()["kiosks"]}
    assert listed[corner["kiosk_id"]]["long_unused"] is True
    assert [k["long_unused"] for i, k in listed.items() if i != corner["kiosk_id"]] == [False]
    make.login(client, make.user("lib3", "librarian"))
    page = client.get("/kiosks").get_data(as_text=True)
    rows = dict(re.findall(r'data-kiosk="(\d+)">(.*?)</tr>', page, re.S))
    assert "长时间未使用，如设备已丢失请停用" in rows[str(corner["kiosk_id"])]
    assert "长时间未使用" not in "".join(v for k, v in rows.items() if k != str(corner["kiosk_id"]))
    # the token still works (it never expires), and using it clears the flag
    assert app.test_client().get("/api/v1/kiosk/me", headers=corner["h"]).status_code == 200
    [(seen,)] = q(app, select(Kiosk.last_seen_at).where(Kiosk.id == corner["kiosk_id"]))
    assert seen.replace(tzinfo=seen.tzinfo or UTC) > datetime.now(UTC) - timedelta(minutes=5)
    page = client.get("/kiosks").get_data(as_text=True)
    assert "长时间未使用" not in page
