"""The settings page (admin): values go through services/settings.py, are audited, and take
effect on the pages; the logo upload is checked by content and size."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import AuditLog
from library_app.services.settings import get_settings
from tests.integration.test_auth import csrf_from

FORM = {
    "org_name": "珠海故事会", "timezone": "Asia/Shanghai", "public_base_url": "",
    "loan_limit": "3", "loan_days": "14", "max_renewals": "1", "undo_minutes": "10",
    "count_metric": "loans", "default_year_target": "12000", "retention_months": "24",
}


def _png(size=(40, 20), color=(200, 30, 30), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def admin_client(client, make):
    make.login(client, make.user("boss", "admin"))
    return client


def _post(client, **changes):
    token = csrf_from(client.get("/admin/settings").data)
    data = {**FORM, "csrf_token": token, **changes}
    return client.post("/admin/settings", data=data, content_type="multipart/form-data")


def _stored(app):
    with app.app_context(), session_factory()() as db:
        return get_settings(db, app.config)


def test_settings_page_shows_the_current_values(admin_client):
    page = admin_client.get("/admin/settings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>设置</h1>" in html
    assert 'value="Asia/Shanghai"' in html and 'value="14"' in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "不是 HTTPS" in html  # the test client speaks plain http


def test_saving_settings_stores_them_audits_and_shows_them(app, admin_client):
    r = _post(admin_client, org_name="珠海市故事会点", loan_limit="5", loan_days="21",
              count_metric="visits", public_base_url="https://lib.example.org/", timezone="Asia/Hong_Kong")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/settings")
    s = _stored(app)
    assert (s.org_name, s.loan_limit, s.loan_days, s.count_metric, s.timezone) == (
        "珠海市故事会点", 5, 21, "visits", "Asia/Hong_Kong")
    assert s.public_base_url == "https://lib.example.org"
    home = admin_client.get("/home").get_data(as_text=True)
    assert "珠海市故事会点" in home  # the new name is on every page
    with app.app_context(), session_factory()() as db:
        entry = db.scalars(select(AuditLog).where(AuditLog.action == "settings.update")).one()
        assert entry.details["changes"]["loan_limit"] == 5
        assert "loan_days" in entry.details["changes"] and "max_renewals" not in entry.details["changes"]


def test_the_time_zone_setting_changes_how_times_are_shown(app, admin_client):
    from flask import render_template_string

    utc_noon = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    _post(admin_client, timezone="UTC")
    with app.test_request_context():
        assert render_template_string("{{ t|localtime }}", t=utc_noon) == "2026-01-01 12:00"
    _post(admin_client, timezone="Asia/Shanghai")
    with app.test_request_context():
        assert render_template_string("{{ t|localtime }}", t=utc_noon) == "2026-01-01 20:00"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("changes, message", [
    ({"timezone": "Mars/Olympus"}, "时区无效"),
    ({"public_base_url": "lib.example.org"}, "http:// 或 https://"),
    ({"loan_limit": "0"}, "1 到 50"),
    ({"loan_days": "abc"}, "整数"),
    ({"count_metric": "pages"}, "Not a valid choice"),
    ({"org_name": ""}, "请填写机构名称"),
])
def test_invalid_values_are_refused_with_a_reason_and_nothing_changes(app, admin_client, changes, message):
    r = _post(admin_client, **changes)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert message in html or message == "Not a valid choice" and "has-error" in html
    assert _stored(app).org_name == "故事会点借阅"  # nothing saved, not even the valid fields


def test_logo_upload_is_checked_resized_served_and_shown(app, admin_client):
    big = _png(size=(1600, 800), fmt="JPEG")
    r = _post(admin_client, logo=(io.BytesIO(big), "logo.jpg"))
    assert r.status_code == 302
    home = admin_client.get("/home").get_data(as_text=True)
    src = re.search(r'<img class="brand-logo" src="([^"]+)"', home).group(1)
    served = admin_client.get(src)
    assert served.status_code == 200 and served.mimetype == "image/png"
    img = Image.open(io.BytesIO(served.data))
    assert img.format == "PNG" and max(img.size) == 512  # re-encoded by the app, resized
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(AuditLog.action).where(AuditLog.action == "settings.logo"))
    # and it can be removed again
    r = _post(admin_client, remove_logo="y")
    assert r.status_code == 302
    assert "brand-logo" not in admin_client.get("/home").get_data(as_text=True)
    assert admin_client.get("/admin/logo.png").status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("content, name", [
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.png"),
    (b"GIF89a<script>alert(1)</script>", "logo.gif"),  # the right magic bytes, not an image
    (b"MZ\x90\x00 an executable", "logo.jpg"),
])
def test_logo_that_is_not_an_image_by_content_is_refused(app, admin_client, content, name):
    r = _post(admin_client, logo=(io.BytesIO(content), name))
    assert r.status_code == 422
    assert "不是可用的图片" in r.get_data(as_text=True)
    assert admin_client.get("/admin/logo.png").status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_logo_in_an_unsupported_format_or_too_big_is_refused(app, admin_client):
    r = _post(admin_client, logo=(io.BytesIO(_png(fmt="BMP")), "logo.bmp"))
    assert r.status_code == 422 and "只支持 PNG、JPEG、WebP 或 GIF" in r.get_data(as_text=True)
    app.config["LOGO_MAX_BYTES"] = 2000
    noisy = Image.effect_noise((200, 200), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    assert len(out.getvalue()) > 2000
    r = _post(admin_client, logo=(io.BytesIO(out.getvalue()), "logo.png"))
    assert r.status_code == 422 and "标志图片太大" in r.get_data(as_text=True)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_only_admins_reach_settings_and_the_audit_log(client, make):
    for role in ("librarian", "story_mother", "viewer"):
        make.login(client, make.user(role=role))
        assert client.get("/admin/settings").status_code == 403
        assert client.get("/admin/audit").status_code == 403
        assert client.post("/admin/settings", data=FORM).status_code in (400, 403)


def test_audit_log_lists_newest_first_and_filters(app, admin_client, make):
    from library_app.services import audit

    other = make.user("lib", "librarian")
    with app.app_context(), session_factory()() as db:
        for minute, (action, actor) in enumerate([("point.create", None), ("borrower.view", other),
                                                  ("borrower.export", other)]):
            user = db.get(type(other), other.id) if actor else None
            audit.record(db, user, datetime(2026, 5, 1, 2, minute, tzinfo=UTC), action, "borrower", 7,
                         ip="10.1.2.3", via="page")
        db.commit()
    page = admin_client.get("/admin/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert html.index("导出小读者资料") < html.index("查看小读者资料") < html.index("添加阅读点")
    assert "2026-05-01 10:02:00" in html  # shown in Beijing time
    assert "10.1.2.3" in html and "小读者 #7" in html
    only = admin_client.get("/admin/audit?action=borrower.view").get_data(as_text=True)
    assert "查看小读者资料" in only and "导出小读者资料" not in only.split("<tbody>")[1]
    by_user = admin_client.get("/admin/audit?user=LIB").get_data(as_text=True).split("<tbody>")[1]
    assert "查看小读者资料" in by_user and "添加阅读点" not in by_user
    prefix = admin_client.get("/admin/audit?action=borrower.").get_data(as_text=True).split("<tbody>")[1]
    assert "导出" in prefix and "查看" in prefix and "添加阅读点" not in prefix


def _setup_post(client, base, **fields):
    page = client.get("/setup", base_url=base)
    data = {"csrf_token": csrf_from(page.data), "username": "boss", "display_name": "林老师",
            "password": "long-enough-1", "confirm": "long-enough-1", **fields}
    return page, client.post("/setup", data=data, base_url=base)


def test_first_run_proposes_the_address_she_used_as_the_public_url_and_stores_it_when_confirmed(app, client):
    page, r = _setup_post(client, "http://192.168.1.20:8000",
                          public_base_url="http://192.168.1.20:8000", use_public_url="y")
    html = page.get_data(as_text=True)
    assert 'name="public_base_url"' in html and 'value="http://192.168.1.20:8000"' in html
    assert re.search(r'<input checked id="use_public_url"|id="use_public_url"[^>]*checked', html)
    assert r.status_code == 302
    assert _stored(app).public_base_url == "http://192.168.1.20:8000"
    with app.app_context(), session_factory()() as db:
        [changes] = db.scalars(select(AuditLog.details).where(AuditLog.action == "settings.update")).all()
    assert changes["changes"] == {"public_base_url": "http://192.168.1.20:8000"}
    # the label sheet then prints URLs and no warning
    labels = client.get("/labels", base_url="http://192.168.1.20:8000")
    assert labels.status_code == 200 and "还没有设置公开网址" not in labels.get_data(as_text=True)


def test_first_run_on_this_computers_own_address_does_not_propose_it(app, client):
    page, r = _setup_post(client, "http://127.0.0.1:5000", public_base_url="http://127.0.0.1:5000")
    html = page.get_data(as_text=True)
    assert "这是本机地址" in html and not re.search(r'id="use_public_url"[^>]*checked|checked id="use_public_url"', html)
    assert r.status_code == 302 and _stored(app).public_base_url == ""  # not ticked: not stored


def test_first_run_refuses_a_confirmed_public_url_that_is_not_a_web_address(app, client):
    _, r = _setup_post(client, "http://lib.example.org", public_base_url="lib.example.org", use_public_url="y")
    assert r.status_code == 200 and "公开网址需以 http:// 或 https:// 开头" in r.get_data(as_text=True)
    from library_app.models import User

    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(User.id)) is None  # nothing half-made: she fixes it and submits again


def test_label_and_card_print_pages_warn_on_screen_while_no_public_url_is_set(app, admin_client, make):
    make.point("P01")
    copy = make.copy(make.title("好饿的毛毛虫"))
    make.borrower("王小明", point="P01")
    pages = ["/labels", f"/labels/sheet?mode=range&code_from={copy.code}&code_to={copy.code}",
             "/cards/", "/cards/sheet?point=P01"]
    for url in pages:
        r = admin_client.get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == 200, url
        assert 'class="public-url-warning no-print"' in html and "还没有设置公开网址" in html, url
        assert 'href="/admin/settings#public_base_url"' in html, url
    _post(admin_client, public_base_url="https://lib.example.org")
    for url in pages:
        r = admin_client.get(url)
        assert r.status_code == 200 and "还没有设置公开网址" not in r.get_data(as_text=True), url
