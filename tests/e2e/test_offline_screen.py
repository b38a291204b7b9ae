"""The installable scan screen offline: the service worker, the offline status bar, the offline
cache and its wipe at logout, in headless Chromium at 390 × 844.

The scan page itself belongs to the circulation area; until it exists, these tests serve a
stand-in /scan holding what the offline part needs (the status element and offline.js), so the
worker, the cache and the status bar are tested either way.
"""

from __future__ import annotations

from typing import Any

import pytest

from library_app.access import CIRCULATION, roles
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot
from tests.e2e.test_offline_outbox import (
    EVENTS,
    LIST,
    PENDING,
    SEND,
    FakeEvents,
    event,
    wait_pending,
)

STAND_IN = """{% extends "base.html" %}{% block content %}<h1>扫码借还</h1>
<div id="offline-status"></div><input name="code" autofocus>{% endblock %}
{% block scripts %}<script type="module" src="{{ url_for('static', filename='js/offline.js') }}"></script>{% endblock %}"""

CACHE_URLS = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    out[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
  }
  return out;
}"""
CACHE_INFO = "async () => (await import('/static/js/offline-cache.js')).cacheInfo()"
LOOKUP = """async ([kind, code]) => {
  const m = await import('/static/js/offline-cache.js');
  return kind === 'copy' ? m.lookupCopy(code) : m.lookupCard(code);
}"""


@pytest.fixture
def scan_screen(app: Any) -> str:
    """The scan page's path, with a stand-in while the circulation area has none."""
    if "circulation.scan" not in app.view_functions:
        from flask import render_template_string

        @roles(*CIRCULATION)
        def stand_in():  # type: ignore[no-untyped-def]
            return render_template_string(STAND_IN)

        app.add_url_rule("/scan", "circulation.scan", stand_in)
    return "/scan"


@pytest.fixture
def world(app: Any, make: Any) -> dict[str, Any]:
    make.point("P01", "三灶镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    books = [make.copy(make.title(t), point="P01") for t in ("猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄")]
    child = make.borrower("王小明", point="P01")
    return {"books": books, "card": make.card_code(child)}


def controlled(page: Any) -> None:
    """Until the service worker is installed (pages and files kept) and controls the page."""
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    for _ in range(100):
        if page.evaluate("!!navigator.serviceWorker.controller"):
            return
        page.wait_for_timeout(50)
    raise AssertionError("the service worker never took control of the page")


def status_text(page: Any) -> str:
    return page.locator("#offline-status").inner_text()


def test_scan_screen_opens_with_no_network_after_one_visit(world, scan_screen, live_server, phone):
    fake = FakeEvents()
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + scan_screen)
    controlled(phone)
    kept = phone.evaluate(CACHE_URLS)
    assert kept["pages"] == [scan_screen]
    shell = next(urls for name, urls in kept.items() if name.startswith("shell-"))
    for needed in ("/static/css/app.css", "/static/js/offline.js", "/static/js/outbox.js",
                   "/static/js/offline-cache.js", "/static/js/idb-store.js", "/static/js/offline-boot.js",
                   "/manifest.webmanifest",
                   "/static/img/icon-192.png"):
        assert needed in shell, needed
    assert not [u for urls in kept.values() for u in urls if u.startswith("/api/")]
    # The camera's decoder is kept after this first load, so the first camera open on a slow
    # line does not wait for it (issue 15).
    for needed in ("/static/vendor/zxing-wasm/zxing_reader.wasm", "/static/vendor/barcode-detector/barcode-detector-polyfill.iife.js"):
        assert needed in shell, needed
    phone.wait_for_selector(".offline-cache-info:has-text('3 册图书')")

    phone.context.set_offline(True)
    phone.reload()
    assert phone.locator("h1").inner_text() == "扫码借还"
    phone.wait_for_selector("[data-state=offline]")
    assert "离线模式" in status_text(phone)
    books, card = world["books"], world["card"]
    phone.evaluate(SEND, [event("loan", books[0].code, card), event("loan", books[1].code, card)])
    phone.wait_for_selector("[data-pending='2']")
    phone.click("#offline-status summary")  # the list of what waits, closed not to push the scanner down
    text = status_text(phone)
    assert "2 条记录等待上传" in text
    assert "借出《猜猜我有多爱你》 → 王*明" in text  # from the offline cache: masked name only
    assert "王小明" not in phone.content()
    screenshot(phone, "offline-scan-two-waiting")

    phone.reload()  # still offline: the screen loads, the two records still wait
    phone.wait_for_selector("[data-pending='2']")
    assert "离线模式" in status_text(phone)

    phone.context.set_offline(False)  # back online: they go by themselves
    wait_pending(phone, 0)
    phone.wait_for_selector("#offline-status summary:has-text('已上传 2')")
    assert len(fake.applied) == 2
    assert phone.locator("#offline-status li[data-status=applied]").count() == 2
    screenshot(phone, "offline-scan-synced")


