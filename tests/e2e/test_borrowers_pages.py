"""Borrower pages in Chromium: a story mother registers a child on a phone, the child's page,
the list, and a blank card bound at its first scan."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot


def _no_csp_errors(page):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_story_mother_registers_a_child_on_her_phone(app, make, live_server, phone):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "南水镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    errors = _no_csp_errors(phone)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + "/borrowers/new")
    assert phone.locator("h1").inner_text() == "登记小读者"
    # one point: no choice to make, and nothing wider than the phone
    assert phone.locator("select[name=point]").count() == 0
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "borrower-register-phone")
    phone.fill("input[name=name]", "王小明")
    phone.fill("input[name=birth_year]", "2017")
    phone.fill("input[name=guardian_name]", "王大明")
    phone.fill("input[name=guardian_phone]", "13812345678")
    phone.click("main button[type=submit]")
    # the form comes back from the server: wait for the new page, not the one being left
    expect(phone.locator("main")).to_contain_text("需要监护人同意")
    screenshot(phone, "borrower-register-no-consent-phone")
    phone.check("input[name=consent]")
    phone.click("main button[type=submit]")
    expect(phone).to_have_url(re.compile(r"/cards/C"))
    assert phone.locator("h1.who-name").inner_text() == "王小明"
    assert "已登记 王小明" in phone.content()
    screenshot(phone, "borrower-card-page-phone")
    phone.click("text=查看详情")
    assert "138****5678" in phone.content() and "13812345678" not in phone.content()
    screenshot(phone, "borrower-detail-story-mother-phone")
    phone.goto(live_server.url + "/borrowers/?q=wxm")
    assert phone.locator("table.borrowers tbody tr").count() == 1
    screenshot(phone, "borrowers-list-phone")
    assert errors == []


def test_librarian_sees_a_childs_page_with_loans_on_desktop(app, make, live_server, desktop):
    make.point("P01", "三灶镇故事会点")
    child = make.borrower("李小花", guardian_name="李大姐", guardian_phone="13912345678")
    now = datetime.now(UTC)
    make.loan(make.copy(make.title("好饿的毛毛虫")), child, lent_at=now - timedelta(days=20))
    make.loan(make.copy(make.title("猜猜我有多爱你")), child, lent_at=now - timedelta(days=2))
    for i, title in enumerate(["小王子", "爷爷一定有办法", "大卫，不可以"]):
        make.loan(make.copy(make.title(title)), child, lent_at=now - timedelta(days=40 + i),
                  returned_at=now - timedelta(days=30 + i))
    make.user("lib", "librarian")
    errors = _no_csp_errors(desktop)
    login(desktop, live_server.url, "lib", PASSWORD)
    desktop.goto(live_server.url + f"/borrowers/{child.id}")
    text = desktop.locator("main").inner_text()
    assert "在借 2 本" in text and "逾期 1 本" in text and "13912345678" in text
    screenshot(desktop, "borrower-detail-librarian-desktop")
    desktop.goto(live_server.url + "/borrowers/")
    screenshot(desktop, "borrowers-list-desktop")
    desktop.goto(live_server.url + "/cards/")
    screenshot(desktop, "cards-print-desktop")
    # a new card: the confirmation is a script (no inline JS); accept it
    desktop.once("dialog", lambda d: d.accept())
    desktop.goto(live_server.url + f"/borrowers/{child.id}")
    old = desktop.locator(".facts dd strong").first.inner_text()
    desktop.click("text=挂失 / 补办新证")
    desktop.wait_for_load_state()
    assert f"旧证 {old} 已作废" in desktop.content()
    assert errors == []


def test_a_blank_card_is_bound_at_its_first_scan(app, make, live_server, phone):
    make.point("P01", "三灶镇故事会点")
    make.borrower("陈大文", point="P01")
    blank = make.unbound_card()
    make.user("mama", "story_mother", points=["P01"])
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + f"/s/{blank.code}")
    assert "空白借阅证" in phone.locator("h1").inner_text()
    phone.fill("input[name=q]", "chen")
    phone.press("input[name=q]", "Enter")
    phone.wait_for_load_state()
    screenshot(phone, "card-unbound-phone")
    phone.click(".bind-list button[type=submit]")
    phone.wait_for_load_state()
    assert phone.locator("h1.who-name").inner_text() == "陈大文"
    assert f"借阅证 {blank.code} 已绑定给 陈大文" in phone.content()
