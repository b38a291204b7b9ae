"""Reports through the API and the pages: shapes from api.md, who sees what, and the same month
agreeing in JSON, CSV, XLSX and the page; targets; the home page counters."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from tests.integration.test_auth import csrf_from
from tests.integration.test_reports_counting import add_loans

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def october(app, make):
    """A small October 2026 at two points, with titles and a story mother whose names would
    be formulas in a spreadsheet if they were not escaped."""
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "平沙镇故事会点")
    mother = make.user("mama1", "story_mother", points=["P01"])
    books = [make.title("=HYPERLINK(\"http://evil\")", category="绘本", age_band="3-6"),
             make.title("猜猜我有多爱你", category="绘本", age_band="3-6"),
             make.title("-减号开头的书", category="科普", age_band="6-9")]
    kids = [make.borrower("王小明"), make.borrower("李小红", point="P02")]
    rows = []
    for i in range(6):
        rows.append({"lent_at": utc(2026, 10, 3 + i, 8), "borrower_id": kids[i % 2].id,
                     "title_id": books[i % 3].id, "point": "P01" if i % 2 == 0 else "P02",
                     "lent_by_id": mother.id, "due_at": utc(2026, 10, 17 + i, 8),
                     "returned_at": utc(2026, 10, 20, 8) if i < 3 else None,
                     "returned_by_id": mother.id if i < 3 else None,
                     "return_kind": "normal" if i < 3 else ""})
    rows.append({"lent_at": utc(2026, 9, 10, 8), "borrower_id": kids[0].id, "title_id": books[1].id})
    rows.append({"lent_at": utc(2025, 10, 10, 8), "borrower_id": kids[0].id, "title_id": books[1].id})
    add_loans(app, *rows)
    return mother


def as_user(app, make, role):
    client = app.test_client()
    make.login(client, make.user(f"{role}_x", role))
    return client


def test_year_json_has_the_fields_of_api_md(app, make, october):
    client = as_user(app, make, "viewer")
    body = client.get("/api/v1/reports/year/2026").get_json()
    for key in ("year", "target", "metric", "count", "percent", "expected_to_date", "forecast",
                "months", "points"):
        assert key in body
    assert body["year"] == 2026 and body["target"] == 12000 and body["metric"] == "loans"
    assert body["count"] == 7 and body["percent"] == 0.1
    assert len(body["months"]) == 12 and body["months"][9]["month"] == "2026-10"
    assert body["months"][9]["count"] == 6 and body["months"][8]["count"] == 1
    assert body["points"][:2] == [{"code": "P01", "name": "三灶镇故事会点", "count": 4, "tally": 0},
                                  {"code": "P02", "name": "平沙镇故事会点", "count": 3, "tally": 0}]
    assert body["same_date_last_year"] == 1 and body["last_year_total"] == 1
    assert 0 < body["expected_to_date"] < 12000 and body["forecast"] >= 7


def test_month_json_has_the_fields_of_api_md(app, make, october):
    body = as_user(app, make, "librarian").get("/api/v1/reports/month/2026-10").get_json()
    for key in ("month", "loans", "returns", "distinct_borrowers", "new_borrowers", "points",
                "age_bands", "categories", "top_titles", "overdue_at_end"):
        assert key in body
    assert (body["month"], body["loans"], body["returns"], body["distinct_borrowers"]) == ("2026-10", 6, 3, 2)
    assert body["overdue_at_end"] == 3
    assert body["top_titles"][0]["loans"] == 2 and len(body["top_titles"]) == 3
    assert body["age_bands"] == [{"age_band": "3-6", "loans": 4}, {"age_band": "6-9", "loans": 2}]
    assert body["categories"] == [{"category": "绘本", "loans": 4}, {"category": "科普", "loans": 2}]
    assert body["previous"]["loans"] == 1 and body["last_year"]["loans"] == 1
    assert body["staff"] == [{"name": "mama1", "role": "story_mother", "loans": 6, "returns": 3}]


def test_point_filter(app, make, october):
    client = as_user(app, make, "viewer")
    body = client.get("/api/v1/reports/month/2026-10?point=P02").get_json()
    assert body["point"] == "P02" and body["loans"] == 3 and [p["code"] for p in body["points"]] == ["P02"]
    r = client.get("/api/v1/reports/month/2026-10?point=P77")
    assert r.status_code == 404 and "P77" in r.get_json()["error"]["message"]


def test_a_viewer_sees_aggregates_only(app, make, october):
    client = as_user(app, make, "viewer")
    assert "staff" not in client.get("/api/v1/reports/month/2026-10").get_json()
    assert "经办人" not in client.get("/api/v1/reports/month/2026-10.csv").get_data().decode("utf-8-sig")
    html = client.get("/reports/month/2026-10").get_data(as_text=True)
    assert "经办人" not in html and "mama1" not in html and "王小明" not in html


def test_story_mothers_do_not_get_reports(app, make, october):
    client = app.test_client()
    make.login(client, october)
    for url in ("/api/v1/reports/month/2026-10", "/api/v1/reports/year/2026", "/reports/year/2026",
                "/reports/month/2026-10", "/api/v1/reports/month/2026-10.xlsx"):
        assert client.get(url).status_code == 403


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads the Chinese correctly
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> tuple[list[list[str]], list]:
    ws = load_workbook(io.BytesIO(data)).active
    rows = [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
    cells = [c for row in ws.iter_rows() for c in row]
    return [r[:len(_trim(r))] for r in rows], cells


def _trim(row: list[str]) -> list[str]:
    while row and row[-1] == "":
        row = row[:-1]
    return row


def test_csv_xlsx_json_and_page_agree_on_the_same_month(app, make, october):
    client = as_user(app, make, "librarian")
    body = client.get("/api/v1/reports/month/2026-10").get_json()
    csv_r = client.get("/api/v1/reports/month/2026-10.csv")
    xlsx_r = client.get("/api/v1/reports/month/2026-10.xlsx")
    assert csv_r.status_code == 200 and "attachment" in csv_r.headers["Content-Disposition"]
    assert xlsx_r.mimetype.endswith("spreadsheetml.sheet")
    rows = _csv_rows(csv_r.data)
    xrows, cells = _xlsx_rows(xlsx_r.data)
    assert [_trim(r) for r in rows] == [_trim(r) for r in xrows]
    # in Excel each section's header row is bold and the labels' column wide enough
    sheet = load_workbook(io.BytesIO(xlsx_r.data)).active
    headers = [r[0].value for r in sheet.iter_rows() if r[0].font is not None and r[0].font.bold]
    assert {"指标", "阅读点", "年龄段", "分类", "热门书目", "经办人"} <= set(headers)
    assert "借出次数" not in headers and sheet.column_dimensions["A"].width == 28

    def figure(label: str) -> list[str]:
        return next(r for r in rows if r and r[0] == label)[1:4]

    assert figure("借出次数") == [str(body["loans"]), str(body["previous"]["loans"]),
                               str(body["last_year"]["loans"])]
    assert figure("归还次数")[0] == str(body["returns"])
    assert figure("借阅人数")[0] == str(body["distinct_borrowers"])
    assert figure("新登记小读者")[0] == str(body["new_borrowers"])
    assert figure("月末逾期未还")[0] == str(body["overdue_at_end"])
    points = {r[0]: r[2] for r in rows if r and re.fullmatch(r"P\d\d", r[0])}
    assert points == {p["code"]: str(p["loans"]) for p in body["points"]}
    top = rows[rows.index(["热门书目", "借出次数"]) + 1:]
    top = top[:top.index([])]
    assert [int(r[1]) for r in top] == [t["loans"] for t in body["top_titles"]]

    html = client.get("/reports/month/2026-10").get_data(as_text=True)
    for name in ("loans", "returns", "distinct_borrowers", "new_borrowers", "overdue_at_end"):
        assert re.search(rf'data-figure="{name}">{body[name]}<', html), name
    for t in body["top_titles"]:
        assert f"<strong>{t['loans']}</strong>" in html
    assert 'href="/api/v1/reports/month/2026-10.csv"' in html and "2026-10.xlsx" in html


def test_exports_escape_cells_that_would_be_formulas(app, make, october):
    client = as_user(app, make, "admin")
    text = client.get("/api/v1/reports/month/2026-10.csv").get_data().decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'-减号开头的书" in text
    assert not re.search(r"(^|,)\"?[=+\-@]", text, re.M)
    _rows, cells = _xlsx_rows(client.get("/api/v1/reports/month/2026-10.xlsx").data)
    strings = [c for c in cells if isinstance(c.value, str)]
    assert any(c.value == "'=HYPERLINK(\"http://evil\")" for c in strings)
    assert all(c.data_type != "f" for c in cells)
    assert not any(c.value.startswith(("=", "+", "-", "@")) for c in strings)


def test_pages_default_to_the_current_year_and_month(app, make):
    client = as_user(app, make, "viewer")
    r = client.get("/reports/year/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/reports/year/2026")
    r = client.get("/reports/month/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/reports/month/2026-11")
    r = client.get("/reports/month/?month=2026-3&point=P01")
    assert r.headers["Location"].endswith("/reports/month/2026-03?point=P01")
    with app.test_request_context():
        from flask import url_for
        assert url_for("reports.year") == "/reports/year/" and url_for("reports.month") == "/reports/month/"


def test_bad_addresses_give_chinese_4xx(app, make):
    client = as_user(app, make, "viewer")
    for url, status in (("/reports/year/20x6", 400), ("/reports/month/2026-13", 400),
                        ("/reports/month/?month=oops", 400), ("/api/v1/reports/month/2026-1x.csv", 400),
                        ("/api/v1/reports/year/1800", 400)):
        r = client.get(url)
        assert r.status_code == status, url
        assert "年" in r.get_data(as_text=True) or "月" in r.get_data(as_text=True)


def test_year_and_month_pages_show_the_figures(app, make, october):
    client = as_user(app, make, "librarian")
    html = client.get("/reports/year/2026").get_data(as_text=True)
    assert 'data-testid="year-count">7<' in html and "目标 12,000" in html
    assert "按进度今天应达" in html and "按目前速度全年预计" in html and "每月还需" in html
    assert "去年同期" in html and "三灶镇故事会点" in html
    assert html.count('class="bar"') + html.count('class="bar muted"') >= 2  # the bar chart
    assert 'class="target-line"' in html and 'class="pace"' in html
    month_html = client.get("/reports/month/2026-10").get_data(as_text=True)
    assert "2026年10月 月度报告" in month_html and "比上月" in month_html and "比去年同月" in month_html
    assert "经办人" in month_html and "mama1" in month_html
    assert "<svg" in month_html and "@page" not in month_html  # print CSS lives in reports.css
    css = client.get("/static/css/reports.css").get_data(as_text=True)
    assert "@page { size: A4" in css


def test_the_month_page_shows_paper_tallies_where_a_compared_month_has_them(app, make, october):
    """Last October was counted on paper: its row says so, instead of a count with no loans."""
    client = as_user(app, make, "librarian")
    assert 'data-figure="tally"' not in client.get("/reports/month/2026-10").get_data(as_text=True)
    staff = make.token(make.user("lib2", "librarian"))
    r = app.test_client().post("/api/v1/tallies", json={"point": "P01", "month": "2025-10", "loans": 843},
                               headers=staff)
    assert r.status_code == 201, r.get_json()
    html = client.get("/reports/month/2026-10").get_data(as_text=True)
    row = re.search(r'其中纸质记录.*?data-figure="tally">(\d+)<.*?比去年同月" class="num">(\d+)(.*?)</td>', html, re.S)
    assert row is not None and row.groups()[:2] == ("0", "843")
    assert "chg" not in row.group(3)  # the paper count itself, no "−100%" beside it


def test_targets_admin_only_and_validated(app, make, october):
    admin = make.token(make.user("boss", "admin"))
    lib = make.token(make.user("lib", "librarian"))
    client = app.test_client()
    r = client.put("/api/v1/targets/2026", json={"target": 15000}, headers=admin)
    assert r.status_code == 200 and r.get_json() == {"year": 2026, "target": 15000}
    assert client.get("/api/v1/reports/year/2026", headers=admin).get_json()["target"] == 15000
    assert client.get("/api/v1/reports/year/2025", headers=admin).get_json()["target"] == 12000
    assert client.put("/api/v1/targets/2026", json={"target": 1}, headers=lib).status_code == 403
    for bad in (0, -5, "lots", None, True):
        r = client.put("/api/v1/targets/2026", json={"target": bad}, headers=admin)
        assert r.status_code == 422 and "目标" in r.get_json()["error"]["message"]
    assert client.put("/api/v1/targets/26", json={"target": 5}, headers=admin).status_code == 400
    # the page form, with its CSRF token
    page_client = as_user(app, make, "admin")
    page = page_client.get("/reports/year/2026")
    r = page_client.post("/reports/year/2026/target", data={"csrf_token": csrf_from(page.data), "target": "13000"})
    assert r.status_code == 302
    assert "目标 13,000" in page_client.get("/reports/year/2026").get_data(as_text=True)


def test_tally_and_import_pages(app, make, october):
    client = as_user(app, make, "librarian")
    page = client.get("/reports/tallies")
    r = client.post("/reports/tallies", data={"csrf_token": csrf_from(page.data), "point": "P02",
                                              "month": "2026-01", "loans": "250"}, follow_redirects=True)
    assert "已录入 P02 2026-01 的纸质记录：250 人次" in r.get_data(as_text=True)
    r = client.post("/reports/tallies", data={"csrf_token": csrf_from(page.data), "point": "P02",
                                              "month": "2027-01", "loans": "250"})
    assert r.status_code == 422 and "尚未到来" in r.get_data(as_text=True)
    page = client.get("/reports/import")
    data = {"csrf_token": csrf_from(page.data),
            "file": (io.BytesIO("time,point\n2026-02-03 10:00,P01\n".encode("gbk")), "old.csv")}
    r = client.post("/reports/import", data=data, follow_redirects=True)
    assert "已导入 1 条借阅记录" in r.get_data(as_text=True)
    assert client.get("/api/v1/reports/month/2026-02").get_json()["loans"] == 1


def test_home_counters(app, make, october):
    add_loans(app, {"lent_at": NOW.replace(hour=1), "point": "P01"},   # today at her point
              {"lent_at": NOW.replace(hour=2), "point": "P02"})        # today elsewhere
    mother = app.test_client()
    make.login(mother, october)
    html = mother.get("/home").get_data(as_text=True)
    assert 'data-testid="point-today">1<' in html and 'data-testid="point-month">1<' in html
    assert 'data-testid="home-year-count">9<' in html
    viewer = as_user(app, make, "viewer")
    html = viewer.get("/home").get_data(as_text=True)
    assert 'data-testid="home-year-count">9<' in html and "point-today" not in html


def test_report_command_prints_the_month(app, make, october, runner):
    r = runner.invoke(args=["report", "--month", "2026-10"])
    assert r.exit_code == 0, r.output
    assert "2026年10月 月度报告（全部阅读点" in r.output
    assert "借出次数：6" in r.output and "归还次数：3" in r.output and "月末逾期未还：3" in r.output
    assert "P01 三灶镇故事会点：3" in r.output and "mama1：借出 6，归还 3" in r.output
    assert "2026 年累计：7 / 目标 12000" in r.output
    r = runner.invoke(args=["report", "--month", "2026-10", "--point", "P02"])
    assert r.exit_code == 0 and "借出次数：3" in r.output
    r = runner.invoke(args=["report", "--month", "2026-13"])
    assert r.exit_code != 0 and "月份需在 1 到 12 之间" in r.output
    r = runner.invoke(args=["report"])  # this month by default
    assert r.exit_code == 0 and "2026年11月" in r.output and "本月尚未结束" in r.output


def test_pages_under_the_visits_metric(app, make, october):
    from tests.integration.test_reports_counting import set_setting

    set_setting(app, "count_metric", "visits")
    client = as_user(app, make, "librarian")
    year_html = client.get("/reports/year/2026").get_data(as_text=True)
    assert "统计口径：到访人次" in year_html
    month_html = client.get("/reports/month/2026-10").get_data(as_text=True)
    assert "统计口径：到访人次" in month_html and "<th class=\"num\">到访人次</th>" in month_html
    rows = _csv_rows(client.get("/api/v1/reports/month/2026-10.csv").data)
    assert next(r for r in rows if r and r[0] == "到访人次")[1] == "6"  # six loans, six child-days


def test_a_month_still_running_is_compared_up_to_the_same_day_and_time(app, make):
    """On 15 November at 12:00 (Beijing), November so far is compared with 1-15 October up to
    12:00 and 1-15 November 2025, not with whole months (which made every month look like a
    fall until its last days); a finished month is still compared with whole months."""
    from tests.integration.test_reports_counting import set_setting

    make.point("P01", "三灶镇故事会点")
    kid, other, late = make.borrower("王小明"), make.borrower("李小红"), make.borrower("赵小雨")
    beijing = [(2026, 11, 2, 10), (2026, 11, 14, 10),                       # November so far
               (2026, 10, 10, 10), (2026, 10, 15, 9), (2026, 10, 15, 9, 30),  # October to the 15th, 12:00
               (2026, 10, 15, 13), (2026, 10, 28, 10),                      # October after it
               (2025, 11, 1, 10), (2025, 11, 20, 10)]                       # November 2025
    add_loans(app, *[{"lent_at": datetime(*t, tzinfo=UTC) - (datetime(2000, 1, 1, 8) - datetime(2000, 1, 1)),
                      "borrower_id": {(2026, 10, 15, 9, 30): other, (2026, 10, 15, 13): late}.get(t, kid).id}
                     for t in beijing])
    client = as_user(app, make, "librarian")
    body = client.get("/api/v1/reports/month/2026-11").get_json()
    assert body["loans"] == 2
    assert (body["previous"]["loans"], body["last_year"]["loans"]) == (3, 1)
    assert body["previous"]["until"] == "2026-10-15T04:00:00+00:00"
    assert body["last_year"]["until"] == "2025-11-15T04:00:00+00:00" and body["until"] is None
    page = client.get("/reports/month/2026-11").get_data(as_text=True)
    assert "比上月同期（2026年10月1日–15日）" in page and "比去年同期（2025年11月1日–15日）" in page
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/reports/month/2026-11.csv").get_data(as_text=True)
                                       .lstrip("\ufeff"))))
    assert ["指标", "2026年11月", "上月同期（2026年10月1日–15日）", "去年同期（2025年11月1日–15日）"] in rows

    finished = client.get("/api/v1/reports/month/2026-10").get_json()  # October against whole months
    assert (finished["loans"], finished["previous"]["until"], finished["last_year"]["until"]) == (5, None, None)
    assert "比上月（2026年9月）" in client.get("/reports/month/2026-10").get_data(as_text=True)

    set_setting(app, "count_metric", "visits")  # the cut day: two children before 12:00, one after
    body = client.get("/api/v1/reports/month/2026-11").get_json()
    assert (body["count"], body["previous"]["visits"], body["previous"]["count"]) == (2, 3, 3)
