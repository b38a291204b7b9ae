"""First run proposes the public URL; label and card sheets warn on screen, never on paper (issue 15)."""

from __future__ import annotations

from tests.builders import PASSWORD
from tests.e2e.conftest import login
from tests.e2e.test_loans_pages import shot


def test_first_run_proposes_the_address_and_the_sheets_warn_until_one_is_set(app, make, live_server, phone, desktop):
    # the live server is on 127.0.0.1: this computer's own address, so it is not ticked for her
    phone.goto(live_server.url + "/setup")
    assert phone.locator("input[name=public_base_url]").input_value() == live_server.url
    assert not phone.locator("input[name=use_public_url]").is_checked()
    assert phone.locator("text=这是本机地址").is_visible()
    shot(phone, "f2-setup-phone")
    phone.fill("input[name=username]", "boss")
    phone.fill("input[name=display_name]", "林老师")
    phone.fill("input[name=password]", PASSWORD)
    phone.fill("input[name=confirm]", PASSWORD)
    phone.fill("input[name=public_base_url]", "http://192.168.1.20:8000")
    phone.check("input[name=use_public_url]")
    phone.click("button[type=submit]")
    phone.wait_for_load_state()
    assert "管理员账号已创建" in phone.content(), phone.locator(".error, .flash").all_inner_texts()
    phone.goto(live_server.url + "/admin/settings")
    assert phone.locator("input[name=public_base_url]").input_value() == "http://192.168.1.20:8000"
    shot(phone, "f2-settings-phone")

    # a second organisation's machine that left it empty: the sheets warn, on screen only
    with app.app_context():
        from library_app.db import session_factory
        from library_app.models import Setting

        with session_factory()() as db:
            db.query(Setting).filter(Setting.key == "public_base_url").delete()
            db.commit()
    make.point("P01", "三灶镇故事会点")
    copy = make.copy(make.title("猜猜我有多爱你"))
    make.borrower("王小明", point="P01")
    login(desktop, live_server.url, "boss", PASSWORD)
    for path, name in ((f"/labels/sheet?mode=range&code_from={copy.code}&code_to={copy.code}", "labels"),
                       ("/cards/sheet?point=P01", "cards")):
        desktop.goto(live_server.url + path)
        warning = desktop.locator(".public-url-warning")
        assert warning.is_visible() and "还没有设置公开网址" in warning.inner_text()
        shot(desktop, f"f2-{name}-sheet-warning-desktop")
        desktop.emulate_media(media="print")
        assert not warning.is_visible()  # never on the printed sheet
        desktop.emulate_media(media="screen")
    desktop.click(".public-url-warning a")
    desktop.wait_for_load_state()
    assert desktop.url.endswith("/admin/settings#public_base_url")
    shot(desktop, "f2-settings-desktop")
    phone.goto(live_server.url + "/labels")
    shot(phone, "f2-labels-warning-phone")
