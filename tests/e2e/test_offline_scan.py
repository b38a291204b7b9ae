"""A session of lending with no signal, against the real events endpoint and database.

Headless Chromium with Playwright's offline mode: the scan screen is visited once online, then
the network goes; loans and returns wait on the phone, survive a reload, and reach the server
exactly once when the connection returns — even when the network is cut mid-sync. Two phones
lending one copy offline at two points leave one open loan and a review item.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import CirculationEvent, Loan, ReviewItem
from tests.builders import PASSWORD
from tests.e2e import test_offline_screen
from tests.e2e.conftest import login, screenshot
from tests.e2e.test_offline_outbox import EVENTS, LIST, PENDING, SEND, SYNC, wait_pending
from tests.e2e.test_offline_screen import controlled

scan_screen = test_offline_screen.scan_screen  # the fixture: the scan page, or its stand-in

NEW_EVENT = """async ([type, copy, card, point]) => {
  const m = await import('/static/js/outbox.js');
  const e = {id: m.newEventId(), type, copy, point, at: m.deviceTime()};
  if (card) e.card = card;
  return e;
}"""


def q(app: Any, stmt: Any) -> list[Any]:
    with app.app_context(), session_factory()() as db:
        return list(db.execute(stmt).all())


def record(page: Any, kind: str, copy: Any, card: str | None = None, point: str = "P01") -> dict[str, Any]:
    """What the scan screen does for one scan: make the event, hand it to the outbox."""
    e = page.evaluate(NEW_EVENT, [kind, copy.code, card, point])
    [result] = page.evaluate(SEND, [e])
    assert result["status"] == "queued", result
    return e


@pytest.fixture
def reading_point(app: Any, make: Any) -> dict[str, Any]:
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    make.user("lili", "story_mother", points=["P02"])
    titles = ["猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄", "大卫，不可以", "月亮，生日快乐"]
    books = [make.copy(make.title(t), point="P01") for t in titles]
    xiaoming = make.borrower("王小明", point="P01")
    xiaohong = make.borrower("李小红", point="P01")
    return {"books": books, "cards": [make.card_code(xiaoming), make.card_code(xiaohong)],
            "children": [xiaoming, xiaohong]}


def online_visit(page: Any, base: str, user: str, path: str) -> None:
    login(page, base, user, PASSWORD)
    page.goto(base + path)
    controlled(page)
    page.wait_for_selector(".offline-cache-info:has-text('册图书')")


def scan(page: Any, code: str) -> None:
    """A keyboard-wedge scanner: the code, then Enter, into the field that keeps the focus."""
    page.locator("input[name=code]").fill(code)
    page.keyboard.press("Enter")


def test_a_session_offline_reaches_the_server_once(app, reading_point, scan_screen, live_server, phone):
    online_visit(phone, live_server.url, "mama", scan_screen)
    phone.context.set_offline(True)
    books, (ming, hong) = reading_point["books"], reading_point["cards"]
    scan(phone, ming)  # the card is known from the phone's cache, by its masked name
    phone.wait_for_selector("#current-name:has-text('王*明')")
    for n, book in enumerate(books[:3], start=1):
        scan(phone, book.code)
        wait_pending(phone, n)
    assert "已保存" in phone.locator("#result-title").inner_text()
    assert "小蓝和小黄" in phone.locator("#result-message").inner_text()
    screenshot(phone, "offline-scan-lent-three")
    scan(phone, hong)
    phone.wait_for_selector("#current-name:has-text('李*红')")
    for n, book in enumerate(books[3:], start=4):
        scan(phone, book.code)
        wait_pending(phone, n)
    phone.click("#mode-return")
    scan(phone, books[0].code)
    wait_pending(phone, 6)
    assert "归还" in phone.locator("#result-title").inner_text()
    phone.wait_for_selector("#offline-status [data-pending='6']")
    screenshot(phone, "offline-scan-returned-one")
    events = [r["event"] for r in reversed(phone.evaluate(LIST))]  # in the order recorded
    assert [(e["type"], e.get("card")) for e in events] == [
        ("loan", ming), ("loan", ming), ("loan", ming), ("loan", hong), ("loan", hong), ("return", None)]
    assert all(e["offline"] is True and e["point"] == "P01" for e in events)

    phone.reload()  # still no signal: the screen loads from the phone, the six still wait
    phone.wait_for_selector("[data-state=offline] [data-pending='6']")
    assert phone.evaluate(PENDING) == 6
    phone.click("#offline-status summary")
    assert "借出《月亮，生日快乐》 → 李*红" in phone.locator("#offline-status").inner_text()
    screenshot(phone, "offline-session-six-waiting")
    assert q(app, select(func.count(Loan.id))) == [(0,)]

    phone.context.set_offline(False)
    wait_pending(phone, 0)
    phone.wait_for_selector("#offline-status summary:has-text('已上传 6')")
    screenshot(phone, "offline-session-synced")
    loans = q(app, select(Loan.event_id, Loan.borrower_id, Loan.returned_at, Loan.return_event_id))
    by_copy = {e["copy"]: e for e in events if e["type"] == "loan"}
    assert sorted(row.event_id for row in loans) == sorted(e["id"] for e in by_copy.values())
    ids = [c.id for c in reading_point["children"]]
    assert sorted(row.borrower_id for row in loans) == sorted([ids[0]] * 3 + [ids[1]] * 2)
    returned = [row for row in loans if row.returned_at is not None]
    assert [(r.event_id, r.return_event_id) for r in returned] == [
        (by_copy[books[0].code]["id"], events[-1]["id"])]
    assert q(app, select(func.count(CirculationEvent.id))) == [(6,)]
    kept = json.dumps(phone.evaluate(LIST), ensure_ascii=False)
    assert "王*明" in kept and "王小明" not in kept and "李小红" not in kept  # masked names only

    # Replaying the same stored events changes nothing: each answer is "duplicate".
    stored = [r["event"] for r in phone.evaluate(LIST)]
    answer = phone.evaluate("""async (events) => {
      const r = await fetch('/api/v1/circulation/events', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json',
                  'X-CSRFToken': document.querySelector('form[data-logout] input[name=csrf_token]').value},
        body: JSON.stringify({events})});
      return r.json();
    }""", stored)
    assert {r["status"] for r in answer["results"]} == {"duplicate"}
    assert q(app, select(Loan.event_id, Loan.borrower_id, Loan.returned_at, Loan.return_event_id)) == loans
    assert q(app, select(func.count(CirculationEvent.id))) == [(6,)]


def test_network_cut_mid_sync_against_the_server(app, make, reading_point, scan_screen, live_server, phone):
    online_visit(phone, live_server.url, "mama", scan_screen)
    more = [make.copy(make.title(f"绘本{i}"), point="P01") for i in range(55)]
    children = [make.borrower(f"小读者{i}", point="P01") for i in range(20)]
    phone.context.set_offline(True)
    events = [record(phone, "loan", book, make.card_code(children[i % 20])) for i, book in enumerate(more)]
    assert phone.evaluate(PENDING) == 55

    # The first batch (50) reaches the server but its answer is lost; the next try is cut
    # before it arrives; then the network holds.
    cuts = ["lose", "abort"]

    def flaky(route: Any, request: Any) -> None:
        step = cuts.pop(0) if cuts else "ok"
        if step == "abort":
            route.abort("connectionreset")
            return
        response = route.fetch()
        if step == "lose":
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    phone.context.route(EVENTS, flaky)
    phone.context.set_offline(False)
    for _ in range(10):  # automatic first try, then her taps on 立即上传
        if phone.evaluate(PENDING) == 0:
            break
        phone.wait_for_timeout(200)
        phone.evaluate(SYNC)
    wait_pending(phone, 0)
    assert cuts == []
    loans = q(app, select(Loan.event_id).where(Loan.returned_at.is_(None)))
    assert sorted(r.event_id for r in loans) == sorted(e["id"] for e in events)
    assert q(app, select(func.count(CirculationEvent.id))) == [(55,)]
    statuses = [r["result"]["status"] for r in phone.evaluate(LIST)]
    assert statuses.count("duplicate") == 50 and statuses.count("applied") == 5


def test_two_phones_offline_at_two_points_lend_one_copy(app, make, reading_point, scan_screen, live_server, browser):
    book = reading_point["books"][0]
    far_child = make.borrower("陈大文", point="P02")
    phones = []
    for user in ("mama", "lili"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
        page = context.new_page()
        online_visit(page, live_server.url, user, scan_screen)
        context.set_offline(True)
        phones.append(page)
    at_p01, at_p02 = phones
    first = record(at_p01, "loan", book, reading_point["cards"][0], point="P01")
    at_p01.wait_for_timeout(1100)  # the second loan happens a moment later, on the other phone
    second = record(at_p02, "loan", book, make.card_code(far_child), point="P02")

    for page in phones:
        page.context.set_offline(False)
        wait_pending(page, 0)
    open_loans = q(app, select(Loan.event_id).where(Loan.copy_id == book.id, Loan.returned_at.is_(None)))
    assert [r.event_id for r in open_loans] == [second["id"]]
    [item] = q(app, select(ReviewItem.event_id, ReviewItem.reason, ReviewItem.message))
    assert item.event_id == second["id"] and item.reason == "clash_other_point"
    assert "两个阅读点" in item.message
    result = next(r for r in at_p02.evaluate(LIST) if r["id"] == second["id"])["result"]
    assert result["status"] == "review"
    assert "王*明" in result["message"] and "陈*文" in result["message"]
    assert "王小明" not in json.dumps(at_p02.evaluate(LIST), ensure_ascii=False)
    at_p02.wait_for_selector("#offline-status li[data-status=review]")
    assert "复核" in at_p02.locator("#offline-status li[data-status=review]").inner_text()
    screenshot(at_p02, "offline-two-phones-review")
    assert next(r for r in at_p01.evaluate(LIST) if r["id"] == first["id"])["result"]["status"] == "applied"
    for page in phones:
        page.context.close()
