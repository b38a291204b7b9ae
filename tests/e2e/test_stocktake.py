"""Stocktake in the browser: a librarian starts it, two phones scan the same shelves (one of them
offline for part of it), every code is answered at once, the librarian closes it, and the copy
nobody found is missing; found later by a return, it is back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Copy, StocktakeScan
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot


def q(app: Any, stmt: Any) -> Any:
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).scalar()


def scan(page: Any, code: str) -> None:
    """A keyboard-wedge scanner: the code, then Enter, into the big field."""
    page.locator("input[name=code]").fill(code)
    page.keyboard.press("Enter")


def answer(page: Any, n: int) -> dict[str, str]:
    """The n-th answer on this phone (1 = first), once it is there."""
    item = page.locator("#history li").nth(0)
    page.wait_for_function("n => document.querySelectorAll('#history li').length >= n", arg=n)
    return {"status": item.get_attribute("data-status") or "", "text": item.inner_text(),
            "box": page.locator("#result").get_attribute("class") or ""}


def test_two_phones_one_offline_then_close(app, make, live_server, browser):
    base = live_server.url
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("lib", "librarian")
    make.user("mama", "story_mother", points=["P01"])
    make.user("lili", "story_mother", points=["P01"])
    titles = ["猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄", "大卫，不可以", "月亮，生日快乐", "逃家小兔"]
    shelf = [make.copy(make.title(t), point="P01") for t in titles]
    stray = make.copy(make.title("母鸡萝丝去散步"), point="P02")
    lent = make.copy(make.title("我爸爸"), point="P01")
    make.loan(lent, make.borrower("李小红"))

    desk = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    librarian = desk.new_page()
    login(librarian, base, "lib", PASSWORD)
    librarian.goto(base + "/stocktakes/")
    librarian.click("button[data-open=P01]")
    librarian.wait_for_selector("#stocktake[data-ready='1']")
    scan_url = librarian.url
    assert "/scan" in scan_url
    assert librarian.locator("#expected").inner_text() == "6"  # not the lent one, not P02's

    phones = []
    for user in ("mama", "lili"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                      device_scale_factor=2, is_mobile=True, has_touch=True)
        page = context.new_page()
        login(page, base, user, PASSWORD)
        page.goto(base + "/stocktakes/")
        page.click("a:has-text('去扫描')")
        page.wait_for_selector("#stocktake[data-ready='1']")
        phones.append(page)
    a, b = phones

    # phone A, online: found (green), another point's book (says which), a lent one, a bad code,
    # the same book again
    scan(a, shelf[0].code)
    got = answer(a, 1)
    assert got["status"] == "found" and "ok" in got["box"] and "猜猜我有多爱你" in got["text"]
    a.wait_for_function("() => document.getElementById('found').textContent === '1'")
    scan(a, stray.code)
    got = answer(a, 2)
    assert got["status"] == "elsewhere" and "P02" in got["text"] and "elsewhere" in got["box"]
    scan(a, lent.code)
    assert answer(a, 3)["status"] == "on_loan"
    scan(a, "B0000019")  # a mistyped check digit
    got = answer(a, 4)
    assert got["status"] == "unknown" and "校验位" in got["text"] and "bad" in got["box"]
    scan(a, shelf[0].code)
    assert answer(a, 5)["status"] == "duplicate"

    # phone B loses the signal: its scans wait on the phone, answered at once as saved
    b.context.set_offline(True)
    for n, copy in enumerate((shelf[1], shelf[2], shelf[0]), start=1):  # shelf[0]: phone A had it
        scan(b, copy.code)
        assert answer(b, n)["status"] == "queued"
    b.wait_for_function("() => !document.getElementById('pending-note').hidden")
    assert "3 本保存在手机上" in b.locator("#pending-note").inner_text()
    # meanwhile phone A goes on
    scan(a, shelf[3].code)
    scan(a, shelf[4].code)
    a.wait_for_function("() => document.getElementById('found').textContent === '3'")
    assert q(app, select(func.count()).select_from(StocktakeScan).where(StocktakeScan.status == "found")) == 3

    # back online: B's scans reach the server once; the book A had found counts once
    b.context.set_offline(False)
    b.evaluate("() => window.dispatchEvent(new Event('online'))")
    b.wait_for_function("() => document.getElementById('pending-note').hidden", timeout=20000)
    b.wait_for_function("() => document.getElementById('found').textContent === '5'", timeout=20000)
    assert q(app, select(func.count()).select_from(StocktakeScan).where(StocktakeScan.status == "found")) == 5
    assert q(app, select(func.count()).select_from(StocktakeScan).where(StocktakeScan.status == "duplicate")) == 1
    screenshot(a, "stocktake-phone")

    # the librarian reads the results and closes the stocktake
    librarian.goto(scan_url.replace("/scan", ""))
    assert librarian.locator("#fig-found").inner_text() == "5"
    assert librarian.locator("#fig-missing").inner_text() == "1"
    assert "逃家小兔" in librarian.locator("#list-missing").inner_text()
    assert "红旗镇" in librarian.locator("#list-elsewhere").inner_text()
    assert "我爸爸" in librarian.locator("#list-on_loan").inner_text()
    librarian.once("dialog", lambda d: d.accept())
    librarian.click("#close")
    librarian.wait_for_selector(".flash-success:has-text('1 本登记为缺失')")
    screenshot(librarian, "stocktake-results")
    # printable on A4: the lists, without the menu or the buttons
    pdf = librarian.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    (screenshot(librarian, "stocktake-results").parent / "stocktake-results.pdf").write_bytes(pdf)
    missing = shelf[5]
    assert q(app, select(Copy.status).where(Copy.id == missing.id)) == "missing"
    assert q(app, select(Copy.status).where(Copy.id == shelf[0].id)) == "available"
    assert q(app, select(Copy.status).where(Copy.id == lent.id)) == "on_loan"  # never returned by a stocktake
    assert q(app, select(Copy.status).where(Copy.id == stray.id)) == "available"  # P02 untouched

    # the missing book turns up at the desk: returned (not on loan), it is available again
    r = a.evaluate("""async ([code, id, at]) => {
      const meta = document.querySelector('meta[name=csrf-token]');
      const res = await fetch('/api/v1/circulation/events', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'X-CSRFToken': meta.content},
        body: JSON.stringify({events: [{id, type: 'return', copy: code, point: 'P01', at}]})});
      return (await res.json()).results[0];
    }""", [missing.code, str(uuid.uuid4()), datetime.now(UTC).isoformat()])
    assert r["status"] == "applied" and "缺失" in r["message"]
    assert q(app, select(Copy.status).where(Copy.id == missing.id)) == "available"
    for page in phones:
        page.context.close()
    desk.close()
