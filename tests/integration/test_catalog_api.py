"""Catalog API (api.md "Catalog"): titles, search, copies, copy lookup with privacy by role, QR images."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from library_app.domain.codes import parse_code, sequence_number

ISBN13 = "9787533241780"


@pytest.fixture
def lib(make):
    make.point("P01", "三灶镇故事会点")
    return make.token(make.user("lib", "librarian"))


def test_create_title_normalises_isbn10_to_13_and_fills_pinyin(client, lib):
    r = client.post("/api/v1/titles", json={"title": "猜猜我有多爱你", "isbn": "7-5332-4178-9",
                                            "author": "山姆·麦克布雷尼", "year": 2013, "age_band": "3-6"},
                    headers=lib)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["isbn"] == ISBN13 and isinstance(body["id"], int)
    assert body["pinyin"] == "caicaiwoyouduoaini" and body["initials"] == "ccwydan"
    none = client.post("/api/v1/titles", json={"title": "没有书号的捐赠书"}, headers=lib)
    assert none.status_code == 201 and none.get_json()["isbn"] is None


def test_bad_check_digit_is_refused_with_invalid_isbn(client, lib):
    r = client.post("/api/v1/titles", json={"title": "x", "isbn": "9787533241781"}, headers=lib)
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_isbn" and "ISBN" in err["message"]
    assert client.get("/api/v1/titles", headers=lib).get_json()["titles"] == []


def test_same_isbn_twice_points_at_the_existing_title(client, lib):
    first = client.post("/api/v1/titles", json={"title": "猜猜我有多爱你", "isbn": ISBN13}, headers=lib).get_json()
    r = client.post("/api/v1/titles", json={"title": "猜猜我有多爱你（又一本）", "isbn": "978-7-5332-4178-0"},
                    headers=lib)
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "duplicate_isbn"
    assert r.get_json()["error"]["title_id"] == first["id"]


def test_missing_title_and_bad_json_are_4xx(client, lib):
    assert client.post("/api/v1/titles", json={"isbn": ISBN13}, headers=lib).status_code == 422
    r = client.post("/api/v1/titles", data="not json", headers={**lib, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_json"


def test_search_by_title_author_isbn_and_pinyin(client, make, lib):
    make.title("猜猜我有多爱你", author="山姆·麦克布雷尼", isbn=ISBN13)
    make.title("好饿的毛毛虫", author="艾瑞·卡尔")
    make.title("爷爷一定有办法", author="菲比·吉尔曼")

    def found(q):
        r = client.get("/api/v1/titles", query_string={"q": q}, headers=lib)
        assert r.status_code == 200
        return [t["title"] for t in r.get_json()["titles"]]

    assert found("毛毛虫") == ["好饿的毛毛虫"]
    assert found("卡尔") == ["好饿的毛毛虫"]
    assert found("ccwydan") == ["猜猜我有多爱你"]        # initials
    assert found("CCW") == ["猜猜我有多爱你"]            # a prefix of the initials, any case
    assert found("caicai") == ["猜猜我有多爱你"]         # full pinyin
    assert found("mao mao chong") == ["好饿的毛毛虫"]    # pinyin typed with spaces
    assert found("978-7-5332-4178-0") == ["猜猜我有多爱你"]
    assert found("7533241789") == ["猜猜我有多爱你"]     # its ISBN-10
    assert found("猜猜 麦克") == ["猜猜我有多爱你"]       # two words, both must match
    assert found("100%_") == []                          # LIKE wildcards are literal
    assert len(found("")) == 3
    assert client.get("/api/v1/titles", query_string={"isbn": "7-5332-4178-9"}, headers=lib).get_json()["titles"][0]["isbn"] == ISBN13


def test_search_is_paginated(client, make, lib):
    for i in range(25):
        make.title(f"绘本{i:02d}")
    page1 = client.get("/api/v1/titles?q=huiben&per_page=10", headers=lib).get_json()
    page3 = client.get("/api/v1/titles?q=huiben&per_page=10&page=3", headers=lib).get_json()
    assert page1["total"] == 25 and page1["pages"] == 3 and len(page1["titles"]) == 10
    assert len(page3["titles"]) == 5
    assert not {t["id"] for t in page1["titles"]} & {t["id"] for t in page3["titles"]}


def test_add_copies_gives_fresh_checked_codes_after_the_highest(client, make, lib):
    title = make.title()
    existing = make.copy(title)  # builders use large sequence numbers
    r = client.post(f"/api/v1/titles/{title.id}/copies", json={"point": "P01", "count": 3}, headers=lib)
    assert r.status_code == 201
    copies = r.get_json()["copies"]
    assert [c["status"] for c in copies] == ["available"] * 3 and {c["point"] for c in copies} == {"P01"}
    numbers = [sequence_number(parse_code(c["code"]).code) for c in copies]
    assert numbers == [sequence_number(existing.code) + i for i in (1, 2, 3)]
    again = client.post(f"/api/v1/titles/{title.id}/copies", json={"point": "p01", "count": 1}, headers=lib)
    assert sequence_number(again.get_json()["copies"][0]["code"]) == numbers[-1] + 1


@pytest.mark.parametrize("payload, status", [
    ({"point": "P01", "count": 0}, 422), ({"point": "P01", "count": 201}, 422),
    ({"point": "P01", "count": "3"}, 422), ({"point": "P99", "count": 1}, 404),
])
def test_add_copies_refuses_bad_input(client, make, lib, payload, status):
    title = make.title()
    r = client.post(f"/api/v1/titles/{title.id}/copies", json=payload, headers=lib)
    assert r.status_code == status and r.get_json()["error"]["message"]


def test_story_mother_cannot_edit_the_catalog(client, make):
    make.point("P01")
    mama = make.token(make.user("mama", "story_mother", points=["P01"]))
    title = make.title()
    assert client.post("/api/v1/titles", json={"title": "x"}, headers=mama).status_code == 403
    assert client.post(f"/api/v1/titles/{title.id}/copies", json={"point": "P01", "count": 1},
                       headers=mama).status_code == 403
    assert client.get("/api/v1/titles?q=x", headers=mama).status_code == 403


def test_copy_lookup_accepts_any_form_and_refuses_typos(client, make, lib):
    copy = make.copy(make.title("好饿的毛毛虫"))
    r = client.get(f"/api/v1/copies/{copy.code.lower()}", headers=lib)
    assert r.status_code == 200
    body = r.get_json()
    assert body["code"] == copy.code and body["status"] == "available" and body["point"] == "P01"
    assert body["title"]["title"] == "好饿的毛毛虫" and body["loan"] is None
    typo = copy.code[:-1] + str((int(copy.code[-1]) + 1) % 10)
    bad = client.get(f"/api/v1/copies/{typo}", headers=lib)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "bad_check_digit"
    from library_app.domain.codes import make_code

    unknown = client.get(f"/api/v1/copies/{make_code('copy', 999998)}", headers=lib)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "unknown_copy"


def test_copy_loan_shows_the_borrower_by_role(client, make):
    make.point("P01")
    make.point("P02")
    copy = make.copy(make.title(), point="P01")
    child = make.borrower("王小明", point="P01")
    make.loan(copy, child, point="P01")
    card = make.card_code(child)

    def loan_for(user):
        r = client.get(f"/api/v1/copies/{copy.code}", headers=make.token(user))
        assert r.status_code == 200
        return r.get_json()["loan"]

    staff = loan_for(make.user("lib", "librarian"))
    assert staff["borrower"] == {"name": "王小明", "card": card}
    assert staff["lent_at"] and staff["due_at"]
    own = loan_for(make.user("mama1", "story_mother", points=["P01"]))
    assert own["borrower"] == {"name": "王小明", "card": card}
    other = loan_for(make.user("mama2", "story_mother", points=["P02"]))
    assert other["borrower"] == {"name": "王*明", "card": None}
    viewer = loan_for(make.user("funder", "viewer"))
    assert viewer["borrower"] is None and viewer["due_at"]


def set_base_url(app, url):
    """The public base URL as an admin sets it on the settings page (stored in the database)."""
    from datetime import UTC, datetime

    from library_app.db import session_factory
    from library_app.services.settings import update_settings

    with app.app_context(), session_factory()() as db:
        update_settings(db, None, datetime.now(UTC), {"public_base_url": url}, app.config)
        db.commit()


def _decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_copy_qr_png_holds_the_bare_code_without_a_base_url(client, make, lib):
    copy = make.copy(make.title())
    r = client.get(f"/api/v1/copies/{copy.code}/qr.png", headers=lib)
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert _decode(r.data) == [copy.code]


def test_copy_qr_holds_the_scan_url_with_a_base_url(app, client, make):
    set_base_url(app, "http://192.168.1.20:5000/")
    copy = make.copy(make.title())
    mama = make.token(make.user("mama", "story_mother", points=["P01"]))
    r = client.get(f"/api/v1/copies/{copy.code}/qr.png", headers=mama)
    assert _decode(r.data) == [f"http://192.168.1.20:5000/s/{copy.code}"]
    svg = client.get(f"/api/v1/copies/{copy.code}/qr.svg", headers=mama)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get(f"/api/v1/copies/{copy.code}", headers=mama).get_json()["qr_content"] == \
        f"http://192.168.1.20:5000/s/{copy.code}"


def test_copy_status_and_transfer_api(client, make, lib):
    make.point("P02", "红旗镇")
    copy = make.copy(make.title())
    r = client.post(f"/api/v1/copies/{copy.code}/status", json={"action": "damaged"}, headers=lib)
    assert r.status_code == 200 and r.get_json()["status"] == "damaged"
    r = client.post(f"/api/v1/copies/{copy.code}/status", json={"action": "found"}, headers=lib)
    assert r.status_code == 409 and "损坏" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/transfers", json={"to": "P02", "codes": [copy.code]}, headers=lib)
    assert r.status_code == 201 and r.get_json()["count"] == 1
    assert client.get(f"/api/v1/copies/{copy.code}", headers=lib).get_json()["point"] == "P02"
