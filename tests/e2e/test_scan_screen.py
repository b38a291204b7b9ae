"""The scan screen at a busy table (issue 15), in headless Chromium at 390 × 844 with a fake
camera: the viewfinder stays in view, a book handed back is not lent without the tap, the
limit and own-book cases, calm colours, and the Chinese offline page for the menu's pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Loan
from tests.builders import PASSWORD
from tests.e2e.conftest import login, make_y4m, screenshot
from tests.e2e.test_offline_screen import controlled
from tests.e2e.test_scan import current, result, scan_page, type_code


def shot(page: Any, name: str) -> None:
    screenshot(page, name, full_page=False)


@pytest.fixture
def table(app: Any, make: Any) -> dict[str, Any]:
    make.point("P01", "三灶镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    titles = ["猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄", "大卫，不可以", "月亮，生日快乐", "我爸爸"]
    books = [make.copy(make.title(t), point="P01") for t in titles]
    ming = make.borrower("王小明", point="P01")
    hong = make.borrower("李小红", point="P01")
    return {"books": books, "ming": ming, "hong": hong, "ming_card": make.card_code(ming),
            "hong_card": make.card_code(hong)}


def open_loans(app: Any) -> set[tuple[int, int]]:
    with app.app_context(), session_factory()() as db:
        return {tuple(r) for r in db.execute(select(Loan.copy_id, Loan.borrower_id).where(Loan.returned_at.is_(None)))}


def phone_with_camera(launch: Any, video: Path) -> Any:
    browser = launch(video)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    return context.new_page()


def video_in_view(page: Any) -> float:
    """The share of the video's height inside the viewport (0 … 1)."""
    box = page.locator("#video").bounding_box()  # relative to the viewport
    assert box is not None and box["height"] > 100
    seen = min(box["y"] + box["height"], 844) - max(box["y"], 0)
    return max(0.0, seen) / box["height"]


def test_viewfinder_stays_in_view_after_a_card_and_three_books(app, table, live_server, launch, tmp_path):
    page = phone_with_camera(launch, make_y4m(f"http://lib.example.org/s/{table['ming_card']}", tmp_path / "card.y4m"))
    scan_page(page, live_server.url)
    page.click("#camera-open")
    current(page, "王小明", timeout=20000)  # the card, through the camera
    assert video_in_view(page) >= 0.5
    for n, book in enumerate(table["books"][:3], start=1):
        type_code(page, book.code)
        page.wait_for_function("n => document.querySelectorAll('#history li').length >= n + 1", arg=n)
        result(page, "借出成功")
        assert video_in_view(page) >= 0.5, f"after book {n}"
    # the child's list is folded while the camera is open, and even scrolled down the video stays
    assert page.locator("#current-list").get_attribute("open") is None
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(100)
    assert video_in_view(page) >= 0.5
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "scan-camera-after-three-books-390")
    assert len(open_loans(app)) == 3
    page.click("#camera-close")
    assert page.locator("#current-list").get_attribute("open") is not None


def test_a_book_handed_back_is_returned_and_lent_only_on_the_tap(app, make, table, live_server, phone):
    book = table["books"][0]
    make.loan(book, table["hong"])  # 李小红 has it; 王小明 is current when it is scanned
    scan_page(phone, live_server.url)
    type_code(phone, table["ming_card"])
    current(phone, "王小明")
    type_code(phone, book.code)
    text = result(phone, "还没借出")
    assert "猜猜我有多爱你" in text and "已归还" in text and "李" in text  # whose it was, as the API names her
    assert phone.locator("#result").get_attribute("data-tone") != "ok"
    lend = phone.locator("#result-action")
    assert lend.is_visible() and lend.inner_text() == "借给 王小明"
    assert open_loans(app) == set()  # returned, and not lent
    shot(phone, "scan-returned-not-lent-390")
    phone.set_viewport_size({"width": 1280, "height": 800})
    shot(phone, "scan-returned-not-lent-1280")
    phone.set_viewport_size({"width": 390, "height": 844})
    lend.click()
    assert "王小明" in result(phone, "借出成功")
    assert open_loans(app) == {(book.id, table["ming"].id)}
    assert phone.locator("#result-action").is_hidden()


