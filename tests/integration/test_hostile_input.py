"""Issue 13, items 3, 6 and 8: what an attack on the running app sent, and what it must get back
now: a Chinese message and a 4xx (or the right answer), never a 500, within seconds and flat
memory. Each case is one the tester sent; each is refused at the shared layer that reads it."""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
import zipfile
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from PIL import Image
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Loan, Title
from library_app.services import catalog_import, import_files

BIG = 2**63


@pytest.fixture
def admin(make):
    make.point("P01", "三灶镇故事会点")
    return make.token(make.user("boss", "admin"))


def _error(r, status=(400, 404, 413, 422)):
    assert r.status_code in status, (r.status_code, r.get_data(as_text=True)[:300])
    if r.is_json:
        message = r.get_json()["error"]["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message
        return r.get_json()["error"]
    return None


def _raw_post(client, url, body: str, headers=None):
    return client.post(url, data=body.encode("utf-8", "surrogatepass"), headers=headers or {},
                       content_type="application/json")


# ---------------------------------------------------------------- JSON bodies (item 8)

def test_a_lone_surrogate_is_bad_json_everywhere_also_before_login(client, admin):
    body = '{"title": "\\ud800猜猜我有多爱你"}'
    err = _error(_raw_post(client, "/api/v1/titles", body, admin), (400,))
    assert err["code"] == "bad_json" and "无效的字符" in err["message"]
    err = _error(_raw_post(client, "/api/v1/auth/token", '{"username": "\\ud800", "password": "x"}'), (400,))
    assert err["code"] == "bad_json"
    assert _error(_raw_post(client, "/api/v1/borrowers",
                            '{"name": "a", "point": "P01", "guardian_name": "\\udfff", "consent": true}',
                            admin), (400,))["code"] == "bad_json"
    with client.application.app_context(), session_factory(False)() as db:
        assert db.scalar(select(func.count(Title.id))) == 0


def test_json_nested_fifty_thousand_deep_is_refused_quickly(client, admin):
    started = time.monotonic()
    body = '{"events": ' + "[" * 50_000 + "]" * 50_000 + "}"
    err = _error(_raw_post(client, "/api/v1/circulation/events", body, admin), (400,))
    assert err["code"] == "bad_json" and "嵌套太深" in err["message"]
    err = _error(_raw_post(client, "/api/v1/auth/token", "[" * 50_000 + "]" * 50_000), (400,))
    assert err["code"] == "bad_json"
    assert time.monotonic() - started < 5


def test_control_characters_are_refused_at_input(client, admin):
    err = _error(client.post("/api/v1/titles", json={"title": "猜猜\x1b我有多爱你"}, headers=admin), (400,))
    assert "控制字符" in err["message"]
    err = _error(client.post("/api/v1/points", json={"code": "P09", "name": "\x1b[31m点"}, headers=admin), (400,))
    assert "控制字符" in err["message"]
    # tab and newline are text, not controls
    ok = client.post("/api/v1/titles", json={"title": "猜猜我有多爱你", "notes": "第一行\n第二行\t完"},
                     headers=admin)
    assert ok.status_code == 201


# ---------------------------------------------------------------- integers (item 8)

@pytest.mark.parametrize("url", [
    f"/api/v1/borrowers/{BIG}", f"/api/v1/titles/{BIG}", f"/api/v1/borrowers/{BIG * 10**6}/export",
    f"/borrowers/{BIG}",
])
def test_ids_beyond_64_bits_are_not_found(client, admin, make, url):
    if not url.startswith("/api"):
        make.login(client, make.user("lib2", "librarian"))
    _error(client.get(url, headers=admin), (404,))


def test_a_huge_page_is_the_last_page(client, admin, make):
    make.title("猜猜我有多爱你")
    for url in (f"/api/v1/borrowers?page={BIG}", f"/api/v1/borrowers?page=-{BIG}",
                f"/api/v1/titles?page={BIG}", f"/api/v1/titles?per_page={BIG}"):
        r = client.get(url, headers=admin)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[:300])


def test_huge_page_on_the_pages(client, make):
    make.point("P01")
    make.login(client, make.user("lib3", "librarian"))
    for url in (f"/titles?page={BIG}", f"/borrowers/?page={BIG}", f"/circulation/loans?page={BIG}"):
        assert client.get(url).status_code == 200, url


def test_integers_beyond_64_bits_in_json_are_bad_json(client, admin, make):
    card = make.unbound_card()
    err = _error(_raw_post(client, f"/api/v1/cards/{card.code}/bind", f'{{"borrower": {BIG}}}', admin), (400,))
    assert err["code"] == "bad_json" and "数字太大" in err["message"]
    err = _error(_raw_post(client, "/api/v1/titles", '{"title": "书", "year": 1' + "0" * 5000 + "}", admin), (400,))
    assert err["code"] == "bad_json"


