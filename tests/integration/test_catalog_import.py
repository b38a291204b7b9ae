"""Catalog import: UTF-8, UTF-8 with BOM and GBK give the same titles; one bad row writes
nothing and is named; XLSX and MARC (binary and MARCXML); the preview page; exports."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Copy, Title
from tests.integration.test_auth import csrf_from

ROWS = [
    ["书名", "作者", "ISBN", "出版社", "出版年", "分类", "年龄段", "册数", "阅读点"],
    ["猜猜我有多爱你", "山姆·麦克布雷尼", "978-7-5332-4178-0", "明天出版社", "2013", "绘本", "3-6", "2", "P01"],
    ["好饿的毛毛虫", "艾瑞·卡尔", "", "明天出版社", "2008年", "绘本", "0-3", "1", "P01"],
    ["十万个为什么", "", "7-5324-5931-4", "少年儿童出版社", "", "科普", "9-12", "", ""],
]


def to_csv(rows, encoding="utf-8", bom=False):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


@pytest.fixture
def lib(make):
    make.point("P01", "三灶镇故事会点")
    return make.token(make.user("lib", "librarian"))


def upload(client, headers, data, name="books.csv", query=""):
    return client.post("/api/v1/import/titles" + query, headers=headers,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def catalog(app):
    with app.app_context(), session_factory(False)() as db:
        titles = sorted(
            (t.title, t.author, t.isbn, t.publisher, t.year, t.category, t.age_band, t.search_initials)
            for t in db.scalars(select(Title))
        )
        copies = db.scalar(select(func.count(Copy.id)))
    return titles, copies


def _fix_isbn(rows):
    # 十万个为什么: compute a valid ISBN-10 so the fixture stays honest
    from stdnum.isbn import _calc_isbn10_check_digit

    body = "753245931"
    rows = [list(r) for r in rows]
    rows[3][2] = f"7-5324-5931-{_calc_isbn10_check_digit(body)}"
    return rows


@pytest.mark.parametrize("encoding, bom", [("utf-8", False), ("utf-8", True), ("gbk", False)])
def test_utf8_bom_and_gbk_files_import_the_same_titles(app, client, lib, encoding, bom):
    rows = _fix_isbn(ROWS)
    r = upload(client, lib, to_csv(rows, encoding, bom))
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"created": 3, "copies_created": 3, "errors": []}
    titles, copies = catalog(app)
    assert copies == 3
    assert titles == sorted([
        ("猜猜我有多爱你", "山姆·麦克布雷尼", "9787533241780", "明天出版社", 2013, "绘本", "3-6", "ccwydan"),
        ("好饿的毛毛虫", "艾瑞·卡尔", None, "明天出版社", 2008, "绘本", "0-3", "hedmmc"),
        ("十万个为什么", "", "978" + rows[3][2].replace("-", "")[:9] + titles_check(rows[3][2]),
         "少年儿童出版社", None, "科普", "9-12", "swgwsm"),
    ])


def titles_check(isbn10):
    from stdnum import ean

    body = "978" + isbn10.replace("-", "")[:9]
    return ean.calc_check_digit(body)


def test_one_bad_row_writes_nothing_and_names_the_row(app, client, lib):
    rows = _fix_isbn(ROWS)
    rows.append(["爷爷一定有办法", "菲比·吉尔曼", "9787533241781", "", "", "", "", "1", "P01"])  # row 5
    r = upload(client, lib, to_csv(rows))
    assert r.status_code == 422
    body = r.get_json()
    assert body["created"] == 0 and body["copies_created"] == 0
    assert [e["row"] for e in body["errors"]] == [5]
    assert "ISBN" in body["errors"][0]["message"]
    assert "第 5 行" in body["error"]["message"] and body["error"]["code"] == "import_failed"
    assert catalog(app) == ([], 0)


def test_partial_import_skips_bad_rows_and_reports_them(app, client, lib):
    rows = _fix_isbn(ROWS)
    rows.append(["", "没有书名", "", "", "", "", "", "", ""])           # row 5
    rows.append(["坏阅读点", "", "", "", "", "", "", "2", "P77"])       # row 6
    r = upload(client, lib, to_csv(rows), query="?partial=1")
    assert r.status_code == 200
    body = r.get_json()
    assert body["created"] == 3 and body["copies_created"] == 3
    assert [(e["row"], "书名" in e["message"] or "P77" in e["message"]) for e in body["errors"]] == [(5, True), (6, True)]


def test_existing_isbn_and_repeated_rows_add_copies_not_titles(app, client, make, lib):
    make.title("猜猜我有多爱你", isbn="9787533241780")
    rows = [ROWS[0], ROWS[1], ["猜猜我有多爱你（重印）", "", "9787533241780", "", "", "", "", "1", "P01"],
            ["新书", "", "", "", "", "", "", "1", "P01"]]
    r = upload(client, lib, to_csv(rows))
    assert r.get_json() == {"created": 1, "copies_created": 4, "errors": []}
    titles, copies = catalog(app)
    assert [t[0] for t in titles] == sorted(["猜猜我有多爱你", "新书"]) and copies == 4


def test_excel_scientific_isbn_gets_a_helpful_message(client, lib):
    rows = [ROWS[0], ["x", "", "9.78753E+12", "", "", "", "", "", ""]]
    body = upload(client, lib, to_csv(rows)).get_json()
    assert "科学计数法" in body["errors"][0]["message"]


@pytest.mark.parametrize("data, says", [
    (b"", "空"), (b"\xff\xfe\x00\x00garbage\x00", "CSV"), ("作者,ISBN\r\nx,y\r\n".encode(), "书名"),
    ("书名,作者\r\n".encode(), "只有表头"),
])
def test_unreadable_files_are_refused_in_chinese(client, lib, data, says):
    r = upload(client, lib, data)
    assert r.status_code == 422 and says in r.get_json()["error"]["message"]


def test_xlsx_upload_imports_too(app, client, lib):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in _fix_isbn(ROWS):
        ws.append(row)
    ws["E2"] = 2013  # a number cell
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, lib, buf.getvalue(), name="books.xlsx")
    assert r.get_json() == {"created": 3, "copies_created": 3, "errors": []}


def _marc_records():
    from pymarc import Field, Indicators, Record, Subfield

    a = Record(force_utf8=True)
    a.leader = a.leader[:9] + "a" + a.leader[10:]
    a.add_field(
        Field(tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", "9787533241780 (精装)")]),
        Field(tag="100", indicators=Indicators("1", " "), subfields=[Subfield("a", "麦克布雷尼,")]),
        Field(tag="245", indicators=Indicators("1", "0"),
              subfields=[Subfield("a", "猜猜我有多爱你 /"), Subfield("c", "山姆·麦克布雷尼文")]),
        Field(tag="264", indicators=Indicators(" ", "1"),
              subfields=[Subfield("b", "明天出版社,"), Subfield("c", "2013.")]),
    )
    b = Record(force_utf8=True)
    b.leader = b.leader[:9] + "a" + b.leader[10:]
    b.add_field(
        Field(tag="245", indicators=Indicators("0", "0"),
              subfields=[Subfield("a", "The very hungry caterpillar :"), Subfield("b", "a story")]),
        Field(tag="260", indicators=Indicators(" ", " "),
              subfields=[Subfield("b", "Philomel,"), Subfield("c", "c1987.")]),
    )
    return [a, b]


def test_marc21_binary_and_marcxml_import_the_same_titles(app, client, lib):
    from pymarc import record_to_xml

    records = _marc_records()
    binary = b"".join(r.as_marc() for r in records)
    xml = (b'<?xml version="1.0" encoding="UTF-8"?><collection xmlns="http://www.loc.gov/MARC21/slim">'
           + b"".join(record_to_xml(r, namespace=False) for r in records) + b"</collection>")
    r = upload(client, lib, binary, name="from-other-library.mrc", query="?copies=1&point=P01")
    assert r.get_json() == {"created": 2, "copies_created": 2, "errors": []}, r.get_json()
    titles, copies = catalog(app)
    assert copies == 2
    assert titles == sorted([
        ("猜猜我有多爱你", "麦克布雷尼", "9787533241780", "明天出版社", 2013, "", "", "ccwydan"),
        ("The very hungry caterpillar : a story", "", None, "Philomel", 1987, "", "",
         "t"),  # pypinyin keeps a Latin run whole: its initial is its first letter
    ])
    # The same records as MARCXML: the ISBN one is already there (copies only), the other is new again
    r = upload(client, lib, xml, name="records.xml")
    assert r.status_code == 200 and r.get_json()["errors"] == []
    titles, _ = catalog(app)
    assert [t[0] for t in titles].count("猜猜我有多爱你") == 1
    assert [t[0] for t in titles].count("The very hungry caterpillar : a story") == 2
    assert {t[3] for t in titles} == {"明天出版社", "Philomel"} and {t[4] for t in titles} == {2013, 1987}


def test_import_page_previews_then_writes_on_confirm(app, client, make):
    make.point("P01")
    make.login(client, make.user("lib", "librarian"))
    page = client.get("/titles/import")
    assert page.status_code == 200 and "下载 CSV 模板" in page.get_data(as_text=True)
    template = client.get("/titles/import/template.csv")
    assert template.data.startswith(b"\xef\xbb\xbf") and "书名,作者,ISBN".encode() in template.data
    r = client.post("/titles/import", data={
        "csrf_token": csrf_from(page.data), "file": (io.BytesIO(to_csv(_fix_isbn(ROWS), "gbk")), "书目.csv"),
    }, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "导入预览" in html and "将新建书目 <strong>3</strong> 种" in html
    assert catalog(app) == ([], 0)  # nothing yet
    r = client.post("/titles/import/confirm", data={"csrf_token": csrf_from(r.data), "token": _token(html)})
    assert r.status_code == 302 and "/labels" in r.headers["Location"]
    assert len(catalog(app)[0]) == 3
    # The staged file is gone: confirming twice does not import twice
    again = client.post("/titles/import/confirm", data={"csrf_token": csrf_from(page.data), "token": _token(html)})
    assert again.status_code == 302 and len(catalog(app)[0]) == 3


def test_import_page_shows_row_errors_and_offers_no_full_import(app, client, make):
    make.point("P01")
    make.login(client, make.user("lib", "librarian"))
    page = client.get("/titles/import")
    rows = _fix_isbn(ROWS) + [["坏书", "", "9787533241781", "", "", "", "", "", ""]]
    r = client.post("/titles/import", data={
        "csrf_token": csrf_from(page.data), "file": (io.BytesIO(to_csv(rows)), "b.csv"),
    }, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert "第 5 行：ISBN 无效" in html and "确认导入" not in html and "只导入没有错误的 3 行" in html
    r = client.post("/titles/import/confirm", data={"csrf_token": csrf_from(r.data), "token": _token(html)})
    assert r.status_code == 422 and catalog(app) == ([], 0)


def _token(html):
    import re

    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_exports_escape_formula_cells(app, client, make):
    make.point("P01")
    title = make.title("=HYPERLINK(\"http://evil\")", author="@作者", isbn="9787533241780")
    make.copy(title)
    make.login(client, make.user("lib", "librarian"))
    r = client.get("/titles/export.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["ID", "书名", "作者", "ISBN"]
    assert rows[1][1].startswith("'=") and rows[1][2] == "'@作者" and rows[1][3] == "978-7-5332-4178-0"
    from openpyxl import load_workbook

    for url in ("/titles/export.xlsx", "/copies/export.xlsx"):
        x = client.get(url)
        assert x.status_code == 200
        ws = load_workbook(io.BytesIO(x.data)).active
        values = [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
        assert not any(v.startswith(("=", "+", "-", "@")) for v in values)
    copies = list(csv.reader(io.StringIO(client.get("/copies/export.csv").data.decode("utf-8-sig"))))
    assert copies[1][0].startswith("B") and copies[1][3] == "在馆可借"
    assert client.get("/titles/export.pdf").status_code == 404