def test_at_the_limit_calm_box_own_book_returned_by_one_tap(app, make, table, live_server, phone):
    b = table["books"]
    make.loan(b[0], table["ming"])
    make.loan(b[1], table["ming"])
    scan_page(phone, live_server.url)
    type_code(phone, table["ming_card"])
    assert "还可以借 1 本" in current(phone, "王小明")
    # the loan that reaches the limit is a success: green result, the child's box not red
    type_code(phone, b[2].code)
    result(phone, "借出成功")
    assert phone.locator("#result").get_attribute("data-tone") == "ok"
    phone.wait_for_function("() => document.getElementById('current-count').textContent.includes('已借满')")
    box_class = phone.locator("#current").get_attribute("class") or ""
    assert "blocked" not in box_class and "full" in box_class
    assert phone.evaluate("getComputedStyle(document.getElementById('current')).backgroundColor") != "rgb(254, 226, 226)"
    shot(phone, "scan-at-limit-calm-390")
    # one more is refused, and the refusal says how to return one
    type_code(phone, b[3].code)
    assert "归还这本" in result(phone, "不能借出")
    # her own book, scanned again: "归还这本" returns it
    type_code(phone, b[0].code)
    text = result(phone, "已经借给TA了")
    assert phone.locator("#result-action").inner_text() == "归还这本"
    assert "猜猜我有多爱你" in text
    shot(phone, "scan-own-book-390")
    phone.click("#result-action")
    assert "猜猜我有多爱你" in result(phone, "归还成功")
    assert (b[0].id, table["ming"].id) not in open_loans(app)
    phone.wait_for_function("() => document.getElementById('current-count').textContent.includes('还可以借 1 本')")
    # and now the refused book can be lent
    type_code(phone, b[3].code)
    result(phone, "借出成功")
    assert (b[3].id, table["ming"].id) in open_loans(app)


def test_one_box_per_scan_and_words_that_match_the_mode(app, table, live_server, phone):
    scan_page(phone, live_server.url)
    hint = phone.locator("#hint").inner_text()
    assert phone.locator("#mode-lend").inner_text() == "借还" and "还书" in hint
    # the placeholder is not cut at 390 px
    assert phone.evaluate("""() => { const i = document.getElementById('code'); const c = document.createElement('canvas')
        .getContext('2d'); const s = getComputedStyle(i); c.font = `${s.fontSize} ${s.fontFamily}`;
        const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
        return c.measureText(i.placeholder).width + i.placeholder.length * parseFloat(s.letterSpacing || 0) + pad
               <= i.clientWidth; }""")
    type_code(phone, table["ming_card"])
    current(phone, "王小明")  # asserts the result box stays hidden: the child's box is the answer
    phone.click("#mode-return")
    assert "不会借出" in phone.locator("#hint").inner_text()
    shot(phone, "scan-card-return-mode-390")


def test_menu_page_offline_shows_the_chinese_page_and_the_way_back(app, table, live_server, phone):
    scan_page(phone, live_server.url)
    controlled(phone)
    phone.wait_for_selector(".offline-cache-info:has-text('册图书')")
    phone.context.set_offline(True)
    phone.click(".menu summary")
    phone.locator(".menu nav a", has_text="首页").click()
    phone.wait_for_selector("h1:has-text('没有网络')")
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    back = phone.locator("a", has_text="回到扫码借还")
    assert back.is_visible()
    shot(phone, "offline-menu-page-390")
    phone.set_viewport_size({"width": 1280, "height": 800})
    shot(phone, "offline-menu-page-1280")
    phone.set_viewport_size({"width": 390, "height": 844})
    back.click()
    phone.wait_for_selector("#scan[data-ready='1']")
    phone.wait_for_selector("#offline-status [data-state=offline]")
    phone.context.set_offline(False)


def test_online_loans_are_not_listed_as_offline_records(app, table, live_server, phone):
    scan_page(phone, live_server.url)
    controlled(phone)
    type_code(phone, table["ming_card"])
    current(phone, "王小明")
    type_code(phone, table["books"][0].code)
    result(phone, "借出成功")
    phone.wait_for_timeout(500)
    assert phone.locator("#offline-status details").count() == 0
    assert "离线" not in phone.locator("#offline-status").inner_text().replace("离线资料", "")


def test_story_mothers_home_opens_the_camera_in_one_tap(app, table, live_server, launch, tmp_path):
    page = phone_with_camera(launch, make_y4m(table["ming_card"], tmp_path / "card.y4m"))
    login(page, live_server.url, "mama", PASSWORD)
    page.goto(live_server.url + "/home")
    main = page.locator("[data-testid=home-scan]")
    box = main.bounding_box()
    assert box is not None and box["y"] < 300 and box["height"] >= 44  # the first thing on her home page
    shot(page, "home-story-mother-390")
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "home-story-mother-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    main.click()
    page.wait_for_selector("#scan[data-ready='1']")
    current(page, "王小明", timeout=20000)  # the camera opened by itself and read the card
    assert page.locator("#camera").is_visible() and page.locator("#camera-open").is_hidden()
    shot(page, "scan-camera-card-390")
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "scan-camera-card-1280")
