"""The librarian's loans list, the overdue call list and finding a child without her card, in
Chromium at phone and desktop size (issue 15)."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Copy, Loan
from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot

SHOTS = os.environ.get("LIBRARY_SHOTS")  # also copy screenshots there for people to look at


def shot(page, name):
    path = screenshot(page, name)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / path.name)


def _csp_errors(page):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def _loan(app, make):
    make.point("P01", "三灶镇故事会点")
    mama = make.user("mama", "story_mother", points=["P01"])
    with app.app_context(), session_factory()() as db:
        from library_app.models import User

        db.get(User, mama.id).display_name = "陈妈妈"
        db.commit()
    make.user("lib", "librarian")
    child = make.borrower("王小明", point="P01")
    copy = make.copy(make.title("猜猜我有多爱你"), point="P01")
    loan = make.loan(copy, child, lent_at=datetime.now(UTC) - timedelta(days=20), lent_by_id=mama.id)
    return copy, loan


def _state(app, copy, loan):
    with app.app_context(), session_factory()() as db:
        return (db.scalar(select(Copy.status).where(Copy.id == copy.id)),
                db.scalar(select(Loan.outcome).where(Loan.id == loan.id)) or None)


def test_one_tap_on_lost_does_not_end_the_loan_the_confirmation_does(app, make, live_server, phone, desktop):
    copy, loan = _loan(app, make)
    for page, size in ((desktop, "desktop"), (phone, "phone")):
        errors = _csp_errors(page)
        login(page, live_server.url, "lib", PASSWORD)
        page.goto(live_server.url + "/circulation/loans?status=overdue")
        assert "陈妈妈" in page.locator("table").inner_text()  # who lent it, by display name
        shot(page, f"f2-loans-{size}")
        page.locator("button[value=lost]").first.click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "标记为遗失？"
        assert _state(app, copy, loan) == ("on_loan", None)  # the tap alone changed nothing
        shot(page, f"f2-mark-confirm-{size}")
        if size == "desktop":
            page.click("text=取消，不标记")
            page.wait_for_load_state()
            assert page.url.endswith("/circulation/loans?status=overdue")
            assert _state(app, copy, loan) == ("on_loan", None)
        else:
            page.click("text=确认标记为遗失")
            page.wait_for_load_state()
            assert "已标记为遗失" in page.locator(".flash").inner_text()
            assert page.url.endswith("/circulation/loans?status=overdue")
            assert _state(app, copy, loan) == ("lost", "lost")
        assert errors == []


def test_overdue_call_list_and_finding_a_child_by_phone_tail_then_lending(app, make, live_server, phone, desktop):
    make.point("P01", "三灶镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    make.user("lib", "librarian")
    now = datetime.now(UTC)
    kids = [make.borrower(n, point="P01", guardian_phone=p)
            for n, p in (("王小明", "13812345678"), ("陈大文", "13912340000"), ("李明", "13700005678"))]
    for kid, days in zip(kids, (16, 40, 24), strict=True):
        make.loan(make.copy(make.title(f"书{days}"), point="P01"), kid, lent_at=now - timedelta(days=days))
    login(desktop, live_server.url, "lib", PASSWORD)
    desktop.goto(live_server.url + "/circulation/overdue")
    names = desktop.locator("td[data-label=小读者]").all_inner_texts()
    assert [n.split()[0] for n in names] == ["陈大文", "李明", "王小明"]
    assert "P01 三灶镇故事会点" in desktop.title()
    shot(desktop, "f2-overdue-desktop")
    errors = _csp_errors(phone)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + "/circulation/overdue")
    shot(phone, "f2-overdue-phone")
    phone.goto(live_server.url + "/borrowers/")
    phone.fill("input[name=q]", "5678")
    phone.press("input[name=q]", "Enter")
    phone.wait_for_load_state()
    rows = phone.locator("table.borrowers tbody tr")
    assert rows.count() == 2 and "李明" in rows.all_inner_texts()[0] + rows.all_inner_texts()[1]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "f2-borrower-search-phone")
    phone.locator("tr", has_text="王小明").locator("button", has_text="借书").click()
    phone.wait_for_load_state()
    assert "/scan" in phone.url and f"card={make.card_code(kids[0])}" in phone.url
    assert errors == []
    desktop.goto(live_server.url + "/borrowers/?q=xiaoming")
    assert desktop.locator("table.borrowers tbody tr").count() == 1
    shot(desktop, "f2-borrower-search-desktop")
