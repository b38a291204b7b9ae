"""Settings → 套录来源: the admin adds Z39.50 and web sources, orders them, tests each connection;
the password is kept on the server and never shown back; the lookup asks them in that order."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import AuditLog, LookupSourceRow
from tests.integration.test_auth import csrf_from
from tests.lookup_fixtures import openlibrary_fixture, zebra_fixture  # noqa: F401 - shared fixtures
from tests.lookup_servers import GOODNIGHT, SilentServer

SECRET = "s3cret-Passw0rd"


@pytest.fixture
def app_config(db_url, tmp_path) -> dict[str, Any]:
    return {"LOOKUP_TIMEOUT": 1.5}


@pytest.fixture
def admin(client, make):
    make.point("P01", "三灶镇故事会点")
    user = make.user("boss", "admin")
    make.login(client, user)
    return user


def _add(client, **fields) -> Any:
    token = csrf_from(client.get("/admin/settings/lookup").data)
    data = {"csrf_token": token, "enabled": "y", "port": "210", "syntax": "unimarc", "encoding": "utf-8",
            **fields}
    return client.post("/admin/settings/lookup", data=data)


def _rows(app) -> list[LookupSourceRow]:
    with app.app_context(), session_factory(False)() as db:
        rows = list(db.scalars(select(LookupSourceRow).order_by(LookupSourceRow.position)))
        db.expunge_all()
    return rows


def test_add_sources_the_password_is_never_shown_back_and_edits_keep_it(app, client, admin, zebra):
    r = _add(client, name="联合目录", kind="z3950", host="127.0.0.1", port=str(zebra.port),
             database="cnmarc", user="member01", password=SECRET)
    assert r.status_code == 302, r.data.decode()
    [row] = _rows(app)
    assert row.password == SECRET and row.user == "member01"
    page = client.get("/admin/settings/lookup").data.decode()
    assert "联合目录" in page and "member01" in page and "密码已保存，不显示" in page
    assert SECRET not in page
    edit = client.get(f"/admin/settings/lookup/{row.id}").data.decode()
    assert SECRET not in edit and 'name="password"' in edit
    # saved again with the password left empty: the stored one stays
    token = csrf_from(edit.encode())
    r = client.post(f"/admin/settings/lookup/{row.id}", data={
        "csrf_token": token, "name": "联合目录（改名）", "kind": "z3950", "host": "127.0.0.1",
        "port": str(zebra.port), "database": "cnmarc", "syntax": "unimarc", "encoding": "utf-8",
        "user": "member01", "password": "", "enabled": "y"})
    assert r.status_code == 302
    [row] = _rows(app)
    assert row.name == "联合目录（改名）" and row.password == SECRET
    with app.app_context(), session_factory(False)() as db:
        details = [a.details for a in db.scalars(select(AuditLog).where(AuditLog.action.like("lookup_source.%")))]
    assert len(details) == 2 and all(SECRET not in str(d) for d in details)
    assert client.get("/admin/settings").data.decode().count("现在有 1 个来源") == 1


def test_a_bad_source_is_refused_in_chinese_and_nothing_is_saved(app, client, admin):
    r = _add(client, name="缺数据库", kind="z3950", host="127.0.0.1", database="")
    assert r.status_code == 422 and "需要数据库名" in r.data.decode()
    assert _rows(app) == []


def test_order_on_the_page_is_the_order_of_the_records(app, client, admin, make, zebra, openlibrary):
    _add(client, name="Open Library 替身", kind="openlibrary", url=openlibrary.url)
    _add(client, name="MARC21 服务器", kind="z3950", host="127.0.0.1", port=str(zebra.port),
         database="marc21", syntax="marc21")
    lib = make.token(make.user("lib", "librarian"))
    body = client.get(f"/api/v1/lookup/isbn/{GOODNIGHT}", headers=lib).get_json()
    assert [r["source"] for r in body["records"]] == ["Open Library 替身", "MARC21 服务器"]
    second = _rows(app)[1]
    token = csrf_from(client.get("/admin/settings/lookup").data)
    assert client.post(f"/admin/settings/lookup/{second.id}/move", data={"csrf_token": token, "dir": "up"}).status_code == 302
    body = client.get(f"/api/v1/lookup/isbn/{GOODNIGHT}", headers=lib).get_json()
    assert [r["source"] for r in body["records"]] == ["MARC21 服务器", "Open Library 替身"]
    assert [s["name"] for s in body["sources"]] == ["本馆书目", "MARC21 服务器", "Open Library 替身"]


def test_test_connection_reports_success_and_a_silent_server_within_the_timeout(app, client, admin, zebra):
    _add(client, name="联合目录", kind="z3950", host="127.0.0.1", port=str(zebra.port), database="cnmarc")
    silent = SilentServer().start()
    try:
        _add(client, name="不回应", kind="z3950", host="127.0.0.1", port=str(silent.port), database="x")
        good, quiet = _rows(app)
        token = csrf_from(client.get("/admin/settings/lookup").data)
        r = client.post(f"/admin/settings/lookup/{good.id}/test", data={"csrf_token": token}, follow_redirects=True)
        assert "“联合目录”连接成功" in r.data.decode() and "示例查询找到了记录" in r.data.decode()
        started = time.monotonic()
        r = client.post(f"/admin/settings/lookup/{quiet.id}/test", data={"csrf_token": token}, follow_redirects=True)
        assert time.monotonic() - started < 1.5 + 0.4  # the limit, not ZOOM's whole seconds (2)
        assert "“不回应”连接超时" in r.data.decode()
    finally:
        silent.stop()


def test_only_the_admin_sees_the_page(client, make):
    make.point("P01", "三灶镇故事会点")
    make.login(client, make.user("lib", "librarian"))
    assert client.get("/admin/settings/lookup").status_code == 403


def test_examples_fill_the_add_form(client, admin):
    page = client.get("/admin/settings/lookup?example=0").data.decode()
    assert 'value="202.96.31.28"' in page and 'value="UCS01U"' in page and 'value="9991"' in page
    assert "lx2.loc.gov" in page and "LCDB" in page
