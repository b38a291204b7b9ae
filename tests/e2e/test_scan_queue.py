"""A story mother's session at 390 × 844: a queue of five children, every state of the screen,
a screenshot of each (test-artifacts/scan-queue-*.png), and the librarian's pages after it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from library_app.db import session_factory
from library_app.models import Card, Copy, Loan, ReviewItem
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot
from tests.e2e.test_scan import current, result, scan_page, type_code


def open_loans(app: Any) -> set[tuple[int, int]]:
    with app.app_context(), session_factory()() as db:
        return {tuple(r) for r in db.execute(select(Loan.copy_id, Loan.borrower_id).where(Loan.returned_at.is_(None)))}


def test_a_queue_of_five_children(app, make, live_server, phone, desktop):
    make.point("P01", "三灶镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    make.user("lib", "librarian")
    names = ["猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄", "大卫不可以", "我爸爸", "逃家小兔", "母鸡萝丝去散步", "彩虹色的花"]
    b = [make.copy(make.title(t), point="P01") for t in names]
    kids = {n: make.borrower(n, point="P01", guardian_phone="13912345678") for n in ("王小明", "李小红", "陈大卫", "张美美", "刘洋")}
    card = {n: make.card_code(k) for n, k in kids.items()}
    now = datetime.now(UTC)
    make.loan(b[2], kids["李小红"], lent_at=now - timedelta(days=20))  # overdue
    extra = [make.copy(make.title(f"科普{i}"), point="P01") for i in range(3)]
    for book in extra:
        make.loan(book, kids["陈大卫"], lent_at=now - timedelta(days=2))  # at the limit
    old_card = make.unbound_card()
    with app.app_context(), session_factory()() as db:  # 刘洋 lost a card once
        db.execute(update(Card).where(Card.id == old_card.id).values(status="revoked", borrower_id=kids["刘洋"].id))
        db.commit()

    scan_page(phone, live_server.url)
    screenshot(phone, "scan-queue-00-start")

    # 1. 王小明 borrows two books
    type_code(phone, card["王小明"])
    current(phone, "王小明")
    screenshot(phone, "scan-queue-01-child")
    type_code(phone, b[0].code)
    result(phone, "借出成功")
    type_code(phone, b[1].code)
    result(phone, "借出成功")
    phone.wait_for_function("() => document.querySelectorAll('#current-loans li').length === 2")
    screenshot(phone, "scan-queue-02-two-books")

    # 2. 李小红 brings back an overdue book and borrows another
    phone.click("#next-child")
    type_code(phone, card["李小红"])
    current(phone, "李小红")
    assert "已逾期" in phone.locator("#current-loans").inner_text()
    screenshot(phone, "scan-queue-03-overdue-loan")
    phone.click("#mode-return")
    type_code(phone, b[2].code)
    assert "逾期了" in result(phone, "归还成功")
    screenshot(phone, "scan-queue-04-returned-late")
    phone.click("#mode-lend")
    type_code(phone, b[3].code)
    result(phone, "借出成功")
    phone.locator("#current-loans [data-renew]").first.click()
    result(phone, "续借成功")
    screenshot(phone, "scan-queue-05-renewed")

    # 3. 陈大卫 is at the limit: the card says so, a book is refused
    type_code(phone, card["陈大卫"])
    assert "已借满 3 本" in current(phone, "陈大卫")
    assert "blocked" not in (phone.locator("#current").get_attribute("class") or "")  # calm, not red
    screenshot(phone, "scan-queue-06-limit-card")
    type_code(phone, b[4].code)
    assert "达到上限" in result(phone, "不能借出")
    screenshot(phone, "scan-queue-07-limit-refused")

    # 4. 张美美 is current when a book 王小明 had is handed back: returned, not lent; the
    #    mother undoes the return
    type_code(phone, card["张美美"])
    current(phone, "张美美")
    type_code(phone, b[0].code)
    text = result(phone, "还没借出")
    assert "王*明" in text and "王小明" not in text and "借给 张美美" in text  # the other child masked
    assert (b[0].id, kids["张美美"].id) not in open_loans(app)
    screenshot(phone, "scan-queue-08-returned-not-lent")
    phone.click("#undo")
    assert "已撤销：" not in result(phone, "已撤销")
    assert (b[0].id, kids["王小明"].id) in open_loans(app)
    screenshot(phone, "scan-queue-09-undone")

    # 5. 刘洋 shows his old, revoked card first, then his real one
    type_code(phone, old_card.code)
    result(phone, "借阅证不能用")
    screenshot(phone, "scan-queue-10-revoked-card")
    type_code(phone, card["刘洋"])
    current(phone, "刘洋")
    type_code(phone, b[5].code)
    result(phone, "借出成功")
    type_code(phone, b[5].code)  # scanned again at once: ignored
    phone.wait_for_timeout(300)
    type_code(phone, "B12")
    result(phone, "编码不对")
    screenshot(phone, "scan-queue-11-bad-code")

    # a book with no child: a return; a book that is not out: said so
    phone.click("#next-child")
    type_code(phone, b[1].code)
    result(phone, "归还成功")
    type_code(phone, b[7].code)
    result(phone, "这本书没有借出")
    screenshot(phone, "scan-queue-12-not-on-loan")

    # the signal drops: the card is checked locally, the loan is kept on the phone
    phone.context.set_offline(True)
    type_code(phone, card["王小明"])
    phone.wait_for_function("() => !document.getElementById('current').hidden"
                            " && document.getElementById('current-count').textContent.includes('没有网络')")
    type_code(phone, b[6].code)
    assert "联网后自动同步" in result(phone, "已保存")
    screenshot(phone, "scan-queue-13-offline-kept")
    phone.context.set_offline(False)
    phone.evaluate("() => window.dispatchEvent(new Event('online'))")
    for _ in range(100):
        if (b[6].id, kids["王小明"].id) in open_loans(app):
            break
        phone.wait_for_timeout(100)
    assert (b[6].id, kids["王小明"].id) in open_loans(app)
    screenshot(phone, "scan-queue-14-synced")

    expected = {(b[0].id, kids["王小明"].id), (b[3].id, kids["李小红"].id), (b[5].id, kids["刘洋"].id),
                (b[6].id, kids["王小明"].id)} | {(e.id, kids["陈大卫"].id) for e in extra}
    assert open_loans(app) == expected

    # the librarian's pages after the session
    with app.app_context(), session_factory()() as db:
        db.execute(update(Loan).where(Loan.copy_id == extra[0].id).values(due_at=now - timedelta(days=4)))
        db.commit()
    login(desktop, live_server.url, "lib", PASSWORD)
    desktop.goto(live_server.url + "/scan")
    desktop.wait_for_selector("#scan[data-ready='1']")
    screenshot(desktop, "scan-queue-20-scan-desktop")
    desktop.goto(live_server.url + "/circulation/loans?point=P01")
    assert "猜猜我有多爱你" in desktop.content()
    screenshot(desktop, "scan-queue-21-loans-desktop")
    desktop.goto(live_server.url + "/circulation/overdue?point=P01")
    text = desktop.locator("table").inner_text()
    assert "陈大卫" in text and "13912345678" in text
    screenshot(desktop, "scan-queue-22-overdue-desktop")
    phone.goto(live_server.url + "/circulation/overdue")
    assert "139****5678" in phone.locator("table").inner_text()  # masked for the story mother
    screenshot(phone, "scan-queue-23-overdue-phone")
    # a phone that was offline all afternoon syncs a loan over 陈大卫's limit: applied, for review
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "mama", "password": PASSWORD}).get_json()["token"]
    with app.app_context(), session_factory()() as db:
        db.execute(update(Card).values(bound_at=now - timedelta(days=30)))
        db.execute(update(Copy).values(created_at=now - timedelta(days=30)))
        db.commit()
    r = api.post("/api/v1/circulation/events", headers={"Authorization": f"Bearer {token}"}, json={"events": [
        {"id": str(uuid.uuid4()), "type": "loan", "copy": b[4].code, "card": card["陈大卫"], "point": "P01",
         "at": (now - timedelta(hours=3)).isoformat()}]})
    assert r.get_json()["results"][0]["status"] == "review"
    desktop.goto(live_server.url + "/circulation/review")
    assert "超过了借书上限" in desktop.content() and "我爸爸" in desktop.content()
    screenshot(desktop, "scan-queue-24-review-desktop")
    desktop.click("button[value=accept]")
    desktop.wait_for_load_state()
    assert "已处理" in desktop.content()
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(ReviewItem.resolution)).startswith("确认无误")
    desktop.goto(live_server.url + "/circulation/loans?status=overdue")
    desktop.locator("button[value=lost]").first.click()
    desktop.wait_for_load_state()
    assert "标记为遗失？" in desktop.content()  # one tap opens the confirmation, it does not end the loan
    desktop.click("text=确认标记为遗失")
    desktop.wait_for_load_state()
    assert "已标记为遗失" in desktop.content()
