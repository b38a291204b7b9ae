"""In Chromium: a story mother records a 故事会 on her phone, online and then offline (kept on the
phone, sent once when the connection returns); a manager opens the annual report, prints it to
A4 and downloads its XLSX, whose figures match the page."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Activity, ActivityVolunteer
from tests.builders import PASSWORD
from tests.e2e.conftest import artifact, login, screenshot


def shot(page, name: str) -> None:
    screenshot(page, name)


def activities(app):
    with app.app_context(), session_factory()() as db:
        rows = db.scalars(select(Activity).order_by(Activity.id)).all()
        minutes = db.scalar(select(func.sum(ActivityVolunteer.minutes))) or 0
        return [(a.attendance, a.adults, a.minutes) for a in rows], int(minutes)


@pytest.fixture
def mother(app, make):
    make.point("P01", "三灶镇故事会点")
    return make.user("mama", "story_mother", points=["P01"])


def test_story_mother_records_an_activity_online_then_offline_synced_once(app, make, mother, live_server, phone):
    kid = make.borrower("王小明")
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + "/activities/new")
    for _ in range(3):
        phone.get_by_role("button", name="儿童加一").click()
    phone.fill("input[name=card]", make.card_code(kid))
    phone.press("input[name=card]", "Enter")
    phone.get_by_role("button", name="成人加一").click()
    phone.fill("input[name=title]", "猜猜我有多爱你")
    phone.press("input[name=title]", "Enter")
    assert phone.input_value("input[aria-label=我的服务分钟]") == "90"  # 60 + 30 preparation
    shot(phone, "activity-form-390x844")
    phone.click("#activity-form button[type=submit]")
    phone.wait_for_selector(".activity-status.ok")
    assert "已保存" in phone.text_content("#activity-status")
    assert activities(app) == ([(3, 1, 60)], 90)

    # No signal: kept on the phone, nothing on the server yet.
    phone.context.set_offline(True)
    phone.fill("input[name=minutes]", "45")
    for _ in range(5):
        phone.get_by_role("button", name="儿童加一").click()
    phone.click("#activity-form button[type=submit]")
    phone.wait_for_selector(".activity-status.queued")
    assert "手机上" in phone.text_content("#activity-status")
    assert "1 条活动等待上传" in phone.text_content("[data-testid=activity-pending]")
    assert len(activities(app)[0]) == 1
    # The connection returns: it goes by itself, once.
    phone.context.set_offline(False)
    phone.wait_for_function(
        "() => document.querySelector('[data-testid=activity-pending]').textContent === ''")
    assert activities(app) == ([(3, 1, 60), (5, 0, 45)], 90 + 75)
    phone.reload()
    phone.evaluate("async () => (await import('/static/js/outbox.js'))"
                   ".createOutbox({endpoint: '/api/v1/activities/batch'}).sync({everyone: true})")
    assert len(activities(app)[0]) == 2


def test_annual_report_page_prints_on_a4_and_its_xlsx_has_the_figures(app, make, mother, live_server, browser):
    app.config["FIXED_NOW"] = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    kid = make.borrower("王小明")
    copy = make.copy(make.title("小猪佩奇"))
    for day in (3, 10):
        make.loan(copy, kid, lent_at=datetime(2026, 5, day, 3, 0, tzinfo=UTC),
                  returned_at=datetime(2026, 5, day, 9, 0, tzinfo=UTC))
    lib = make.user("lib", "librarian")
    headers = make.token(lib)
    client = app.test_client()
    for month, children in ((3, 12), (5, 8)):
        r = client.post("/api/v1/activities", headers=headers, json={
            "id": f"00000000-0000-4000-8000-00000000000{month}", "point": "P01", "kind": "story",
            "started_at": f"2026-{month:02d}-14T15:00:00+08:00", "minutes": 60,
            "children": children, "volunteers": [{"username": "mama"}]})
        assert r.status_code == 201
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                  accept_downloads=True)
    page = context.new_page()
    login(page, live_server.url, "lib", PASSWORD)
    page.goto(live_server.url + "/reports/annual/2026")
    figures = page.locator("[data-testid=annual-figures]")
    assert figures.locator("tr[data-figure=activities] td").first.inner_text() == "2"
    assert figures.locator("tr[data-figure=attendance] td").first.inner_text() == "20"
    assert figures.locator("tr[data-figure=loans] td").nth(1).inner_text() == "12,000"
    summary = page.inner_text("[data-testid=annual-summary]")
    assert "共开展故事会等阅读活动 2 场，服务儿童 20 人次" in summary
    shot(page, "annual-report-1280x800")
    pdf = page.pdf(format="A4", print_background=True)
    artifact("annual-report-a4.pdf").write_bytes(pdf)
    import pypdfium2  # noqa: PLC0415

    doc = pypdfium2.PdfDocument(pdf)
    width, height = doc[0].get_size()
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2  # A4 in points
    assert len(doc) <= 2
    text = doc[0].get_textpage().get_text_range()
    doc.close()
    assert "2026 年度报告" in text and "阅读活动（场）" in text
    with page.expect_download() as info:
        page.click("[data-testid=annual-xlsx]")
    path = info.value.path()
    assert info.value.suggested_filename == "annual-report-2026.xlsx"
    with open(path, "rb") as f:
        ws = load_workbook(io.BytesIO(f.read())).active
    cells = {row[0]: row[1:] for row in ws.iter_rows(values_only=True) if row[0]}
    assert cells["阅读活动（场）"][0] == 2 and cells["活动儿童参与（人次）"][0] == 20
    assert cells["借阅人次"][:2] == (2, 12000)
    assert cells["2026-05"][:3] == (2, 1, 8)
    context.close()
