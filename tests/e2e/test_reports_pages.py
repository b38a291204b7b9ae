"""The report pages in Chromium on demo data: the year page and the month report at phone and
desktop size, the month report printed to an A4 PDF, and a story mother's home counters.
Screenshots and the PDF go to test-artifacts/ for people to look at."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from library_app.db import session_factory
from library_app.demo import seed_demo
from library_app.services.settings import get_settings
from tests.builders import PASSWORD
from tests.e2e.conftest import ARTIFACTS, login, screenshot

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


@pytest.fixture
def demo(app):
    with app.app_context(), session_factory()() as db:
        summary = seed_demo(db, NOW, get_settings(db, app.config))
        db.commit()
    return summary


def api_json(page, path):
    return page.evaluate("async (p) => (await fetch(p)).json()", path)


def test_year_page_phone_and_desktop(app, make, live_server, demo, phone, desktop):
    make.user("lin", "librarian")
    violations = []
    for page, size in ((phone, "phone"), (desktop, "desktop")):
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        login(page, live_server.url, "lin", PASSWORD)
        page.goto(live_server.url + "/reports/year/")
        assert page.url.endswith("/reports/year/2026")
        year = api_json(page, "/api/v1/reports/year/2026")
        shown = page.locator("[data-testid=year-count]").inner_text()
        assert shown == f"{year['count']:,}" and year["count"] > 5000
        assert page.locator("svg.chart.progress .pace").count() == 1
        assert page.locator("svg.chart .bar").count() >= 11
        # nothing wider than the screen on a phone
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], width
        screenshot(page, f"reports-year-{size}")
    assert violations == []


def test_month_report_phone_desktop_and_a4_pdf(app, make, live_server, demo, phone, desktop, browser):
    make.user("lin", "librarian")
    for page, size in ((phone, "phone"), (desktop, "desktop")):
        login(page, live_server.url, "lin", PASSWORD)
        page.goto(live_server.url + "/reports/month/2026-10")
        month = api_json(page, "/api/v1/reports/month/2026-10")
        assert page.locator('[data-figure="loans"]').inner_text() == str(month["loans"])
        assert page.locator('[data-figure="overdue_at_end"]').inner_text() == str(month["overdue_at_end"])
        assert page.get_by_text("经办人").first.is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], width
        screenshot(page, f"reports-month-{size}")
    # the filter form takes a month and a point
    desktop.select_option("#f-point", "P02")
    desktop.fill("#f-month", "2026-09")
    desktop.click("form.filters button[type=submit]")
    assert desktop.url.endswith("/reports/month/2026-09?point=P02")
    assert "P02" in desktop.locator(".scope").inner_text()

    # printed on A4 (Chromium's print to PDF uses the print CSS)
    desktop.goto(live_server.url + "/reports/month/2026-10")
    desktop.emulate_media(media="print")
    assert not desktop.locator("form.filters").is_visible()
    assert not desktop.locator("header.topbar").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "reports-month-a4.pdf"
    desktop.pdf(path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") - data.count(b"/Type /Pages") <= 3


def test_story_mother_home_shows_her_point_and_the_year(app, make, live_server, demo, phone):
    login(phone, live_server.url, "mama1", "gushihui-demo")
    assert phone.url.endswith("/home")
    today = int(phone.locator("[data-testid=point-today]").inner_text())
    month = int(phone.locator("[data-testid=point-month]").inner_text())
    assert month > 0 and 0 <= today <= month
    assert "三灶镇故事会点" in phone.locator(".home-counter").inner_text()
    assert phone.locator("[data-testid=home-year-count]").inner_text().replace(",", "").isdigit()
    screenshot(phone, "home-story-mother-phone")
    assert phone.goto(live_server.url + "/reports/year/2026").status == 403
