"""Catalog in a real browser: every QR on a copy page and on label sheets (on screen and printed
to PDF) decodes with zxing-cpp to exactly the expected code or URL; the printed sheet has the
right millimetres; the ISBN field fills from a camera or a photo of an EAN-13 barcode; scanning
copies one after another on the transfer page; screenshots of the pages at phone and desktop size."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.builders import PASSWORD
from tests.e2e.conftest import ARTIFACTS, login, screenshot
from tests.integration.test_catalog_api import set_base_url

BASE = "http://192.168.1.20:5000"
ISBN = "9787533241780"


def decode(png: bytes | Image.Image) -> list[zxingcpp.Barcode]:
    img = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    return [b for b in zxingcpp.read_barcodes(img.convert("L")) if b.format == zxingcpp.BarcodeFormat.QRCode]


def csp_watch(page):
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def test_copy_page_qr_decodes_to_the_scan_url(app, make, live_server, phone):
    set_base_url(app, BASE)
    make.point("P01", "三灶镇故事会点")
    make.user("lib", "librarian")
    copy = make.copy(make.title("猜猜我有多爱你"))
    csp = csp_watch(phone)
    login(phone, live_server.url, "lib", PASSWORD)
    phone.goto(f"{live_server.url}/s/{copy.code}")
    assert phone.url.endswith(f"/copies/{copy.code}")
    expect(phone.locator("#copy-qr")).to_have_js_property("complete", True)
    assert [b.text for b in decode(phone.screenshot(full_page=True))] == [f"{BASE}/s/{copy.code}"]
    screenshot(phone, "catalog-copy-phone")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert csp == []


def test_story_mother_copy_page_qr_is_the_bare_code_without_base_url(app, make, live_server, desktop):
    make.point("P01")
    make.user("mama", "story_mother", points=["P01"])
    copy = make.copy(make.title("好饿的毛毛虫"))
    login(desktop, live_server.url, "mama", PASSWORD)
    desktop.goto(f"{live_server.url}/copies/{copy.code}")
    expect(desktop.locator("#copy-qr")).to_have_js_property("complete", True)
    assert [b.text for b in decode(desktop.screenshot(full_page=True))] == [copy.code]
    assert desktop.locator("[data-action]").count() == 0  # no catalog actions for her
    screenshot(desktop, "catalog-copy-story-mother-desktop")


def _pdf_pages(pdf: bytes, name: str, dpi: int = 150) -> list[Image.Image]:
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (poppler-utils) is needed to look at the printed sheets"
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.pdf"
    path.write_bytes(pdf)
    prefix = ARTIFACTS / name
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run([pdftoppm, "-r", str(dpi), "-png", str(path), str(prefix)], check=True)
    return [Image.open(p) for p in sorted(ARTIFACTS.glob(f"{name}-*.png"))]


def _centre_mm(b: zxingcpp.Barcode, dpi: int) -> tuple[float, float]:
    p = b.position
    xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
    ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
    to_mm = 25.4 / dpi
    return sum(xs) / 4 * to_mm, sum(ys) / 4 * to_mm


@pytest.mark.parametrize("layout, cols, rows, pitch, first_centre", [
    # first QR centre: left margin + label padding + half the QR; top margin + half the label
    ("3x8", 3, 8, (70.0, 37.0), (0 + 2 + 16, 0.5 + 18.5)),
    ("4x10", 4, 10, (48.5, 25.4), (8 + 1 + 11.5, 21.5 + 12.7)),
])
def test_label_sheet_qrs_decode_on_screen_and_printed(app, make, live_server, browser, layout, cols,
                                                       rows, pitch, first_centre):
    set_base_url(app, BASE)
    make.point("P01", "三灶镇故事会点")
    make.user("lib", "librarian")
    per = cols * rows
    title = make.title("猜猜我有多爱你")
    copies = [make.copy(title) for _ in range(per + 5)]  # a second sheet too
    start = 3
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    csp = csp_watch(page)
    login(page, live_server.url, "lib", PASSWORD)
    page.goto(f"{live_server.url}/labels/sheet?mode=title&title={title.id}&layout={layout}&start={start}")
    sheets = page.locator("section.sheet")
    assert sheets.count() == 2
    expected = [f"{BASE}/s/{c.code}" for c in sorted(copies, key=lambda c: c.code)]
    on_screen: list[str] = []
    for i in range(2):
        found = decode(sheets.nth(i).screenshot())
        on_screen += [b.text for b in found]
    assert sorted(on_screen) == sorted(expected)
    if layout == "3x8":
        screenshot(page, "catalog-label-sheet-desktop")

    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    dpi = 150
    images = _pdf_pages(pdf, f"catalog-labels-{layout}", dpi)
    assert len(images) == 2  # one A4 page per sheet, no blank page after the last
    for img in images:
        w_mm, h_mm = img.width * 25.4 / dpi, img.height * 25.4 / dpi
        assert abs(w_mm - 210) < 1 and abs(h_mm - 297) < 1
    printed = [decode(img) for img in images]
    assert sorted(b.text for page_codes in printed for b in page_codes) == sorted(expected)

    # Where the labels sit on paper: the first sheet starts at position 3 (two used labels skipped)
    by_code = {b.text: _centre_mm(b, dpi) for b in printed[0]}
    first = by_code[expected[0]]                      # position 3 (index 2)
    col, row = (start - 1) % cols, (start - 1) // cols
    assert abs(first[0] - (first_centre[0] + col * pitch[0])) < 0.8, first
    assert abs(first[1] - (first_centre[1] + row * pitch[1])) < 0.8, first
    # Pitch between neighbours, across a row and down a column
    a = by_code[expected[cols - start + 1]]           # the first label of the second row
    b = by_code[expected[cols - start + 2]]           # its right-hand neighbour
    below = by_code[expected[cols - start + 1 + cols]]
    assert abs((b[0] - a[0]) - pitch[0]) < 0.5 and abs(b[1] - a[1]) < 0.5
    assert abs((below[1] - a[1]) - pitch[1]) < 0.5 and abs(below[0] - a[0]) < 0.5
    last = by_code[expected[per - start]]             # bottom-right label of the first sheet
    assert abs(last[0] - (first_centre[0] + (cols - 1) * pitch[0])) < 0.8
    assert abs(last[1] - (first_centre[1] + (rows - 1) * pitch[1])) < 0.8
    assert csp == []
    context.close()


def _barcode_image(text: str) -> Image.Image:
    mv = memoryview(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.EAN13).to_image(
        scale=3, add_quiet_zones=True))
    return Image.frombytes("L", (mv.shape[1], mv.shape[0]), mv.tobytes())


def _y4m(img: Image.Image, path: Path) -> Path:
    frame = Image.new("RGB", (640, 480), "white")
    img = img.convert("RGB").resize((img.width * 3 // 2, img.height * 3 // 2), Image.NEAREST)
    frame.paste(img, ((640 - img.width) // 2, (480 - img.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\nFRAME\n")
        f.write(y.tobytes() + cb.resize((320, 240)).tobytes() + cr.resize((320, 240)).tobytes())
    return path


def test_isbn_field_fills_from_the_camera_and_offers_the_existing_title(app, make, live_server, launch, tmp_path):
    make.point("P01")
    make.user("lib", "librarian")
    existing = make.title("猜猜我有多爱你", isbn=ISBN)
    browser = launch(_y4m(_barcode_image(ISBN), tmp_path / "isbn.y4m"))
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    csp = csp_watch(page)
    login(page, live_server.url, "lib", PASSWORD)
    page.goto(f"{live_server.url}/titles/new")
    page.click("#isbn-scan")
    # (no wait_for_function: its string predicate is eval'd in the page, which the CSP forbids)
    expect(page.locator("#isbn")).to_have_value(ISBN, timeout=20000)
    page.locator("#isbn-existing").wait_for(state="visible")
    assert "猜猜我有多爱你" in page.inner_text("#isbn-existing")
    assert page.get_attribute("#isbn-existing-link", "href").endswith(f"/titles/{existing.id}#add-copies")
    assert page.locator("#isbn-camera").is_hidden()  # the camera stops once it has read the code
    screenshot(page, "catalog-title-form-scanned-phone")
    assert csp == []


def test_isbn_field_fills_from_a_photo(app, make, live_server, desktop, tmp_path):
    make.point("P01")
    make.user("lib", "librarian")
    photo = tmp_path / "book-back.png"
    canvas = Image.new("L", (1200, 900), 235)
    canvas.paste(_barcode_image("9780306406157"), (300, 350))
    canvas.save(photo)
    login(desktop, live_server.url, "lib", PASSWORD)
    desktop.goto(f"{live_server.url}/titles/new")
    desktop.set_input_files("#isbn-photo", str(photo))
    expect(desktop.locator("#isbn")).to_have_value("9780306406157", timeout=20000)
    assert "ISBN 格式正确" in desktop.inner_text("#isbn-status")
    desktop.fill("#title", "Photo test")
    desktop.click("#title-form button[type=submit]")
    desktop.wait_for_url("**/titles/*")
    assert "978-0-306-40615-7" in desktop.content()


def test_transfer_by_scanning_one_copy_after_another(app, make, live_server, desktop):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("lib", "librarian")
    a, b = make.copy(make.title("书一")), make.copy(make.title("书二"))
    login(desktop, live_server.url, "lib", PASSWORD)
    desktop.goto(f"{live_server.url}/transfers/new")
    desktop.select_option("select[name=to_point]", "P02")
    for raw in (a.code, f"{BASE}/s/{b.code.lower()}", a.code):
        desktop.locator("#transfer-scan").type(raw)
        desktop.keyboard.press("Enter")
        desktop.wait_for_timeout(150)
    expect(desktop.locator("#transfer-list li")).to_have_count(2)
    assert "已经在列表里" in desktop.inner_text("#transfer-status")
    assert desktop.input_value("textarea[name=codes]").split() == [a.code, b.code]
    screenshot(desktop, "catalog-transfer-desktop")
    desktop.click("#transfer-form button[type=submit]")
    desktop.wait_for_url("**/transfers")
    assert "已把 2 册调到 P02" in desktop.content()


def test_catalog_pages_at_phone_and_desktop_size(app, make, live_server, phone, desktop):
    """Screenshots for people to look at; and nothing wider than the phone."""
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("lib", "librarian")
    books = [("猜猜我有多爱你", "山姆·麦克布雷尼", ISBN, "绘本", "3-6"),
             ("好饿的毛毛虫", "艾瑞·卡尔", None, "绘本", "0-3"),
             ("十万个为什么：恐龙的秘密（彩图注音版）", "少年儿童出版社编", None, "科普", "6-9"),
             ("爷爷一定有办法", "菲比·吉尔曼", None, "绘本", "3-6")]
    titles = [make.title(t, author=a, isbn=i, category=c, age_band=g) for t, a, i, c, g in books]
    copies = [make.copy(titles[0]), make.copy(titles[0], point="P02"), make.copy(titles[0], status="damaged")]
    make.loan(copies[0], make.borrower("王小明"))
    make.copy(titles[2])
    for name, page in (("phone", phone), ("desktop", desktop)):
        csp = csp_watch(page)
        login(page, live_server.url, "lib", PASSWORD)
        for path, shot in (("/titles", "titles"), (f"/titles/{titles[0].id}", "title"),
                           (f"/copies/{copies[0].code}", "copy"), ("/titles/new", "title-form"),
                           ("/labels", "labels-form"), ("/titles/import", "import"),
                           (f"/labels/sheet?mode=title&title={titles[0].id}&layout=4x10", "label-sheet-4x10")):
            page.goto(live_server.url + path)
            screenshot(page, f"catalog-{shot}-{name}")
            if name == "phone" and shot != "label-sheet-4x10":
                assert page.evaluate("document.scrollingElement.scrollWidth") <= 390, shot
        page.goto(live_server.url + "/titles?q=ccwydan")
        assert page.locator("table.cat-titles tbody tr").count() == 1
        screenshot(page, f"catalog-search-{name}")
        assert csp == []


def test_import_through_the_page_preview_then_confirm(app, make, live_server, phone, tmp_path):
    make.point("P01", "三灶镇故事会点")
    make.user("lib", "librarian")
    csv_file = tmp_path / "书目.csv"
    csv_file.write_bytes(("书名,作者,ISBN,出版社,出版年,分类,年龄段,册数,阅读点\r\n"
                          "猜猜我有多爱你,山姆·麦克布雷尼,978-7-5332-4178-0,明天出版社,2013,绘本,3-6,2,P01\r\n"
                          "好饿的毛毛虫,艾瑞·卡尔,,明天出版社,2008,绘本,0-3,1,P01\r\n"
                          "坏书号,,9787533241781,,,,,,\r\n").encode("gbk"))
    login(phone, live_server.url, "lib", PASSWORD)
    phone.goto(f"{live_server.url}/titles/import")
    phone.set_input_files("input[name=file]", str(csv_file))
    phone.click("text=上传并预览")
    phone.wait_for_load_state()
    assert "第 4 行：ISBN 无效" in phone.inner_text("#import-errors")
    screenshot(phone, "catalog-import-preview-errors-phone")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    phone.click("button[name=partial]")
    phone.wait_for_load_state()
    assert "新建书目 2 种，馆藏 3 册" in phone.content() and "跳过了 1 行" in phone.content()
    assert phone.url.split("?")[0].endswith("/labels")  # straight on to printing the new labels
    screenshot(phone, "catalog-import-done-phone")
