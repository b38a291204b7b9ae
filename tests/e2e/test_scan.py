"""The scan screen in headless Chromium at 390 × 844: fake camera, photo, keyboard wedge, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from library_app.db import session_factory
from library_app.models import Loan, Point, user_points
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot


def y4m_sequence(codes: list[tuple[str, int]], path: Path, fps: int = 2, size: int = 260) -> Path:
    """A fake camera video showing each code for n frames in turn (Chromium loops it)."""
    import qrcode
    from PIL import Image

    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for text, frames in codes:
            img = qrcode.make(text, border=2).convert("RGB").resize((size, size), Image.NEAREST)
            frame = Image.new("RGB", (640, 480), "white")
            frame.paste(img, ((640 - size) // 2, (480 - size) // 2))
            y, cb, cr = frame.convert("YCbCr").split()
            raw = y.tobytes() + cb.resize((320, 240)).tobytes() + cr.resize((320, 240)).tobytes()
            for _ in range(frames):
                f.write(b"FRAME\n" + raw)
    return path


def photo_of(text: str, path: Path) -> Path:
    """A 'photo' of a label: a QR somewhere on a larger grey picture."""
    import qrcode
    from PIL import Image

    img = qrcode.make(text, border=3).convert("RGB").resize((420, 420), Image.NEAREST)
    picture = Image.new("RGB", (1600, 1200), (205, 200, 190))
    picture.paste(img, (520, 330))
    picture.save(path, "JPEG", quality=85)
    return path


@pytest.fixture
def world(app: Any, make: Any) -> dict[str, Any]:
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    books = [make.copy(make.title(t), point="P01") for t in ("猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄")]
    child = make.borrower("王小明", point="P01")
    return {"books": books, "child": child, "card": make.card_code(child)}


def open_loans(app: Any) -> list[tuple[int, int]]:
    with app.app_context(), session_factory()() as db:
        return [tuple(r) for r in db.execute(select(Loan.copy_id, Loan.borrower_id).where(Loan.returned_at.is_(None)))]


def scan_page(page: Any, url: str, user: str = "mama") -> None:
    login(page, url, user, PASSWORD)
    page.goto(url + "/scan")
    page.wait_for_selector("#scan[data-ready='1']")


def result(page: Any, text: str, timeout: int = 15000) -> str:
    page.wait_for_function(
        "t => (document.getElementById('result-title').textContent || '').includes(t)", arg=text, timeout=timeout)
    return page.locator("#result").inner_text()


def current(page: Any, name: str, timeout: int = 15000) -> str:
    """A card scanned: the child's own box is the answer (one box per scan, no result box)."""
    page.wait_for_function(
        """n => { const box = document.getElementById('current');
                  return !box.hidden && (document.getElementById('current-name').textContent || '').includes(n); }""",
        arg=name, timeout=timeout)
    assert page.locator("#result").is_hidden()
    return page.locator("#current").inner_text()


def type_code(page: Any, code: str) -> None:
    page.locator("input[name=code]").type(code)
    page.keyboard.press("Enter")


def test_keyboard_wedge_lends_then_return_mode_returns(app, world, live_server, phone):
    scan_page(phone, live_server.url)
    assert phone.evaluate("document.activeElement.name") == "code"
    screenshot(phone, "scan-empty-phone")
    type_code(phone, world["card"])
    assert "还可以借 3 本" in current(phone, "王小明")
    assert phone.evaluate("document.activeElement.name") == "code"  # the field keeps the focus
    type_code(phone, world["books"][0].code.lower())
    text = result(phone, "借出成功")
    assert "猜猜我有多爱你" in text and "应还日期" in text and "还有 14 天" in text
    assert open_loans(app) == [(world["books"][0].id, world["child"].id)]
    phone.wait_for_function("() => document.getElementById('current-loans').textContent.includes('猜猜我有多爱你')")
    screenshot(phone, "scan-lent-phone")
    phone.click("#mode-return")
    type_code(phone, world["books"][0].code)
    assert "已归还" in result(phone, "归还成功")
    assert open_loans(app) == []
    screenshot(phone, "scan-returned-phone")
    type_code(phone, "B0000019")
    assert "校验位" in result(phone, "编码不对")


def test_fake_camera_card_then_book_makes_a_loan(app, world, live_server, launch, tmp_path):
    book = world["books"][1]
    video = y4m_sequence([(f"http://lib.example.org/s/{world['card']}", 4), (book.code, 8)], tmp_path / "seq.y4m")
    browser = launch(video)
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    scan_page(page, live_server.url)
    page.click("#camera-open")
    page.wait_for_function("() => [...document.querySelectorAll('#history li')].some(li => li.textContent.includes('借出成功'))",
                           timeout=20000)
    assert page.evaluate("typeof window.BarcodeDetector") == "function"  # native, or the vendored polyfill
    assert open_loans(app) == [(book.id, world["child"].id)]
    assert "好饿的毛毛虫" in page.locator("#history").inner_text()
    screenshot(page, "scan-camera-phone")
    page.click("#camera-close")


