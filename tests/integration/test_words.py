"""The words on the pages (issue 15): zone names, display names, one date style, error pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from library_app.db import session_factory
from library_app.models import User


def _name(app, user, display_name):
    with app.app_context(), session_factory()() as db:
        db.get(User, user.id).display_name = display_name
        db.commit()


def test_reports_say_beijing_time_not_the_zone_key(app, client, make):
    make.point("P01")
    make.login(client, make.user("lib", "librarian"))
    for url in ("/reports/year/", "/reports/month/"):
        r = client.get(url, follow_redirects=True)
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and "按北京时间划分" in html, url
        assert "Asia/Shanghai" not in html, url


def test_accounts_are_shown_by_display_name_in_the_audit_log_and_a_childs_access_log(app, client, make):
    make.point("P01")
    boss = make.user("boss", "admin")
    _name(app, boss, "林老师")
    child = make.borrower("王小明", point="P01")
    make.login(client, boss)
    html = client.get(f"/borrowers/{child.id}").get_data(as_text=True)
    assert re.search(r"<li>[^<]*· 林老师 · 查看</li>", html)
    html = client.get("/admin/audit").get_data(as_text=True)
    assert re.search(r'<td data-label="用户">林老师 <span[^>]*>boss</span></td>', html)
    assert "林老师" in client.get("/admin/audit?user=林老师").get_data(as_text=True)
    assert "共 0 条" not in client.get("/admin/audit?user=林老师").get_data(as_text=True)


def test_one_date_style_on_a_childs_loans(app, client, make):
    make.point("P01")
    child = make.borrower("王小明", point="P01")
    lent = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    make.loan(make.copy(make.title("好饿的毛毛虫")), child, lent_at=lent)
    make.login(client, make.user("lib", "librarian"))
    html = client.get(f"/borrowers/{child.id}").get_data(as_text=True)
    assert "借于 2026-11-20" in html and "应还 2026-12-04" in html
    assert not re.search(r"借于 \d\d-\d\d ", html)


def test_error_pages_say_what_happened_without_an_error_code(client, make):
    make.login(client, make.user("mama", "story_mother"))
    for url, status in (("/no/such/page", 404), ("/admin/users", 403)):
        r = client.get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == status
        assert "错误代码" not in html and not re.search(rf"\b{status}\b", html.split("<body")[1]), url


def test_english_is_offered_and_used_only_on_pages_whose_strings_are_all_translated(client, make):
    boss = make.user("boss", "admin")
    login = client.get("/login").get_data(as_text=True)
    assert ">English</button>" in login
    client.set_cookie("lang", "en")
    assert "<h1>Sign in</h1>" in client.get("/login").get_data(as_text=True)
    make.login(client, boss)
    for url in ("/home", "/borrowers/", "/admin/settings"):
        html = client.get(url).get_data(as_text=True)
        # a Chinese page stays wholly Chinese: no English menu over Chinese content, no switch
        assert '<html lang="zh-CN">' in html and ">Sign out<" not in html and "退出登录" in html, url
        assert ">English</button>" not in html and ">中文</button>" not in html, url
