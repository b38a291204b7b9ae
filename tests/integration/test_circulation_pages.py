"""Circulation pages through the test client: one-tap actions, loans, overdue call list, review queue."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from flask import render_template_string
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import AuditLog, Copy, Loan, ReviewItem


def token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m
    return m.group(1)


def q(app, stmt):
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).all()


def setup(make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    mama = make.user("mama", "story_mother", points=["P01"])
    book = make.copy(make.title("猜猜我有多爱你"), point="P01")
    child = make.borrower("王小明", point="P01")
    return mama, book, child, make.card_code(child)


def test_card_page_makes_the_child_current_and_the_copy_page_lends_in_one_tap(app, client, make):
    mama, book, child, card = setup(make)
    make.login(client, mama)
    csrf = token(client.get("/scan").get_data(as_text=True))
    with app.test_request_context():
        from flask_login import login_user

        from library_app.models import Card

        with session_factory()() as db:
            card_row = db.scalar(select(Card).where(Card.code == card))
            login_user(db.get(type(mama), mama.id))
            html = render_template_string('{% include "circulation/_card_actions.html" %}', card=card_row,
                                          borrower=card_row.borrower)
    assert "设为当前小读者" in html
    r = client.post("/scan/current", data={"csrf_token": csrf, "card": card})
    assert r.status_code == 302 and f"card={card}" in r.headers["Location"]
    scan = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f'data-start-card="{card}"' in scan
    r = client.post("/scan/act", data={"csrf_token": csrf, "copy": book.code, "action": "loan",
                                       "next": "/s/" + book.code})
    assert r.status_code == 302 and r.headers["Location"].endswith("/s/" + book.code)
    assert q(app, select(Loan.borrower_id, Loan.returned_at)) == [(child.id, None)]
    page = client.get("/scan").get_data(as_text=True)
    assert "已借给王小明" in page  # flashed
    r = client.post("/scan/act", data={"csrf_token": csrf, "copy": book.code, "action": "return"})
    assert q(app, select(Loan.returned_at.is_(None))) == [(False,)]
    client.post("/scan/current/clear", data={"csrf_token": csrf})
    r = client.post("/scan/act", data={"csrf_token": csrf, "copy": book.code, "action": "loan"})
    assert "还没有当前小读者" in client.get("/scan").get_data(as_text=True)
    bad = client.post("/scan/act", data={"csrf_token": csrf, "copy": "B0000019", "action": "loan"})
    assert bad.status_code == 302 and "校验位" in client.get("/scan").get_data(as_text=True)


def test_copy_actions_partial_offers_lend_to_the_current_child(app, make):
    mama, book, child, card = setup(make)
    with app.test_request_context():
        from flask import session
        from flask_login import login_user

        # the session holds the card only; the name is read on the server (issue 13.9)
        session["scan_current"] = {"card": card, "point": "P01", "at": time.time()}
        with session_factory()() as db:
            login_user(db.get(type(mama), mama.id))
            html = render_template_string('{% include "circulation/_copy_actions.html" %}', copy=db.get(Copy, book.id))
    assert "借给 王小明" in html and card in html and 'value="loan"' in html


def test_scan_page_offers_only_her_points_and_staff_all(app, client, make):
    make.point("P03", "停用点", active=False)
    mama, *_ = setup(make)
    make.login(client, mama)
    page = client.get("/scan").get_data(as_text=True)
    assert 'name="code"' in page and "P01 三灶镇故事会点" in page and "P02" not in page
    lib = make.user("lib", "librarian")
    other = app.test_client()
    make.login(other, lib)
    page = other.get("/scan").get_data(as_text=True)
    assert "P01 三灶镇故事会点" in page and "P02 红旗镇故事会点" in page and "停用点" not in page
    viewer = app.test_client()
    make.login(viewer, make.user("v", "viewer"))
    assert viewer.get("/scan").status_code == 403


def test_overdue_call_list_masks_phones_for_story_mothers_and_keeps_to_her_points(app, client, make):
    mama, book, child, card = setup(make)
    make.loan(book, child, lent_at=datetime.now(UTC) - timedelta(days=20))
    other_book = make.copy(point="P02")
    far = make.borrower("李小红", point="P02", guardian_phone="13900001111")
    make.loan(other_book, far, point="P02", lent_at=datetime.now(UTC) - timedelta(days=30))
    make.login(client, mama)
    page = client.get("/circulation/overdue").get_data(as_text=True)
    assert "王小明" in page and "138****5678" in page and "13812345678" not in page
    assert "李小红" not in page and "6 天" in page
    assert client.get("/circulation/overdue?point=P02").status_code == 403
    assert client.get("/circulation/loans").status_code == 403
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    page = lib.get("/circulation/overdue").get_data(as_text=True)
    assert "13812345678" in page and "13900001111" in page and "李小红" in page


def test_loans_page_filters_and_marks_lost_only_after_the_confirmation(app, make):
    mama, book, child, card = setup(make)
    loan = make.loan(book, child, lent_at=datetime.now(UTC) - timedelta(days=20))
    make.loan(make.copy(make.title("好饿的毛毛虫"), point="P02"), child, point="P02")
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    page = lib.get("/circulation/loans?point=P01&status=overdue").get_data(as_text=True)
    assert "猜猜我有多爱你" in page and "好饿的毛毛虫" not in page and "逾期 6 天" in page
    assert "好饿的毛毛虫" in lib.get("/circulation/loans?status=open").get_data(as_text=True)
    csrf = token(page)
    # the tap on 遗失 in the list opens the confirmation step; the loan is still open
    step = lib.get(f"/circulation/loans/{loan.id}/mark?outcome=lost&next=/circulation/loans?status=overdue")
    text = step.get_data(as_text=True)
    assert step.status_code == 200 and "标记为遗失？" in text and "猜猜我有多爱你" in text and "王小明" in text
    assert "确认标记为遗失" in text and 'href="/circulation/loans?status=overdue"' in text  # 取消 goes back
    assert q(app, select(Copy.status).where(Copy.id == book.id)) == [("on_loan",)]
    # a POST without the confirmation's answer (an old page, a double tap) only shows that step
    r = lib.post(f"/circulation/loans/{loan.id}/mark", data={"csrf_token": csrf, "outcome": "lost"})
    assert r.status_code == 302 and f"/circulation/loans/{loan.id}/mark?outcome=lost" in r.headers["Location"]
    assert q(app, select(Loan.returned_at).where(Loan.id == loan.id)) == [(None,)]
    assert not q(app, select(AuditLog.action).where(AuditLog.action == "circulation.mark_lost"))
    # the confirmation ends the loan
    r = lib.post(f"/circulation/loans/{loan.id}/mark", data={"csrf_token": csrf, "outcome": "lost",
                                                            "confirm": "yes", "next": "/circulation/loans"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/circulation/loans")
    assert q(app, select(Copy.status).where(Copy.id == book.id)) == [("lost",)]
    assert q(app, select(Loan.outcome).where(Loan.id == loan.id)) == [("lost",)]
    assert q(app, select(AuditLog.action).where(AuditLog.action == "circulation.mark_lost"))
    assert "已标记为遗失" in lib.get("/circulation/loans").get_data(as_text=True)
    r = lib.post(f"/circulation/loans/{loan.id}/mark", data={"csrf_token": csrf, "outcome": "lost", "confirm": "yes"})
    assert "已经结束" in lib.get("/circulation/loans").get_data(as_text=True)
    assert "已经结束" in lib.get(f"/circulation/loans/{loan.id}/mark?outcome=lost").get_data(as_text=True)
    assert lib.get(f"/circulation/loans/{loan.id}/mark?outcome=eaten").status_code == 400
    assert lib.get("/circulation/loans/99999/mark?outcome=lost").status_code == 404
    make.login(lib, mama)
    assert lib.get(f"/circulation/loans/{loan.id}/mark?outcome=lost").status_code == 403


def test_loans_list_shows_who_lent_by_display_name(app, make):
    mama, book, child, card = setup(make)
    with app.app_context(), session_factory()() as db:
        from library_app.models import User

        db.get(User, mama.id).display_name = "陈妈妈"
        db.commit()
    make.loan(book, child, lent_by_id=mama.id)
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    page = lib.get("/circulation/loans").get_data(as_text=True)
    assert "陈妈妈" in page and ">mama<" not in page


def test_review_queue_accept_and_cancel(app, client, make):
    mama, book, child, card = setup(make)
    h = make.token(mama)
    from tests.integration.test_circulation_api import age_everything, ev, post

    books = [make.copy(point="P01") for _ in range(4)]
    age_everything(app)
    t = datetime.now(UTC) - timedelta(hours=1)
    results = post(client, h, *[ev("loan", b, card, when=t + timedelta(minutes=i)) for i, b in enumerate(books)])
    assert [r["status"] for r in results] == ["applied"] * 3 + ["review"]
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    page = lib.get("/circulation/review").get_data(as_text=True)
    assert "离线借出时超过了借书上限" in page and "王小明" in page
    [(item_id,)] = q(app, select(ReviewItem.id))
    lib.post(f"/circulation/review/{item_id}", data={"csrf_token": token(page), "action": "cancel_loan",
                                                     "note": "孩子当场还了"})
    [(resolution, loan_id)] = q(app, select(ReviewItem.resolution, ReviewItem.loan_id))
    assert resolution == "撤销这次借出：孩子当场还了"
    assert q(app, select(Loan.undone_at.is_not(None), Loan.returned_at.is_not(None)).where(Loan.id == loan_id)) == [(True, True)]
    assert "没有待复核的记录" in lib.get("/circulation/review").get_data(as_text=True)
    assert "孩子当场还了" in lib.get("/circulation/review?show=done").get_data(as_text=True)
    make.login(client, mama)
    assert client.get("/circulation/review").status_code == 403


def test_overdue_call_list_puts_the_longest_overdue_first_and_names_its_point(app, client, make):
    mama, book, child, card = setup(make)
    now = datetime.now(UTC)
    make.loan(book, child, lent_at=now - timedelta(days=16))  # 2 days late
    make.loan(make.copy(point="P01"), make.borrower("陈大文", point="P01"), lent_at=now - timedelta(days=40))
    make.loan(make.copy(point="P01"), make.borrower("安小雨", point="P01"), lent_at=now - timedelta(days=24))
    make.login(client, mama)
    html = client.get("/circulation/overdue").get_data(as_text=True)
    rows = re.findall(r'<td data-label="小读者">([^ <]+)', html)
    assert rows == ["陈大文", "安小雨", "王小明"]  # 26, 10, 2 days: not by name
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "逾期名单" in title and "P01 三灶镇故事会点" in title  # the printed page's header
    assert re.search(r"<h1>逾期名单 <span[^>]*>P01 三灶镇故事会点</span>", html)
    lib = app.test_client()
    make.login(lib, make.user("lib", "librarian"))
    assert "全部阅读点" in re.search(r"<title>(.*?)</title>", lib.get("/circulation/overdue").get_data(as_text=True),
                                  re.S).group(1)
    html = lib.get("/circulation/overdue?point=P01").get_data(as_text=True)
    assert "P01 三灶镇故事会点" in re.search(r"<title>(.*?)</title>", html, re.S).group(1)