# ---------------------------------------------------------------- search (item 8)

def test_a_fifty_thousand_character_search_answers(client, admin, make):
    make.borrower("王小明")
    started = time.monotonic()
    for url in ("/api/v1/borrowers?q=", "/api/v1/titles?q="):
        r = client.get(url + "王" * 50_000, headers=admin)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
    r = client.get("/api/v1/borrowers?q=" + "王小明" + " " * 40_000 + "x" * 10_000, headers=admin)
    assert r.status_code == 200
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- dates (item 8)

@pytest.mark.parametrize("url", [
    "/labels/sheet?mode=since&since=0001-01-01", "/labels/sheet?mode=since&since=9999-12-31",
    "/cards/sheet?since=0001-01-01",
])
def test_year_one_dates_in_sheets_are_refused_in_chinese(client, make, url):
    make.point("P01")
    make.login(client, make.user("lib4", "librarian"))
    r = client.get(url)
    assert r.status_code == 422, r.status_code
    assert "2000 年到 2100 年之间" in r.get_data(as_text=True)


def _loans_csv(*rows):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([["time", "point"], *rows])
    return buf.getvalue().encode("utf-8")


def _import_loans(client, headers, data, query=""):
    return client.post("/api/v1/import/loans" + query, headers=headers,
                       data={"file": (io.BytesIO(data), "loans.csv")}, content_type="multipart/form-data")


def test_year_one_in_a_loan_import_is_a_row_error(app, client, admin):
    r = _import_loans(client, admin, _loans_csv(["2025-03-08 15:30", "P01"], ["0001-01-01 00:00", "P01"]))
    assert r.status_code == 422
    assert r.get_json()["errors"] == [{"row": 3, "message": "时间“0001-01-01T00:00:00”不对：应在 2000 年到 2100 年之间。"}]
    r = _import_loans(client, admin, _loans_csv(["2025-03-08 15:30", "P01"], ["0001-01-01 00:00", "P01"]),
                      "?partial=1")
    assert r.status_code == 201 and r.get_json()["created"] == 1
    with app.app_context(), session_factory(False)() as db:
        assert db.scalar(select(func.count(Loan.id))) == 1


# ---------------------------------------------------------------- CSV fields (item 8)

def test_a_csv_field_over_the_limit_is_that_rows_error(app, client, admin):
    huge = "书" * 140_000
    r = _import_loans(client, admin, _loans_csv(["2025-03-08 15:30", "P01"], ["2025-03-09 10:00", huge],
                                                ["2025-03-10 10:00", "P01"]), "?partial=1")
    assert r.status_code == 201, r.get_data(as_text=True)[:300]
    body = r.get_json()
    assert body["created"] == 2 and body["errors"][0]["row"] == 3
    assert "超过 131,072 个字符" in body["errors"][0]["message"]
    data = ("书名,作者\r\n猜猜我有多爱你,山姆\r\n" + huge + ",x\r\n").encode("utf-8")
    r = client.post("/api/v1/import/titles", headers=admin,
                    data={"file": (io.BytesIO(data), "books.csv")}, content_type="multipart/form-data")
    err = _error(r, (422,))
    assert "第 3 行" in err["message"] and "131,072" in err["message"]


# ---------------------------------------------------------------- spreadsheets (items 3 and 8)

def _xlsx(far_cell: str | None = None, rows=(("书名", "作者"), ("猜猜我有多爱你", "山姆"))) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(list(row))
    if far_cell:
        ws[far_cell].font = Font(bold=True)  # a blank cell with a style: written, and in <dimension>
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _peak_mb(fn):
    tracemalloc.start()
    try:
        started = time.monotonic()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - the refusal is the result
            result = exc
        seconds = time.monotonic() - started
        return result, tracemalloc.get_traced_memory()[1] / 2**20, seconds
    finally:
        tracemalloc.stop()


