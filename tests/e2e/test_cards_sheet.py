"""The card sheet in Chromium: every card, on screen and printed to PDF, decodes to its own code."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from tests.builders import PASSWORD
from tests.e2e.conftest import ARTIFACTS, login, screenshot

BASE = "http://lib.example.org"


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"PUBLIC_BASE_URL": BASE, "ORG_NAME": "珠海故事会点"}


def _codes(image: Image.Image) -> list[str]:
    return sorted(b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode))


def test_every_card_on_a_printed_sheet_decodes_to_its_own_code(app, make, live_server, launch):
    make.point("P01", "三灶镇故事会点")
    kids = [make.borrower(name, point="P01") for name in (
        "王小明", "李小花", "陈大文", "赵小虎", "孙悟空", "周星星", "吴优", "郑好", "冯小刚", "欧阳娜娜",
        "何一", "马小跳")]
    make.user("lib", "librarian")
    expected = sorted(f"{BASE}/s/{make.card_code(k)}" for k in kids)
    browser = launch()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  device_scale_factor=2)
    page = context.new_page()
    login(page, live_server.url, "lib", PASSWORD)
    page.goto(live_server.url + "/cards/sheet?point=P01")
    cards = page.locator(".cr80")
    assert cards.count() == 12 and page.locator(".sheet").count() == 2
    # on screen: each card decodes to the code written on it
    for i in range(cards.count()):
        card = cards.nth(i)
        code = card.get_attribute("data-code")
        shot = Image.open(io.BytesIO(card.screenshot()))
        assert _codes(shot) == [f"{BASE}/s/{code}"], code
        assert code in card.inner_text()
    # the physical size: 85.6 × 54 mm at CSS 96 dpi
    box = cards.first.bounding_box()
    assert abs(box["width"] - 85.6 / 25.4 * 96) < 1 and abs(box["height"] - 54 / 25.4 * 96) < 1
    screenshot(page, "cards-sheet-desktop")

    # printed: A4 PDF, 10 per page, every QR readable from the rendered pages
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cards-sheet.pdf").write_bytes(pdf)
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    assert len(doc) == 2
    width_pt, height_pt = doc[0].get_size()
    assert abs(width_pt - 595.3) < 2 and abs(height_pt - 841.9) < 2  # A4
    found = []
    for n in range(len(doc)):
        image = doc[n].render(scale=200 / 72).to_pil()
        image.save(ARTIFACTS / f"cards-sheet-pdf-page{n + 1}.png")
        found += _codes(image)
    assert sorted(found) == expected
    context.close()
