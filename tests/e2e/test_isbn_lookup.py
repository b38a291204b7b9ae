"""The new-title form fills itself from an ISBN (issue 19): the camera reads the barcode (or the
librarian types it), the records found by the real Z39.50 server (Zebra) and the Open Library
stand-in are listed with each source's outcome, one tap fills the form, the librarian edits, saves,
and the title keeps its source and raw record. And the settings page's 套录来源 on a phone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Title
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot
from tests.e2e.test_catalog import _barcode_image, _y4m, csp_watch
from tests.lookup_fixtures import openlibrary_fixture, silent_fixture, zebra_fixture  # noqa: F401 - shared fixtures
from tests.lookup_servers import (
    CAICAI,
    GOODNIGHT,
    OpenLibraryStandIn,
    SilentServer,
    Zebra,
)

SHOTS = Path(os.environ.get("LIBRARY_SHOTS_DIR", "")) if os.environ.get("LIBRARY_SHOTS_DIR") else None


@pytest.fixture
def app_config(zebra: Zebra, openlibrary: OpenLibraryStandIn, silent: SilentServer, db_url: str,
               tmp_path: Path) -> dict[str, Any]:
    return {"LOOKUP_SOURCES": json.dumps([zebra.source("cnmarc"), silent.z3950_source(),
                                          zebra.source("marc21"), openlibrary.source()]),
            "LOOKUP_TIMEOUT": 2}


def _shot(page: Any, name: str) -> None:
    screenshot(page, name)
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_scanned_isbn_fills_the_form_from_the_union_catalogue(app, make, live_server, launch, tmp_path):
    make.point("P01")
    make.user("lib", "librarian")
    browser = launch(_y4m(_barcode_image(CAICAI), tmp_path / "isbn.y4m"))
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    csp = csp_watch(page)
    login(page, live_server.url, "lib", PASSWORD)
    page.goto(f"{live_server.url}/titles/new")
    page.click("#isbn-scan")
    expect(page.locator("#isbn")).to_have_value(CAICAI, timeout=20000)
    # every source's outcome, the silent one as a timeout (bounded by LOOKUP_TIMEOUT = 2 s)
    expect(page.locator("#isbn-sources li[data-status=timeout]")).to_contain_text("不回应的服务器：超时", timeout=8000)
    expect(page.locator("#isbn-sources li[data-status=found]")).to_contain_text("测试联合目录：找到")
    records = page.locator("#isbn-records .isbn-record")
    expect(records).to_have_count(1)
    assert "明天出版社，2013" in records.first.inner_text() and "来源：测试联合目录" in records.first.inner_text()
    _shot(page, "isbn-lookup-found-phone")
    records.first.get_by_role("button", name="用这条填写").click()
    expect(page.locator("#title")).to_have_value("猜猜我有多爱你")
    expect(page.locator("#author")).to_have_value("麦克布雷尼，梅子涵")
    expect(page.locator("#publisher")).to_have_value("明天出版社")
    expect(page.locator("#year")).to_have_value("2013")
    expect(page.locator("#pages")).to_have_value("32")
    expect(page.locator("#price")).to_have_value("CNY29.80")
    expect(page.locator("#clc")).to_have_value("I561.85")
    expect(page.locator("#category")).to_have_value("绘本")
    expect(page.locator("#summary")).to_have_value("小兔子和大兔子比赛，看谁的爱更多。")
    expect(page.locator("#record-source-note")).to_contain_text("测试联合目录")
    _shot(page, "isbn-lookup-filled-phone")
    page.fill("#author", "山姆·麦克布雷尼")  # then edit: the librarian's word is what is saved
    page.click("#title-form button[type=submit]")
    page.wait_for_url("**/titles/*")
    body = page.inner_text("main")
    assert "山姆·麦克布雷尼" in body and "32 页" in body and "I561.85" in body and "测试联合目录" in body
    with app.app_context(), session_factory()() as db:
        title = db.scalar(select(Title).where(Title.isbn == CAICAI))
        assert title is not None and title.author == "山姆·麦克布雷尼"
        assert title.record_source == "测试联合目录" and "$a978-7-5332-4178-0$dCNY29.80" in title.raw_record
    assert csp == []


def test_typed_isbn_lists_marc21_and_open_library_on_desktop(app, make, live_server, browser):
    make.point("P01")
    make.user("lib", "librarian")
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    login(page, live_server.url, "lib", PASSWORD)
    page.goto(f"{live_server.url}/titles/new")
    started = time.monotonic()
    page.fill("#isbn", "978-0-06-443017-3")
    records = page.locator("#isbn-records .isbn-record")
    expect(records).to_have_count(2, timeout=8000)
    assert time.monotonic() - started < 2 + 2  # the silent source never holds the form up past the limit
    assert [s.strip() for s in page.locator("#isbn-records .rec-source").all_inner_texts()] == [
        "来源：测试MARC21目录", "来源：Open Library（测试）"]
    _shot(page, "isbn-lookup-found-desktop")
    records.nth(1).get_by_role("button", name="用这条填写").click()
    expect(page.locator("#title")).to_have_value("Goodnight Moon")
    expect(page.locator("#author")).to_have_value("Margaret Wise Brown")
    expect(page.locator("#pages")).to_have_value("30")
    _shot(page, "isbn-lookup-filled-desktop")
    page.click("#title-form button[type=submit]")
    page.wait_for_url("**/titles/*")
    with app.app_context(), session_factory()() as db:
        title = db.scalar(select(Title).where(Title.isbn == GOODNIGHT))
        assert title is not None and title.record_source == "Open Library（测试）"
        assert json.loads(title.raw_record)["edition"]["title"] == "Goodnight Moon"
    page.close()


def test_settings_page_adds_a_source_from_an_example_and_tests_it(app, make, live_server, phone, zebra):
    make.point("P01")
    make.user("boss", "admin")
    login(phone, live_server.url, "boss", PASSWORD)
    phone.goto(f"{live_server.url}/admin/settings")
    phone.click("text=设置套录来源、测试连接")
    phone.click(".lookup-examples li:first-child a")
    expect(phone.locator("#host")).to_have_value("202.96.31.28")
    expect(phone.locator("#database")).to_have_value("UCS01U")
    # the example is OLCC; here it points at the tests' Zebra instead
    phone.fill("#name", "联合目录（测试）")
    phone.fill("#host", "127.0.0.1")
    phone.fill("#port", str(zebra.port))
    phone.fill("#database", "cnmarc")
    phone.fill("#user", "member01")
    phone.fill("#password", "s3cret")
    phone.click("#source-form button[type=submit]")
    card = phone.locator(".lookup-source").first
    expect(card).to_contain_text("联合目录（测试）")
    expect(card).to_contain_text("密码已保存，不显示")
    card.get_by_role("button", name="测试连接").click()
    expect(phone.locator("body")).to_contain_text("“联合目录（测试）”连接成功")
    assert "s3cret" not in phone.content()
    _shot(phone, "lookup-sources-phone")