def test_camera_is_turned_off_again_when_the_decoder_cannot_load(app, world, live_server, launch, tmp_path):
    """The phone granted the camera but the decoder did not load (a slow line cut off): the
    screen says so, and the camera (and its light) is off again, not left running unseen."""
    browser = launch(y4m_sequence([(world["card"], 1)], tmp_path / "card.y4m"))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.add_init_script("""
        const asked = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        window.__streams = [];
        navigator.mediaDevices.getUserMedia = async (c) => { const s = await asked(c); window.__streams.push(s); return s; };
        delete window.BarcodeDetector;  // as on a phone without its own: the polyfill is needed
    """)
    context.route("**/static/vendor/**", lambda route: route.abort())  # the polyfill and its wasm
    page = context.new_page()
    scan_page(page, live_server.url)
    page.click("#camera-open")
    assert "请允许这个网页使用摄像头" in result(page, "摄像头打不开")
    page.wait_for_function("() => window.__streams.length === 1")
    page.wait_for_function("() => window.__streams[0].getTracks().every(t => t.readyState === 'ended')")
    assert page.locator("#camera").is_hidden() and page.locator("#camera-open").is_visible()
    type_code(page, world["card"])  # the keyboard path still works
    assert "王小明" in current(page, "王小明")


def test_two_taps_on_the_camera_button_open_one_camera(app, world, live_server, launch, tmp_path):
    """A slow phone: the story mother taps 打开摄像头 again while it is still asking for the
    camera. One camera is opened, and closing it leaves none running."""
    browser = launch(y4m_sequence([(world["card"], 1)], tmp_path / "card.y4m"))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.add_init_script("""
        const asked = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        window.__streams = [];
        navigator.mediaDevices.getUserMedia = async (c) => {
          await new Promise((r) => setTimeout(r, 800));  // the phone asking slowly
          const s = await asked(c); window.__streams.push(s); return s; };
    """)
    page = context.new_page()
    scan_page(page, live_server.url)
    page.click("#camera-open")
    page.click("#camera-open")  # still there: the first tap is waiting for the camera
    current(page, "王小明", timeout=20000)
    assert page.evaluate("window.__streams.length") == 1
    page.click("#camera-close")
    page.wait_for_function("() => window.__streams.every(s => s.getTracks().every(t => t.readyState === 'ended'))")


def test_fake_camera_in_return_mode_returns(app, make, world, live_server, launch, tmp_path):
    book = world["books"][2]
    make.loan(book, world["child"])
    browser = launch(y4m_sequence([(book.code, 1)], tmp_path / "book.y4m"))
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    scan_page(page, live_server.url)
    page.click("#mode-return")
    page.click("#camera-open")
    assert "小蓝和小黄" in result(page, "归还成功", timeout=20000)
    assert open_loans(app) == []
    page.click("#camera-close")


def test_photo_path_completes_a_loan(app, world, live_server, phone, tmp_path):
    scan_page(phone, live_server.url)
    phone.set_input_files("#photo", str(photo_of(world["card"], tmp_path / "card.jpg")))
    current(phone, "王小明")
    phone.set_input_files("#photo", str(photo_of(f"http://10.0.0.5:5000/s/{world['books'][0].code}", tmp_path / "book.jpg")))
    result(phone, "借出成功")
    assert open_loans(app) == [(world["books"][0].id, world["child"].id)]
    # a photo with no code in it says so
    from PIL import Image

    Image.new("RGB", (800, 600), "white").save(tmp_path / "blank.jpg")
    phone.set_input_files("#photo", str(tmp_path / "blank.jpg"))
    assert "靠近一点" in result(phone, "没有找到二维码")


def test_story_mother_scanning_at_another_point_is_refused(app, make, world, live_server, phone):
    make.user("mama2", "story_mother", points=["P01", "P02"])
    scan_page(phone, live_server.url, "mama2")
    phone.select_option("#point", "P02")
    # the librarian takes P02 away from her while her screen is open
    with app.app_context(), session_factory()() as db:
        p02 = db.scalar(select(Point.id).where(Point.code == "P02"))
        db.execute(delete(user_points).where(user_points.c.point_id == p02))
        db.commit()
    type_code(phone, world["card"])
    current(phone, "王小明")
    type_code(phone, world["books"][0].code)
    text = result(phone, "不能借出")
    assert "P02" in text and "不是" in text
    assert phone.locator("#result").get_attribute("data-tone") == "bad"
    assert open_loans(app) == []
    screenshot(phone, "scan-not-your-point-phone")


def test_wechat_path_card_url_then_book_url_lends_in_one_tap_each(app, world, live_server, phone):
    """What 扫一扫 opens: /s/<card> → 设为当前小读者 → /s/<book> → 借给当前小读者."""
    if "borrowers.card_page" not in app.view_functions or "catalog.copy_page" not in app.view_functions:
        pytest.fail("the card and copy pages (borrowers, catalog) are needed for this path")
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + "/s/" + world["card"].lower())
    phone.click("[data-card-actions] button[type=submit]")
    phone.wait_for_selector("#scan[data-ready='1']")
    current(phone, "王小明")
    book = world["books"][0]
    phone.goto(live_server.url + "/s/" + book.code)
    assert "借给 王小明" in phone.locator("[data-copy-actions]").inner_text()
    screenshot(phone, "scan-copy-page-one-tap-phone")
    phone.click("[data-copy-actions] button[value], [data-copy-actions] form:first-of-type button")
    phone.wait_for_load_state()
    assert "已借给王小明" in phone.content()
    assert open_loans(app) == [(book.id, world["child"].id)]
