"""Invitations in headless Chromium: a point lead makes a link on /invites (QR and copy button),
the new story mother opens it in a fresh phone browser (WeChat's user agent, 390 × 844), chooses
her login name and password, lands signed in on the scan screen and lends a book at her point."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Loan, User
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot
from tests.e2e.test_scan import result, type_code
from tests.e2e.test_tap_targets import MEASURE

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 12; V2055A Build/SP1A.210812.003; wv) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160083 "
             "MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin NetType/4G "
             "Language/zh_CN ABI/arm64")
NEW_PASSWORD = "river-kite-lantern-7"
def shot(page: Any, name: str) -> None:
    screenshot(page, name)


@pytest.fixture
def world(app: Any, make: Any) -> dict[str, Any]:
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("lead", "point_lead", points=["P01"])
    book = make.copy(make.title("好饿的毛毛虫"), point="P01")
    child = make.borrower("王小明", point="P01")
    return {"book": book, "child": child, "card": make.card_code(child)}


def qr_text(data_uri: str) -> str:
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))
    [found] = zxingcpp.read_barcodes(image)
    return found.text


def make_invitation(page: Any, base: str, name: str) -> str:
    page.goto(base + "/invites")
    options = page.locator("select[name=role] option").all_inner_texts()
    assert options == ["故事妈妈"]  # a point lead invites story mothers only
    assert page.locator("input[name=points]").count() == 1  # her own point only
    assert page.locator("input[name=points][value=P01]").is_checked()  # her one point, ticked
    page.click("button:has-text('生成邀请链接和二维码')")
    page.wait_for_selector("#invite-created")
    url = page.locator("[data-invite-url]").input_value()
    assert url.startswith(base + "/join/")
    assert qr_text(page.locator("img.invite-qr").get_attribute("src")) == url  # the QR holds the full link
    page.click("button[data-copy-target]")
    page.wait_for_function("() => /已复制|已选中/.test(document.querySelector('[data-copy-target]').textContent)")
    shot(page, name)
    return url


def test_a_point_lead_invites_a_story_mother_who_joins_on_her_phone_and_lends(app, world, live_server, browser):
    base = live_server.url
    desk = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    login(desk, base, "lead", PASSWORD)
    url = make_invitation(desk, base, "invites-page-desktop")

    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2,
                                        is_mobile=True, has_touch=True, user_agent=WECHAT_UA)
    phone = phone_context.new_page()
    phone.goto(url)
    assert "阅读点负责人" not in phone.locator("h1").inner_text()
    assert "故事妈妈" in phone.locator(".join-who").inner_text()
    assert "三灶镇故事会点" in phone.locator(".join-who").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways on a phone
    assert phone.evaluate(MEASURE, "main") == []
    shot(phone, "invites-join-phone")
    phone.fill("input[name=username]", "wangli")
    phone.fill("input[name=display_name]", "王丽")
    phone.fill("input[name=password]", NEW_PASSWORD)
    phone.fill("input[name=confirm]", NEW_PASSWORD + "x")
    phone.click("button[type=submit]")
    assert "两次输入的密码不一样" in phone.locator(".error").inner_text()
    shot(phone, "invites-join-phone-error")
    phone.fill("input[name=password]", NEW_PASSWORD)
    phone.fill("input[name=confirm]", NEW_PASSWORD)
    phone.click("button[type=submit]")
    phone.wait_for_url(base + "/scan")
    phone.wait_for_selector("#scan[data-ready='1']")
    assert "欢迎，王丽" in phone.locator(".flashes").inner_text()
    assert "王丽 · 故事妈妈" in phone.locator(".topbar").text_content()
    type_code(phone, world["card"])
    phone.wait_for_function("() => (document.getElementById('current-name').textContent || '').includes('王小明')")
    type_code(phone, world["book"].code)
    assert "好饿的毛毛虫" in result(phone, "借出成功")
    with app.app_context(), session_factory()() as db:
        [(lent_by, point)] = db.execute(select(User.username, Loan.point_id).join(User, User.id == Loan.lent_by_id)).all()
    assert lent_by == "wangli"

    # the same link again, in yet another browser: a friendly page, 410
    again = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", user_agent=WECHAT_UA).new_page()
    response = again.goto(url)
    assert response.status == 410
    assert "用过" in again.locator("main").inner_text()
    shot(again, "invites-gone-phone")

    # the lead's list says who used it and when
    desk.goto(base + "/invites")
    row = desk.locator("#invites tbody tr").first
    assert "已使用" in row.inner_text() and "王丽" in row.inner_text()
    shot(desk, "invites-list-desktop")
    phone_context.close()


def test_the_pages_at_the_other_size(app, world, live_server, browser):
    """The invitations page on a phone and the join page on a desktop, for people to look at."""
    base = live_server.url
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2,
                                is_mobile=True, has_touch=True).new_page()
    login(phone, base, "lead", PASSWORD)
    url = make_invitation(phone, base, "invites-page-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.evaluate(MEASURE, "main") == []  # every button and checkbox a thumb's size
    desk = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    desk.goto(url)
    assert desk.locator("input[name=username]").is_visible()
    shot(desk, "invites-join-desktop")


def test_an_admin_invites_a_librarian_and_the_points_step_away(app, world, make, live_server, desktop):
    make.user("boss", "admin")
    login(desktop, live_server.url, "boss", PASSWORD)
    desktop.goto(live_server.url + "/invites")
    assert desktop.locator("select[name=role] option").all_inner_texts() == ["图书管理员", "阅读点负责人", "故事妈妈", "查看者"]
    assert desktop.locator("input[name=points]").count() == 2  # every active point
    assert desktop.locator("[data-invite-points]").is_visible()
    desktop.select_option("select[name=role]", "librarian")
    assert desktop.locator("[data-invite-points]").is_hidden()  # a librarian works at every point
    desktop.click("button:has-text('生成邀请链接和二维码')")
    assert "图书管理员" in desktop.locator("#invite-created h2").inner_text()
    assert "P01" not in desktop.locator("#invite-created h2").inner_text()
