"""Catalog pages through the test client: titles, the title form, copies and their status,
the copy page by role, transfers and label sheets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import AuditLog, Copy, Loan, Title, Transfer
from tests.integration.test_auth import csrf_from


@pytest.fixture
def lib(client, make):
    make.point("P01", "三灶镇故事会点")
    user = make.user("lib", "librarian")
    make.login(client, user)
    return user


def test_title_list_searches_and_pages(client, make, lib):
    make.title("猜猜我有多爱你", isbn="9787533241780")
    for i in range(23):
        make.title(f"科普读物{i:02d}", category="科普")
    html = client.get("/titles?q=ccwydan").get_data(as_text=True)
    assert "猜猜我有多爱你" in html and "978-7-5332-4178-0" in html and "科普读物" not in html
    page2 = client.get("/titles?category=科普&page=2").get_data(as_text=True)
    assert "第 2 / 2 页，共 23 条" in page2
    none = client.get("/titles?q=zzzz").get_data(as_text=True)
    assert "没有找到“zzzz”" in none


def test_new_title_form_creates_and_refuses_bad_isbn(app, client, lib):
    page = client.get("/titles/new?isbn=9787533241780")
    html = page.get_data(as_text=True)
    assert 'value="9787533241780"' in html and "catalog-isbn.js" in html
    assert "zxing_reader.wasm" in html  # the polyfill is told where the local wasm is
    bad = client.post("/titles/new", data={"csrf_token": csrf_from(page.data), "title": "坏书号",
                                           "isbn": "9787533241781"})
    assert bad.status_code == 422 and "ISBN 无效" in bad.get_data(as_text=True)
    ok = client.post("/titles/new", data={"csrf_token": csrf_from(page.data), "title": "猜猜我有多爱你",
                                          "isbn": "7-5332-4178-9", "year": "2013", "age_band": "3-6"})
    assert ok.status_code == 302 and "#add-copies" in ok.headers["Location"]
    with app.app_context(), session_factory(False)() as db:
        t = db.scalar(select(Title))
        assert (t.title, t.isbn, t.year, t.search_initials) == ("猜猜我有多爱你", "9787533241780", 2013, "ccwydan")


def test_duplicate_isbn_offers_adding_copies_instead(client, make, lib):
    existing = make.title("猜猜我有多爱你", isbn="9787533241780")
    page = client.get("/titles/new")
    r = client.post("/titles/new", data={"csrf_token": csrf_from(page.data), "title": "另一个名字",
                                         "isbn": "978-7-5332-4178-0"})
    html = r.get_data(as_text=True)
    assert "已经在书目里" in html
    assert f'href="/titles/{existing.id}#add-copies"' in html


def test_edit_title_keeps_search_keys_current(app, client, make, lib):
    t = make.title("猜猜我有多爱你")
    page = client.get(f"/titles/{t.id}/edit")
    r = client.post(f"/titles/{t.id}/edit", data={"csrf_token": csrf_from(page.data),
                                                  "title": "好饿的毛毛虫", "isbn": ""})
    assert r.status_code == 302
    with app.app_context(), session_factory(False)() as db:
        assert db.get(Title, t.id).search_initials == "hedmmc"


def test_add_copies_on_the_title_page_then_print_their_labels(app, client, make, lib):
    t = make.title()
    page = client.get(f"/titles/{t.id}")
    r = client.post(f"/titles/{t.id}/copies", data={"csrf_token": csrf_from(page.data), "point": "P01",
                                                    "count": "3", "source": "donation"})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    codes = re.findall(r">(B\d{7,})</a>", html)
    assert len(codes) == 3 and "已在 三灶镇故事会点 添加 3 册" in html and "打印这些标签" in html
    assert html.count("捐赠") >= 3
    labels = client.get(f"/labels/sheet?mode=range&code_from={codes[0]}&code_to={codes[-1]}")
    assert labels.status_code == 200
    assert re.findall(r'class="label" data-code="(B\d+)"', labels.get_data(as_text=True)) == codes
    bad = client.post(f"/titles/{t.id}/copies", data={"csrf_token": csrf_from(page.data), "point": "P01",
                                                      "count": "500"})
    assert "1 到 200" in client.get(bad.headers["Location"]).get_data(as_text=True)


def test_qr_url_lands_on_the_copy_page(client, make, lib):
    copy = make.copy(make.title("好饿的毛毛虫"))
    r = client.get(f"/s/{copy.code.lower()}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/copies/{copy.code}")
    html = client.get(f"/copies/{copy.code}").get_data(as_text=True)
    assert "好饿的毛毛虫" in html and "在馆可借" in html
    assert f'src="/api/v1/copies/{copy.code}/qr.png"' in html
    assert 'data-action="lost"' in html and 'data-action="withdraw"' in html
    assert client.get("/copies/B0000000").status_code in (400, 404)
    typo = copy.code[:-1] + str((int(copy.code[-1]) + 1) % 10)
    assert "校验位" in client.get(f"/copies/{typo}").get_data(as_text=True)


def test_story_mother_sees_the_copy_without_catalog_actions(client, make):
    make.point("P01")
    copy = make.copy(make.title("好饿的毛毛虫"))
    child = make.borrower("王小明", point="P01")
    make.loan(copy, child)
    make.login(client, make.user("mama", "story_mother", points=["P02"]))
    html = client.get(f"/copies/{copy.code}").get_data(as_text=True)
    assert "借出中" in html and "王*明" in html and "王小明" not in html
    assert 'data-action="lost"' not in html and "馆藏操作" not in html
    assert client.get("/titles").status_code == 403 and client.get("/labels").status_code == 403
    r = client.post(f"/copies/{copy.code}/status", data={"action": "lost"})
    assert r.status_code in (400, 403)


def test_viewer_sees_no_borrower_on_a_copy(client, make):
    make.point("P01")
    copy = make.copy(make.title())
    make.loan(copy, make.borrower("王小明"))
    make.login(client, make.user("funder", "viewer"))
    html = client.get(f"/copies/{copy.code}").get_data(as_text=True)
    assert "借出中" in html and "王" not in html.split("<main", 1)[1]


def test_marking_an_on_loan_copy_lost_ends_the_loan(app, client, make, lib):
    copy = make.copy(make.title())
    loan = make.loan(copy, make.borrower("王小明"))
    page = client.get(f"/copies/{copy.code}")
    assert 'data-action="damaged"' not in page.get_data(as_text=True)  # on loan: only "lost"
    r = client.post(f"/copies/{copy.code}/status", data={"csrf_token": csrf_from(page.data), "action": "lost"})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已标记为遗失" in html and "原来的借阅已结束" in html
    with app.app_context(), session_factory(False)() as db:
        assert db.get(Copy, copy.id).status == "lost"
        closed = db.get(Loan, loan.id)
        assert closed.returned_at is not None and closed.outcome == "lost"
        assert db.scalar(select(AuditLog.action).where(AuditLog.target_id == copy.code)) == "copy.lost"
    page = client.get(f"/copies/{copy.code}")
    r = client.post(f"/copies/{copy.code}/status", data={"csrf_token": csrf_from(page.data), "action": "damaged"})
    assert "不能标记损坏" in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post(f"/copies/{copy.code}/status", data={"csrf_token": csrf_from(page.data), "action": "found"})
    with app.app_context(), session_factory(False)() as db:
        assert db.get(Copy, copy.id).status == "available"


def test_transfer_scanned_copies_all_or_nothing(app, client, make, lib):
    make.point("P02", "红旗镇故事会点")
    a, b = make.copy(make.title("书一")), make.copy(make.title("书二"))
    on_loan = make.copy(make.title("书三"))
    make.loan(on_loan, make.borrower())
    page = client.get("/transfers/new")
    assert 'id="transfer-scan"' in page.get_data(as_text=True)
    refused = client.post("/transfers/new", data={
        "csrf_token": csrf_from(page.data), "to_point": "P02",
        "codes": f"{a.code}\nhttp://x/s/{b.code.lower()}\n{on_loan.code}\nB1234567",
    })
    html = refused.get_data(as_text=True)
    assert "调拨没有进行" in html and on_loan.code in html and "B1234567" in html
    with app.app_context(), session_factory(False)() as db:
        assert db.scalar(select(Transfer)) is None
    ok = client.post("/transfers/new", data={"csrf_token": csrf_from(page.data), "to_point": "P02",
                                             "codes": f"{a.code}\n http://x/s/{b.code.lower()} \n{a.code}",
                                             "notes": "春季轮换"})
    assert ok.status_code == 302
    listing = client.get("/transfers").get_data(as_text=True)
    assert "P01 三灶镇故事会点" in listing and "P02 红旗镇故事会点" in listing and "2 册" in listing
    assert "春季轮换" in listing and a.code in listing
    with app.app_context(), session_factory(False)() as db:
        t = db.scalar(select(Transfer))
        assert len(t.items) == 2 and t.by_id == lib.id
        assert {db.get(Copy, i.copy_id).current_point.code for i in t.items} == {"P02"}


def test_move_one_copy_from_its_page(app, client, make, lib):
    make.point("P02", "红旗镇")
    copy = make.copy(make.title())
    page = client.get(f"/copies/{copy.code}")
    r = client.post(f"/copies/{copy.code}/move", data={"csrf_token": csrf_from(page.data), "point": "P02"})
    assert "已调到 P02" in client.get(r.headers["Location"]).get_data(as_text=True)


def _labels(html):
    return re.findall(r'class="label" data-code="(B\d+)" data-content="([^"]+)"', html)


def test_label_sheets_by_title_since_and_start_position(app, client, make, lib):
    t = make.title("猜猜我有多爱你")
    copies = [make.copy(t) for _ in range(5)]
    other = make.copy(make.title("别的书"))
    lost = make.copy(t, status="lost")
    form = client.get(f"/labels?mode=title&title={t.id}").get_data(as_text=True)
    assert "《猜猜我有多爱你》" in form
    html = client.get(f"/labels/sheet?mode=title&title={t.id}&layout=3x8&start=23").get_data(as_text=True)
    assert [c for c, _ in _labels(html)] == sorted(c.code for c in copies)
    assert html.count('class="sheet sheet-3x8"') == 2
    assert html.count("label label-empty") == 22 + (24 - 3)
    assert lost.code not in html
    with_lost = client.get(f"/labels/sheet?mode=title&title={t.id}&all_statuses=1").get_data(as_text=True)
    assert lost.code in with_lost
    today = datetime.now(UTC).date().isoformat()
    since = client.get(f"/labels/sheet?mode=since&since={today}&layout=4x10").get_data(as_text=True)
    assert len(_labels(since)) == 6 and other.code in since and 'sheet-4x10' in since
    assert "猜猜我有多爱你" in since and "P01 三灶镇故事会点" in since
    by_name = client.get("/labels/sheet?mode=title&title=猜猜我有多爱你").get_data(as_text=True)
    assert len(_labels(by_name)) == 5


def test_label_sheet_refusals_are_chinese_4xx(client, make, lib):
    make.title("绘本一")
    make.title("绘本二")
    ambiguous = client.get("/labels/sheet?mode=title&title=绘本")
    assert ambiguous.status_code == 422 and "绘本一" in ambiguous.get_data(as_text=True)
    assert client.get("/labels/sheet?mode=since&since=昨天").status_code == 422
    assert client.get("/labels/sheet?mode=range&code_from=B0000017&code_to=B9999999").status_code == 422
    assert client.get("/labels/sheet?mode=range&code_from=B0000019&code_to=B0000026").status_code == 422  # B0000018 is valid
    nothing = client.get("/labels/sheet?mode=since&since=2020-01-01")
    assert nothing.status_code == 404 and "没有符合条件的馆藏" in nothing.get_data(as_text=True)
    make.copy(make.title("绘本三"))
    start = client.get("/labels/sheet?mode=since&since=2020-01-01&start=99")
    assert start.status_code == 422 and "起始位置应在 1 到 24 之间" in start.get_data(as_text=True)


def test_label_qr_content_is_the_scan_url_when_a_base_url_is_set(app, client, make, lib):
    from tests.integration.test_catalog_api import set_base_url

    set_base_url(app, "http://192.168.1.20:5000")
    copy = make.copy(make.title())
    html = client.get(f"/labels/sheet?mode=range&code_from={copy.code}&code_to={copy.code}").get_data(as_text=True)
    assert _labels(html) == [(copy.code, f"http://192.168.1.20:5000/s/{copy.code}")]