def test_first_visit_offline_says_so_in_chinese(world, scan_screen, live_server, phone):
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + "/home")
    controlled_home = phone.evaluate(
        "async () => { await navigator.serviceWorker.register('/sw.js', {scope: '/'}); "
        "await navigator.serviceWorker.ready; return true; }")
    assert controlled_home
    phone.evaluate("async () => caches.delete('pages')")
    phone.context.set_offline(True)
    response = phone.goto(live_server.url + scan_screen)
    assert response.status == 503
    assert "没有网络" in phone.locator("h1").inner_text()
    assert "联网后会自动上传" in phone.content()


def test_logout_wipes_the_cache_and_the_kept_page_but_not_waiting_events(world, scan_screen, live_server, phone):
    fake = FakeEvents()
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + scan_screen)
    controlled(phone)
    answered = event("loan", world["books"][0].code, world["card"])
    assert phone.evaluate(SEND, [answered])[0]["status"] == "applied"
    fake.plan = ["500"] * 50  # now the server is down: the next events stay on the phone
    phone.wait_for_selector(".offline-cache-info:has-text('3 册图书')")
    book = world["books"][2]
    assert phone.evaluate(LOOKUP, ["copy", book.code])["title"] == "小蓝和小黄"
    assert phone.evaluate(LOOKUP, ["card", world["card"]])["name"] == "王*明"
    phone.context.set_offline(True)
    phone.evaluate(SEND, [event("loan", book.code, world["card"])])
    # Lent offline: the cache knows the book is out now, on that card.
    assert phone.evaluate(LOOKUP, ["copy", book.code])["card"] == world["card"]
    phone.context.set_offline(False)

    phone.click("summary")  # the phone menu, then 退出登录
    phone.locator("details.menu").get_by_role("button", name="退出登录").click()
    phone.wait_for_url("**/login")
    assert phone.evaluate(CACHE_INFO) is None
    assert phone.evaluate(LOOKUP, ["copy", book.code]) is None
    assert phone.evaluate(CACHE_URLS).get("pages", []) == []
    assert phone.evaluate(PENDING) == 1  # the loan she recorded is still on the phone
    assert [r["state"] for r in phone.evaluate(LIST)] == ["pending"]  # answers received are gone

    fake.plan = []
    login(phone, live_server.url, "mama", PASSWORD)  # signed in again: it goes
    wait_pending(phone, 0)
    assert len(fake.applied) == 2


def test_the_kept_page_is_not_shown_to_someone_signed_out(world, scan_screen, live_server, phone):
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + scan_screen)
    controlled(phone)
    phone.context.clear_cookies()  # her session ends (no logout click)
    phone.goto(live_server.url + scan_screen)  # online: the server sends her to the login page
    assert "/login" in phone.url
    assert phone.evaluate(CACHE_URLS).get("pages", []) == []


def test_the_kept_page_brings_back_neither_an_old_child_nor_an_old_server_clock(world, scan_screen, live_server, phone):
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + scan_screen)
    controlled(phone)
    phone.goto(f"{live_server.url}{scan_screen}?card={world['card']}")  # from a card's page: kept
    phone.wait_for_selector("#current-name:has-text('王小明')")
    phone.click("#next-child")  # she is done with this child
    phone.wait_for_selector("#current", state="hidden")
    phone.context.set_offline(True)
    phone.goto(live_server.url + scan_screen)  # the kept copy, made while that child was current
    phone.wait_for_selector("#scan[data-ready='1']")
    phone.wait_for_selector("[data-state=offline]")
    assert phone.locator("#current").is_hidden()  # nobody is current: the old child stays gone
    assert phone.locator("#clock-warning").is_hidden()  # the kept page's old server time is not used
