"""Browser tests: Debian's Chromium driven by Playwright, against the app on a live server.

See shared/spec/e2e.md. Chromium missing: skipped on a newcomer's machine, a failure in CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_database, missing

CHROMIUM = os.environ.get("LIBRARY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def launch(playwright_instance: Any) -> Iterator[Callable[..., Any]]:
    """launch(video=None) → a Chromium browser; ``video`` is a .y4m file shown as the camera."""
    browsers: list[Any] = []

    def _launch(video: Path | None = None) -> Any:
        args = list(FLAGS)
        if video is not None:
            args.append(f"--use-file-for-fake-video-capture={Path(video).resolve()}")
        browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        browsers.append(browser)
        return browser

    yield _launch
    for b in browsers:
        b.close()


@pytest.fixture
def browser(launch: Callable[..., Any]) -> Any:
    return launch()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page the size of a phone (390×844), Chinese locale."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def artifact(filename: str) -> Path:
    """Where a test keeps a file for people to look at: test-artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / filename


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/ for people to look at (the whole page, or with
    ``full_page=False`` what the screen shows)."""
    path = artifact(f"{name}.png")
    page.screenshot(path=str(path), full_page=full_page)
    return path


def login(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def self_service_corner(app: Any, make: Any, client: Any) -> dict[str, Any]:
    """A kiosk waiting to be enrolled at P01 (its one-time ``code``), a child allowed to borrow
    alone there and her ``card``, and three ``books`` of P01 (the kiosk tests' world)."""
    from sqlalchemy import update

    from library_app.db import session_factory
    from library_app.models import Borrower

    make.point("P01", "三灶镇故事会点")
    staff = make.token(make.user("lib", "librarian"))
    r = client.post("/api/v1/kiosks", json={"name": "三灶点平板", "point": "P01"}, headers=staff)
    assert r.status_code == 201
    child = make.borrower("欧阳娜娜", point="P01")
    with app.app_context(), session_factory()() as db:
        db.execute(update(Borrower).where(Borrower.id == child.id).values(self_service=True))
        db.commit()
    books = [make.copy(make.title(t), point="P01") for t in ("猜猜我有多爱你", "好饿的毛毛虫", "小蓝和小黄")]
    return {"staff": staff, "kiosk": r.get_json(), "code": r.get_json()["enrol_code"], "child": child,
            "card": make.card_code(child), "books": books, "client": client}


def make_y4m(qr_text: str, path: Path, size: int = 260) -> Path:
    """A one-frame Y4M video of a QR code on white, for Chromium's fake camera (e2e.md)."""
    import qrcode
    from PIL import Image

    img = qrcode.make(qr_text, border=2).convert("RGB").resize((size, size), Image.NEAREST)
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(img, ((640 - size) // 2, (480 - size) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        f.write(b"FRAME\n")
        f.write(y.tobytes())
        f.write(cb.resize((320, 240)).tobytes())
        f.write(cr.resize((320, 240)).tobytes())
    return path


E2E_BACKENDS = [b for b in os.environ.get("LIBRARY_E2E_DATABASES", "sqlite").split(",") if b]


@pytest.fixture(params=E2E_BACKENDS)
def db_url(request: pytest.FixtureRequest, db_templates: Any, tmp_path: Path) -> str:
    """Browser tests run on SQLite by default (the database layer runs on both in integration
    tests); LIBRARY_E2E_DATABASES=sqlite,postgresql runs them on both."""
    return fresh_database(request.param, db_templates, tmp_path)
