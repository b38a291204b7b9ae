from tests.builders import PASSWORD
from tests.e2e.conftest import login, screenshot


def test_admin_logs_in_through_the_real_login_page(app, make, live_server, phone):
    make.point("P01", "三灶镇故事会点")
    make.user("boss", "admin")
    phone.goto(live_server.url + "/")
    assert phone.title().startswith("登录")
    assert phone.locator("h1").inner_text() == "登录"
    screenshot(phone, "login-phone")
    login(phone, live_server.url, "boss", PASSWORD)
    assert phone.url.endswith("/home")
    assert "你好，boss" in phone.locator("h1").inner_text()
    phone.click("summary")  # the phone menu
    assert phone.locator("details.menu nav").get_by_text("阅读点").is_visible()
    assert phone.locator("details.menu nav").get_by_text("用户").is_visible()
    screenshot(phone, "home-admin-phone")


def test_wrong_password_shows_chinese_message(app, make, live_server, desktop):
    make.user("boss", "admin")
    login(desktop, live_server.url, "boss", "wrong-password")
    assert "用户名或密码不正确" in desktop.content()
    screenshot(desktop, "login-error-desktop")


def test_pages_carry_a_strict_csp_and_run_no_inline_script(app, make, live_server, desktop):
    make.user("boss", "admin")
    violations = []
    desktop.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    response = desktop.goto(live_server.url + "/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "'unsafe-inline'" not in csp
    login(desktop, live_server.url, "boss", PASSWORD)
    assert violations == []
