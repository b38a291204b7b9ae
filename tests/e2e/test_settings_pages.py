"""The admin's settings page and audit log in Chromium, on a phone (390 × 844) and a desktop."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot


def _logo(path: Path) -> Path:
    img = Image.new("RGB", (600, 300), (15, 118, 110))
    for x in range(200, 400):
        for y in range(80, 220):
            img.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_admin_changes_settings_and_uploads_a_logo_on_a_phone(app, make, live_server, phone, tmp_path):
    make.user("boss", "admin")
    violations: list[str] = []
    phone.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    login(phone, live_server.url, "boss", PASSWORD)
    phone.goto(live_server.url + "/admin/settings")
    screenshot(phone, "settings-phone")
    phone.fill("input[name=org_name]", "珠海市故事会点")
    phone.fill("input[name=loan_days]", "21")
    phone.check("input[name=count_metric][value=visits]")
    phone.set_input_files("input[name=logo]", str(_logo(tmp_path / "logo.jpg")))
    phone.click("text=保存设置")
    phone.wait_for_load_state()
    assert "设置已保存" in phone.locator(".flash").inner_text()
    assert phone.locator("a.brand").inner_text() == "珠海市故事会点"
    logo = phone.locator("img.brand-logo")
    assert logo.is_visible() and phone.evaluate("document.querySelector('img.brand-logo').naturalWidth") == 512
    assert phone.locator("input[name=loan_days]").input_value() == "21"
    assert phone.locator("input[name=count_metric][value=visits]").is_checked()
    screenshot(phone, "settings-saved-phone")

    phone.fill("input[name=timezone]", "Moon/Base")
    phone.click("text=保存设置")
    phone.wait_for_load_state()
    assert "时区无效" in phone.locator(".flash-error").inner_text()

    phone.goto(live_server.url + "/admin/audit")
    rows = phone.locator("table.audit tbody tr")
    assert "更换机构标志" in rows.nth(0).inner_text() and "修改设置" in rows.nth(1).inner_text()
    screenshot(phone, "audit-phone")
    assert violations == []


def test_settings_and_audit_on_a_desktop(app, make, live_server, desktop):
    make.user("boss", "admin")
    login(desktop, live_server.url, "boss", PASSWORD)
    desktop.goto(live_server.url + "/admin/settings")
    assert desktop.locator("h1").inner_text() == "设置"
    assert desktop.locator(".system-info").get_by_text("不是 HTTPS").is_visible()
    screenshot(desktop, "settings-desktop")
    desktop.goto(live_server.url + "/admin/audit?action=auth.login")
    assert "登录" in desktop.locator("table.audit tbody").inner_text()
    screenshot(desktop, "audit-desktop")
