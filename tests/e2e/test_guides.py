"""The pictures of the guides (docs/guide-story-mother.md, docs/guide-librarian.md) come from here.

Each test walks what a guide describes on the real pages, with the demo data, and checks what the
guide says (colours, words); the screenshots it takes are the guide's pictures. They are written to
test-artifacts/guide/ on every run, and into docs/img/ when LIBRARY_GUIDE_IMAGES=1:

    LIBRARY_GUIDE_IMAGES=1 .venv/bin/python -m pytest tests/e2e/test_guides.py

A last test checks that every picture a guide shows is one these tests make, so guide and pages
cannot drift apart unnoticed.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Borrower, Card, Copy, Loan, Point, Title
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_offline_outbox import wait_pending
from tests.e2e.test_offline_screen import controlled
from tests.e2e.test_scan import current, result, type_code

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEMO_PASSWORD = "gushihui-demo"
STORY_MOTHER_IMAGES = [
    "sm-01-login.png", "sm-02-scan.png", "sm-03-card.png", "sm-04-lent.png", "sm-05-return.png",
    "sm-06-refused.png", "sm-07-undo.png", "sm-08-offline.png",
]
LIBRARIAN_IMAGES = [
    "lib-01-titles.png", "lib-02-new-title.png", "lib-03-title.png", "lib-04-labels.png",
    "lib-05-new-borrower.png", "lib-06-cards.png", "lib-07-year.png", "lib-08-month.png",
    "lib-09-overdue.png", "lib-10-review.png", "lib-11-settings.png", "lib-12-audit.png",
]


def picture(page: Any, name: str, full_page: bool = False) -> Path:
    """A guide picture: into test-artifacts/guide/, and docs/img/ when asked to update them."""
    assert name in STORY_MOTHER_IMAGES + LIBRARIAN_IMAGES, name
    out = ARTIFACTS / "guide"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / name), full_page=full_page)
    if os.environ.get("LIBRARY_GUIDE_IMAGES") == "1":
        from PIL import Image

        (DOCS / "img").mkdir(exist_ok=True)
        # 128 colours: screenshots of text stay sharp at a third of the size in the repository
        with Image.open(out / name) as shot:
            shot.convert("RGB").quantize(colors=128).save(DOCS / "img" / name, optimize=True)
    return out / name


@pytest.fixture(scope="module")
def demo_database(db_templates: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation (seed-demo: 4 points, ~300 titles, 250 children, a year of loans)
    and an admin, made once for this module."""
    from library_app import create_app

    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.sqlite3"
    shutil.copyfile(db_templates.sqlite(), path)
    old = os.environ.get("LIBRARY_INSTANCE_PATH")
    os.environ["LIBRARY_INSTANCE_PATH"] = str(folder / "instance")
    try:
        seeding = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "x"})
    finally:
        if old is None:
            os.environ.pop("LIBRARY_INSTANCE_PATH", None)
        else:
            os.environ["LIBRARY_INSTANCE_PATH"] = old
    runner = seeding.test_cli_runner()
    r = runner.invoke(args=["seed-demo"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["create-user", "admin", "--role", "admin", "--password", DEMO_PASSWORD])
    assert r.exit_code == 0, r.output
    seeding.extensions["library_db"].engine.dispose()
    return path


@pytest.fixture
def db_url(demo_database: Path, tmp_path: Path) -> str:
    """Each test gets its own copy of the demo database (SQLite: these are pictures of pages)."""
    path = tmp_path / "library.sqlite3"
    shutil.copyfile(demo_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def demo(app: Any) -> dict[str, Any]:
    """A child with no book out and a second one, both at P01 with cards; four books on P01's shelf."""
    with app.app_context(), session_factory()() as db:
        p01 = db.scalar(select(Point.id).where(Point.code == "P01"))
        open_count = (select(func.count(Loan.id)).where(Loan.borrower_id == Borrower.id,
                                                         Loan.returned_at.is_(None)).scalar_subquery())
        children = db.execute(
            select(Borrower.name, Card.code).join(Card, Card.borrower_id == Borrower.id)
            .where(Borrower.home_point_id == p01, Borrower.status == "active", Card.status == "active",
                   open_count == 0).order_by(Borrower.id).limit(2)
        ).all()
        shelf = db.execute(
            select(Copy.code, Title.title).join(Title, Title.id == Copy.title_id)
            .where(Copy.current_point_id == p01, Copy.status == "available").order_by(Copy.id).limit(4)
        ).all()
    assert len(children) == 2 and len(shelf) == 4
    return {"children": children, "shelf": shelf}


def _phone(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    return context.new_page()


def _tone(page: Any) -> str:
    return page.locator("#result").get_attribute("data-tone") or ""


def test_story_mother_guide(app, demo, live_server, browser):
    page = _phone(browser)
    page.goto(live_server.url + "/login")
    assert page.locator("h1").inner_text() == "登录"
    picture(page, "sm-01-login.png")
    login(page, live_server.url, "mama1", DEMO_PASSWORD)
    page.goto(live_server.url + "/scan")
    page.wait_for_selector("#scan[data-ready='1']")
    controlled(page)  # the screen is kept on the phone for offline use
    page.wait_for_selector(".offline-cache-info:has-text('册图书')")
    assert page.locator("#camera-open").is_visible() and page.locator("#photo").count() == 1
    picture(page, "sm-02-scan.png")

    (child, card), (other_child, other_card) = demo["children"]
    (book1, title1), (book2, title2), (book3, _), (book4, title4) = demo["shelf"]
    # 1. the card: the child becomes current (green)
    type_code(page, card)
    assert "还可以借" in current(page, child)
    picture(page, "sm-03-card.png")
    # 2. a book: lent, green, due date in words
    type_code(page, book1)
    text = result(page, "借出成功")
    assert title1 in text and "应还日期" in text and _tone(page) == "ok"
    type_code(page, book2)
    result(page, "借出成功")
    page.wait_for_function("t => document.getElementById('current-loans').textContent.includes(t)", arg=title2)
    picture(page, "sm-04-lent.png")
    # 3. return mode: every book scanned comes back
    page.click("#mode-return")
    type_code(page, book1)
    assert title1 in result(page, "归还成功") and _tone(page) == "ok"
    picture(page, "sm-05-return.png")
    # 4. a refusal is red and says why: a mistyped code
    page.click("#mode-lend")
    type_code(page, book3[:-1] + str((int(book3[-1]) + 1) % 10))
    assert "校验位" in result(page, "编码不对") and _tone(page) == "bad"
    picture(page, "sm-06-refused.png")
    # 5. undo the last loan (a mis-scan) within 10 minutes
    type_code(page, other_card)
    current(page, other_child)
    type_code(page, book4)
    assert title4 in result(page, "借出成功")
    assert page.locator("#undo").is_visible()
    page.click("#undo")
    result(page, "已撤销")
    assert _tone(page) == "info"
    picture(page, "sm-07-undo.png")
    with app.app_context(), session_factory()() as db:
        open_book4 = db.scalar(select(func.count(Loan.id)).join(Copy, Copy.id == Loan.copy_id)
                               .where(Copy.code == book4, Loan.returned_at.is_(None)))
    assert open_book4 == 0
    # 6. no signal: scans are kept on the phone, counted, and sent when the signal returns
    page.context.set_offline(True)
    type_code(page, book3)
    result(page, "已保存")
    assert _tone(page) == "info"
    page.wait_for_selector("#offline-status [data-pending='1']")
    picture(page, "sm-08-offline.png")
    page.context.set_offline(False)
    wait_pending(page, 0)  # synced by itself once the signal is back
    with app.app_context(), session_factory()() as db:
        synced = db.scalar(select(func.count(Loan.id)).join(Copy, Copy.id == Loan.copy_id)
                           .where(Copy.code == book3, Loan.returned_at.is_(None)))
    assert synced == 1
    page.context.close()


def _offline_loan_over_the_limit(app: Any, demo: dict[str, Any]) -> None:
    """What a phone without signal sends later: a loan to a child who already had three."""
    from datetime import UTC, timedelta

    from library_app.models import User
    from tests.builders import Builders

    with app.app_context(), session_factory()() as db:
        mama = db.scalar(select(User).where(User.username == "mama1"))
        card = db.scalar(
            select(Card.code).join(Loan, Loan.borrower_id == Card.borrower_id)
            .where(Card.status == "active", Loan.returned_at.is_(None), Loan.point_id == db.scalar(
                select(Point.id).where(Point.code == "P01")))
            .group_by(Card.code).having(func.count(Loan.id) >= 3).limit(1))
        db.expunge(mama)
    assert card is not None
    _, _, (book, _), _ = demo["shelf"]
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    r = app.test_client().post("/api/v1/circulation/events", headers=Builders(app).token(mama), json={
        "events": [{"id": "9a3e5b7c-0000-4000-8000-000000000001", "type": "loan", "copy": book,
                    "card": card, "point": "P01", "at": at}]})
    assert r.get_json()["results"][0]["status"] == "review", r.get_json()


def test_librarian_guide(app, demo, live_server, browser):
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    login(desk, live_server.url, "librarian", DEMO_PASSWORD)
    base = live_server.url
    desk.goto(base + "/titles")
    assert desk.locator("h1").first.inner_text().startswith("书目")
    picture(desk, "lib-01-titles.png")
    desk.goto(base + "/titles/new")
    picture(desk, "lib-02-new-title.png")
    with app.app_context(), session_factory()() as db:
        title_id = db.scalar(select(Title.id).join(Copy, Copy.title_id == Title.id)
                             .group_by(Title.id).order_by(func.count(Copy.id).desc(), Title.id).limit(1))
    desk.goto(f"{base}/titles/{title_id}")
    picture(desk, "lib-03-title.png", full_page=True)
    desk.click("text=打印本书标签")
    desk.wait_for_load_state()
    desk.click("text=生成标签")
    desk.wait_for_load_state()
    assert desk.locator(".label svg.label-qr").count() >= 2  # one QR per copy
    picture(desk, "lib-04-labels.png")

    phone = _phone(browser)
    login(phone, base, "librarian", DEMO_PASSWORD)
    phone.goto(base + "/borrowers/new")
    picture(phone, "lib-05-new-borrower.png", full_page=True)
    phone.context.close()
    desk.goto(base + "/cards/")
    desk.fill("input[name=ids]", "1, 2, 3, 4")
    desk.click("text=生成打印页")
    desk.wait_for_load_state()
    picture(desk, "lib-06-cards.png")

    year = datetime.now().year
    desk.goto(f"{base}/reports/year/{year}")
    assert "12000" in desk.content().replace(",", "").replace(" ", "") or "12,000" in desk.content()
    picture(desk, "lib-07-year.png", full_page=True)
    desk.goto(base + "/reports/month/")
    picture(desk, "lib-08-month.png")
    desk.goto(base + "/circulation/overdue")
    picture(desk, "lib-09-overdue.png")
    _offline_loan_over_the_limit(app, demo)
    desk.goto(base + "/circulation/review")
    assert desk.locator("text=没有待复核的记录").count() == 0
    picture(desk, "lib-10-review.png")
    desk.context.close()

    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    login(admin, base, "admin", DEMO_PASSWORD)
    admin.goto(base + "/admin/settings")
    assert admin.locator("h1").inner_text() == "设置"
    picture(admin, "lib-11-settings.png", full_page=True)
    admin.goto(base + "/admin/audit")
    assert "审计日志" in admin.locator("h1").inner_text()
    picture(admin, "lib-12-audit.png")
    admin.context.close()


def test_every_picture_in_the_guides_is_made_by_these_tests():
    for guide, made in (("guide-story-mother.md", STORY_MOTHER_IMAGES), ("guide-librarian.md", LIBRARIAN_IMAGES)):
        text = (DOCS / guide).read_text(encoding="utf-8")
        shown = re.findall(r'(?:\]\(|src=")img/([^)"]+)', text)
        assert shown, guide
        assert set(shown) == set(made), f"{guide}: shown {sorted(set(shown))}, made {sorted(made)}"
        missing = [name for name in shown if not (DOCS / "img" / name).exists()]
        assert missing == [], f"run LIBRARY_GUIDE_IMAGES=1 pytest tests/e2e/test_guides.py ({missing})"
