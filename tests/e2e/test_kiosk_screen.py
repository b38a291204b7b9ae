"""The self-service kiosk screen in headless Chromium: a tablet (1024×768) and a phone (390×844),
with a fake camera showing a child's card and a keyboard-wedge scanner for the books."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Loan
from tests.e2e.conftest import make_y4m, screenshot, self_service_corner

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    # The idle test waits 2 s instead of a minute; the others keep the turn open.
    return {"KIOSK_IDLE_SECONDS": 2 if "idle" in request.node.name else 60}


@pytest.fixture
def corner(app: Any, make: Any, client: Any) -> dict[str, Any]:
    return self_service_corner(app, make, client)


def shot(page: Any, name: str) -> None:
    screenshot(page, f"kiosk-{name}", full_page=False)


def open_kiosk(browser: Any, url: str, code: str, viewport: dict[str, int]) -> Any:
    page = browser.new_context(viewport=viewport, locale="zh-CN", has_touch=True).new_page()
    page.goto(url + "/kiosk")
    page.wait_for_selector("#enrol:not([hidden])")
    page.fill("#enrol-code", code)
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("#welcome:not([hidden])", timeout=15000)
    return page


def scan(page: Any, code: str) -> None:
    page.evaluate("document.getElementById('code').focus()")
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def message(page: Any, text: str, timeout: int = 15000) -> None:
    page.wait_for_function(
        "t => !document.getElementById('message').hidden && document.getElementById('message').textContent.includes(t)",
        arg=text, timeout=timeout)


def open_loans(app: Any) -> list[int]:
    with app.app_context(), session_factory()() as db:
        return sorted(r[0] for r in db.execute(select(Loan.copy_id).where(Loan.returned_at.is_(None))))


@pytest.mark.parametrize("viewport", [TABLET, PHONE], ids=["tablet", "phone"])
def test_a_child_borrows_two_books_undoes_one_and_finishes(app, corner, live_server, launch, tmp_path, viewport):
    size = "tablet" if viewport is TABLET else "phone"
    video = make_y4m(corner["card"], tmp_path / "card.y4m")
    browser = launch(video)
    page = open_kiosk(browser, live_server.url, corner["kiosk"]["enrol_code"], viewport)
    shot(page, f"{size}-1-welcome")
    # the camera opens by itself and sees her card
    page.wait_for_selector("#turn:not([hidden])", timeout=20000)
    assert page.locator("#hello").inner_text() == "你好，娜娜"
    assert "欧阳" not in page.content()
    assert "还可以借 3 本" in page.locator("#can-borrow").inner_text()
    a, b = corner["books"][0], corner["books"][1]
    scan(page, a.code)
    message(page, "猜猜我有多爱你")
    scan(page, b.code)
    message(page, "好饿的毛毛虫")
    assert page.locator("#books li").count() == 2
    assert "还可以借 1 本" in page.locator("#can-borrow").inner_text()
    shot(page, f"{size}-2-two-books")
    assert open_loans(app) == sorted([a.id, b.id])
    page.click("#undo")
    message(page, "不借了")
    assert open_loans(app) == [a.id]
    assert page.locator("#books li").count() == 1 and "猜猜我有多爱你" in page.locator("#books").inner_text()
    assert "还可以借 2 本" in page.locator("#can-borrow").inner_text()
    shot(page, f"{size}-3-undone")
    page.click("#done")
    page.wait_for_selector("#welcome:not([hidden])")
    assert page.locator("#hello").inner_text() == ""


def test_the_idle_timeout_clears_her_name(app, corner, live_server, browser):
    page = open_kiosk(browser, live_server.url, corner["kiosk"]["enrol_code"], TABLET)
    scan(page, corner["card"])
    page.wait_for_selector("#turn:not([hidden])", timeout=15000)
    assert "娜娜" in page.locator("#hello").inner_text()
    page.wait_for_selector("#welcome:not([hidden])", timeout=10000)  # 2 s without a scan
    assert "娜娜" not in page.locator("body").inner_text()


def test_a_book_scanned_with_no_card_is_returned(app, corner, make, live_server, browser):
    book = corner["books"][2]
    make.loan(book, corner["child"])
    page = open_kiosk(browser, live_server.url, corner["kiosk"]["enrol_code"], PHONE)
    scan(page, book.code)
    message(page, "还书成功")
    assert "请放进还书箱" in page.locator("#message").inner_text()
    assert open_loans(app) == []
    shot(page, "phone-4-returned")


def test_a_revoked_kiosk_is_signed_out(app, corner, live_server, browser):
    page = open_kiosk(browser, live_server.url, corner["kiosk"]["enrol_code"], TABLET)
    r = corner["client"].delete(f"/api/v1/kiosks/{corner['kiosk']['id']}", headers=corner["staff"])
    assert r.status_code == 204
    scan(page, corner["card"])
    page.wait_for_selector("#enrol:not([hidden])", timeout=15000)
    assert "停用" in page.locator("#enrol-note").inner_text()
    assert page.evaluate("localStorage.getItem('kiosk-token')") is None
    page.reload()
    page.wait_for_selector("#enrol:not([hidden])")  # stays signed out
    shot(page, "tablet-5-revoked")


def test_a_return_offline_is_kept_and_sent_when_the_network_is_back(app, corner, make, live_server, browser):
    book = corner["books"][2]
    make.loan(book, corner["child"])
    page = open_kiosk(browser, live_server.url, corner["kiosk"]["enrol_code"], TABLET)
    page.context.set_offline(True)
    scan(page, book.code)
    message(page, "还书成功")
    page.wait_for_selector("#net:not([hidden])")
    assert open_loans(app) == [book.id]  # kept on the tablet
    page.context.set_offline(False)
    page.wait_for_function("() => document.getElementById('net').hidden", timeout=20000)
    for _ in range(50):
        if open_loans(app) == []:
            break
        page.wait_for_timeout(200)
    assert open_loans(app) == []
