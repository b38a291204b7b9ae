"""A child's turn at the kiosk with no network (issue 17, "works offline like the scan screen"):
the tablet loads its point's cache online, the network goes, she scans her card (keyboard-wedge
scanner) and borrows a book, takes one back with undo, finishes; back online the outbox sends
the loan, and it is in the database exactly once. Screenshots at 1024×768 and 390×844."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.domain.codes import make_code
from library_app.models import CirculationEvent, Loan
from tests.e2e.conftest import screenshot, self_service_corner

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}

CACHED = """async () => {
  const db = await new Promise((ok, no) => { const r = indexedDB.open("kiosk-offline-cache", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("snapshot"); r.onsuccess = () => ok(r.result); r.onerror = no; });
  const snap = await new Promise((ok) => { const r = db.transaction("snapshot").objectStore("snapshot").get("current");
    r.onsuccess = () => ok(r.result || null); r.onerror = () => ok(null); });
  db.close();
  return snap && { cards: snap.cards, copies: snap.copies.length };
}"""

KEPT = """async () => {
  const out = [];
  for (const name of await caches.keys()) {
    for (const r of await (await caches.open(name)).keys()) out.push(name + " " + new URL(r.url).pathname);
  }
  return out;
}"""

PENDING = """async () => {
  const db = await new Promise((ok, no) => { const r = indexedDB.open("library-outbox"); r.onsuccess = () => ok(r.result); r.onerror = no; });
  const all = await new Promise((ok) => { const r = db.transaction("events").objectStore("events").getAll(); r.onsuccess = () => ok(r.result); });
  db.close();
  return all.filter((x) => x.state === "pending").map((x) => x.event);
}"""


@pytest.fixture
def corner(app: Any, make: Any, client: Any) -> dict[str, Any]:
    world = self_service_corner(app, make, client)
    make.loan(world["books"][2], world["child"])  # one book at home already
    return world


def until(page: Any, script: str, ok: Any, tries: int = 100) -> Any:
    """Polls an async script in the page until ``ok(value)`` (IndexedDB answers asynchronously)."""
    for _ in range(tries):
        value = page.evaluate(script)
        if ok(value):
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"never true: {value!r}")


def scan(page: Any, code: str) -> None:
    page.evaluate("document.getElementById('code').focus()")
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def message(page: Any, text: str) -> None:
    page.wait_for_function(
        "t => !document.getElementById('message').hidden && document.getElementById('message').textContent.includes(t)",
        arg=text, timeout=15000)


def kiosk_loans(app: Any) -> list[tuple[int, str]]:
    with app.app_context(), session_factory()() as db:
        return [(r.copy_id, r.channel) for r in db.execute(
            select(Loan.copy_id, Loan.channel).where(Loan.returned_at.is_(None)).order_by(Loan.copy_id))]


@pytest.mark.parametrize("viewport", [TABLET, PHONE], ids=["tablet", "phone"])
def test_a_child_borrows_offline_and_the_loan_arrives_once(app, corner, live_server, browser, viewport):
    size = "tablet" if viewport is TABLET else "phone"
    context = browser.new_context(viewport=viewport, locale="zh-CN", has_touch=True)
    page = context.new_page()
    page.goto(live_server.url + "/kiosk")
    page.wait_for_selector("#enrol:not([hidden])")
    page.fill("#enrol-code", corner["code"])
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("#welcome:not([hidden])", timeout=15000)
    cached = until(page, CACHED, bool)  # the point's cache, loaded online
    assert cached["cards"] == [{"code": corner["card"], "name": "娜娜", "open_loans": 1, "blocked": False}]
    assert cached["copies"] == 3
    # the service worker keeps the kiosk's page and its files, the camera's decoder too, so the
    # tablet opens it with no network. It keeps them one by one in the page's order (the wasm,
    # a megabyte, last): wait for all of them, not for the first few.
    needed = ("/static/js/kiosk-cache.js", "/static/js/idb-store.js",
              "/static/vendor/barcode-detector/barcode-detector-polyfill.iife.js",
              "/static/vendor/zxing-wasm/zxing_reader.wasm")
    until(page, KEPT, lambda k: "pages /kiosk" in k and all(any(x.endswith(" " + n) for x in k) for n in needed))

    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#welcome:not([hidden])", timeout=15000)
    page.wait_for_function("window.kioskReady === true")
    unknown = make_code("card", 99999)
    scan(page, unknown)
    message(page, "认不出这张卡")
    assert "请找老师" in page.locator("#message").inner_text()
    page.wait_for_timeout(300)
    scan(page, corner["card"])
    page.wait_for_selector("#turn:not([hidden])", timeout=15000)
    assert page.locator("#hello").inner_text() == "你好，娜娜"
    assert "欧阳" not in page.content()
    assert "还可以借 2 本" in page.locator("#can-borrow").inner_text()
    assert "家里还有 1 本书没还" in page.locator("#books-out").inner_text()
    screenshot(page, f"kiosk-offline-{size}-1-turn", full_page=False)

    a, b, _ = corner["books"]
    scan(page, a.code)
    message(page, "已记在这台机器上，联网后上传")
    assert "借好了" in page.locator("#message-title").inner_text()
    assert "猜猜我有多爱你" in page.locator("#books").inner_text()
    assert "还可以借 1 本" in page.locator("#can-borrow").inner_text()
    screenshot(page, f"kiosk-offline-{size}-2-lent", full_page=False)
    page.wait_for_timeout(300)
    scan(page, b.code)  # a second book, then taken back: out of the outbox before it is sent
    message(page, "已记在这台机器上")
    page.click("#undo")
    message(page, "不借了")
    assert "好饿的毛毛虫" not in page.locator("#books").inner_text()
    screenshot(page, f"kiosk-offline-{size}-3-undone", full_page=False)
    pending = page.evaluate(PENDING)
    assert [(e["type"], e["copy"], e["card"], e.get("offline")) for e in pending] == [("loan", a.code, corner["card"], True)]
    page.click("#done")
    page.wait_for_selector("#welcome:not([hidden])")
    assert page.locator("#hello").inner_text() == ""
    assert kiosk_loans(app) == [(corner["books"][2].id, "staff")]  # nothing sent yet

    context.set_offline(False)
    until(page, PENDING, lambda p: p == [])
    for _ in range(50):
        if len(kiosk_loans(app)) == 2:
            break
        page.wait_for_timeout(200)
    assert kiosk_loans(app) == sorted([(corner["books"][2].id, "staff"), (a.id, "kiosk")])
    with app.app_context(), session_factory()() as db:
        events = db.execute(select(CirculationEvent.event_id, CirculationEvent.status)
                            .where(CirculationEvent.kiosk_id.is_not(None))).all()
    assert [e.status for e in events] == ["applied"] and events[0].event_id == pending[0]["id"]
    # the undone book never reached the server
    assert all(c != b.id for c, _ in kiosk_loans(app))
    context.close()