def test_a_blank_cell_at_xfd8000_is_read_in_flat_memory(app, client, admin):
    data = _xlsx("XFD8000")
    assert len(data) < 10_000
    table, peak, seconds = _peak_mb(lambda: import_files.read_table(data, "xlsx"))
    assert table[:2] == [["书名", "作者"], ["猜猜我有多爱你", "山姆"]]
    assert all(len(r) <= 2 for r in table)
    assert peak < 20 and seconds < 10, (peak, seconds)
    r = client.post("/api/v1/import/titles", headers=admin,
                    data={"file": (io.BytesIO(data), "books.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["created"] == 1, r.get_data(as_text=True)[:300]


def test_a_blank_cell_at_xfd1048576_is_refused_on_the_declared_size(client, admin):
    data = _xlsx("XFD1048576")
    error, peak, seconds = _peak_mb(lambda: import_files.read_table(data, "xlsx"))
    assert isinstance(error, catalog_import.rules.BadImportFile) and "20000 行" in error.message
    assert peak < 20 and seconds < 2, (peak, seconds)
    started = time.monotonic()
    r = client.post("/api/v1/import/titles", headers=admin,
                    data={"file": (io.BytesIO(data), "books.xlsx")}, content_type="multipart/form-data")
    assert "20000 行" in _error(r, (422,))["message"] and time.monotonic() - started < 3


def _rewrite(data: bytes, part: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, change(body) if info.filename == part else body)
    return out.getvalue()


def test_a_dimension_smaller_than_the_data_does_not_drop_rows():
    data = _rewrite(_xlsx(rows=[("书名",), ("一",), ("二",), ("三",)]), "xl/worksheets/sheet1.xml",
                    lambda b: b.replace(b'<dimension ref="A1:A4"/>', b'<dimension ref="A1:A2"/>'))
    assert import_files.read_table(data, "xlsx") == [["书名"], ["一"], ["二"], ["三"]]


def test_an_xlsx_with_a_dtd_is_refused(client, admin):
    dtd = b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE worksheet [<!ENTITY x "y">]>\n'
    data = _rewrite(_xlsx(), "xl/worksheets/sheet1.xml",
                    lambda b: dtd + b.split(b"?>", 1)[-1])
    r = client.post("/api/v1/import/titles", headers=admin,
                    data={"file": (io.BytesIO(data), "books.xlsx")}, content_type="multipart/form-data")
    assert "DTD" in _error(r, (422,))["message"]


def test_an_xlsx_that_unzips_to_gigabytes_is_refused_unread():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/sharedStrings.xml", b" " * (80 * 2**20))
    error, peak, _ = _peak_mb(lambda: import_files.read_table(out.getvalue(), "xlsx"))
    assert isinstance(error, catalog_import.rules.BadImportFile) and "解压后超过" in error.message
    assert peak < 5


# ---------------------------------------------------------------- images (item 3)

def _bomb_png(side=6000) -> bytes:
    out = io.BytesIO()
    Image.new("1", (side, side), 1).save(out, format="PNG")  # 36 MP in a few KB
    return out.getvalue()


def test_a_logo_of_6000_by_6000_pixels_is_refused_before_decoding(app):
    from library_app.admin.logo import LogoRefused, checked_logo

    data = _bomb_png()
    assert len(data) < 100_000
    with app.app_context():
        error, peak, seconds = _peak_mb(lambda: checked_logo(data, 2 * 2**20))
    assert isinstance(error, LogoRefused) and "图片尺寸太大" in error.message
    assert peak < 5 and seconds < 1, (peak, seconds)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_settings_page_refuses_the_logo_bomb(client, make):
    from tests.integration.test_settings import _post

    make.login(client, make.user("boss2", "admin"))
    r = _post(client, logo=(io.BytesIO(_bomb_png()), "logo.png"))
    assert r.status_code == 422 and "图片尺寸太大" in r.get_data(as_text=True)


# ---------------------------------------------------------------- exports (item 6)

def test_escape_in_a_title_and_a_point_name_does_not_break_the_xlsx_exports(app, client, make):
    from library_app.db import session_factory as sf
    from library_app.models import Point

    make.point("P01", "三灶镇故事会点")
    with app.app_context(), sf()() as db:  # as an import or an old row could have stored them
        db.scalars(select(Point)).one().name = "三灶\x1b镇故事会点"
        db.commit()
    title = make.title("猜猜\x1b我有多爱你", author="\x1b=HYPERLINK(\"http://evil\")")
    copy = make.copy(title)
    kid = make.borrower()
    make.loan(copy, kid, lent_at=datetime(2026, 10, 8, 3, 0, tzinfo=UTC))
    make.login(client, make.user("lib5", "librarian"))
    for url in ("/titles/export.xlsx", "/copies/export.xlsx", "/api/v1/reports/month/2026-10.xlsx"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
        ws = load_workbook(io.BytesIO(r.data)).active
        values = [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
        assert not any("\x1b" in v for v in values)
        assert not any(v.startswith(("=", "+", "-", "@")) for v in values)
        assert any("猜猜我有多爱你" in v for v in values), url
        if "copies" in url or "reports" in url:
            assert any("三灶镇故事会点" in v for v in values), url
    csv_text = client.get("/api/v1/reports/month/2026-10.csv").get_data().decode("utf-8-sig")
    assert "猜猜\x1b我有多爱你" in csv_text  # the CSV keeps the text as stored


def test_json_checks_are_cheap_for_normal_bodies():
    from library_app.domain import jsontext

    events = {"events": [{"id": f"e{i}", "type": "loan", "copy": "B000123", "card": "C000045",
                          "point": "P01", "at": "2026-10-08T10:00:00+08:00"} for i in range(500)]}
    text = json.dumps(events, ensure_ascii=False)
    assert jsontext.loads(text) == events
