"""Cataloguing from an ISBN (issue 19; api.md "Cataloguing from an ISBN"): the lookup chain against
a real Z39.50 server (Index Data's Zebra, started here with CNMARC and MARC 21 records), a stand-in
for Open Library, and a server that accepts connections and never answers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lookup_fixtures import openlibrary_fixture, silent_fixture, zebra_fixture  # noqa: F401 - shared fixtures
from tests.lookup_servers import (
    CAICAI,
    CAOFANG,
    GBK_BOOK,
    GOODNIGHT,
    NOWHERE,
    OL_ONLY,
    OpenLibraryStandIn,
    SilentServer,
    Zebra,
)


@pytest.fixture
def app_config(zebra: Zebra, openlibrary: OpenLibraryStandIn, db_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "LOOKUP_SOURCES": json.dumps([zebra.source("cnmarc"), zebra.source("cngbk"),
                                      zebra.source("marc21"), openlibrary.source()]),
        "LOOKUP_TIMEOUT": 3,
    }


@pytest.fixture
def lib(make: Any) -> dict[str, str]:
    make.point("P01", "三灶镇故事会点")
    return make.token(make.user("lib", "librarian"))


def _lookup(client: Any, headers: dict[str, str], isbn: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/lookup/isbn/{isbn}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _status(body: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in body["sources"]}


def test_cnmarc_record_by_hyphenated_isbn13_fills_every_field(client, lib):
    body = _lookup(client, lib, CAICAI)
    assert body["isbn"] == CAICAI
    assert _status(body) == {"本馆书目": "not_found", "测试联合目录": "found", "测试GBK目录": "not_found",
                             "测试MARC21目录": "not_found", "Open Library（测试）": "not_found"}
    assert all(isinstance(s["ms"], int) and s["ms"] >= 0 for s in body["sources"])
    [rec] = body["records"]
    assert {k: rec[k] for k in ("source", "title", "author", "publisher", "year", "pages", "price",
                                "clc", "summary")} == {
        "source": "测试联合目录", "title": "猜猜我有多爱你", "author": "麦克布雷尼，梅子涵",
        "publisher": "明天出版社", "year": 2013, "pages": 32, "price": "CNY29.80", "clc": "I561.85",
        "summary": "小兔子和大兔子比赛，看谁的爱更多。",
    }
    assert rec["category"] == "绘本" and rec["isbn"] == CAICAI
    assert "$a978-7-5332-4178-0$dCNY29.80" in rec["raw"]


def test_a_record_stored_under_the_old_isbn10_is_found_from_the_13_digits(client, lib):
    body = _lookup(client, lib, CAOFANG)
    [rec] = body["records"]
    assert rec["title"] == "草房子" and rec["author"] == "曹文轩" and rec["year"] == 1997
    assert rec["pages"] == 298 and rec["category"] == "文学"
    # typed as the ISBN-10 with hyphens, the answer is the same book under its ISBN-13
    again = _lookup(client, lib, "7-5052-5555-X")
    assert again["isbn"] == CAOFANG and again["records"][0]["title"] == "草房子"


def test_gb18030_source_is_decoded_as_gb18030_not_marc8(client, lib):
    body = _lookup(client, lib, GBK_BOOK)
    assert _status(body)["测试GBK目录"] == "found"
    [rec] = body["records"]
    assert rec["title"] == "小猪唏哩呼噜" and rec["publisher"] == "新蕾出版社" and rec["author"] == "孙幼军"


def test_marc21_and_open_library_both_answer_in_source_order(client, lib, openlibrary):
    body = _lookup(client, lib, GOODNIGHT)
    assert [r["source"] for r in body["records"]] == ["测试MARC21目录", "Open Library（测试）"]
    marc21, web = body["records"]
    assert marc21["title"] == "Goodnight moon" and marc21["author"] == "Brown, Margaret Wise，Hurd, Clement"
    assert marc21["publisher"] == "HarperCollins" and marc21["year"] == 1947 and marc21["pages"] == 32
    assert marc21["price"] == "$7.99" and marc21["summary"].startswith("A little bunny")
    assert web["title"] == "Goodnight Moon" and web["author"] == "Margaret Wise Brown"
    assert web["publisher"] == "HarperFestival" and web["year"] == 1991 and web["pages"] == 30
    assert web["summary"].startswith("In a great green room")  # from the work record it names


def test_open_library_author_comes_from_the_work_when_the_edition_names_none(client, lib):
    [rec] = _lookup(client, lib, OL_ONLY)["records"]
    assert rec["source"] == "Open Library（测试）" and rec["author"] == "Roald Dahl"
    assert rec["summary"] == "Three farmers try to catch a fox."


def test_the_local_catalog_answers_first(client, lib, make):
    title = make.title("猜猜我有多爱你（本馆）", isbn=CAICAI, author="山姆·麦克布雷尼")
    body = _lookup(client, lib, CAICAI)
    assert body["sources"][0] == {"name": "本馆书目", "status": "found", "ms": body["sources"][0]["ms"]}
    assert body["records"][0]["source"] == "本馆书目" and body["records"][0]["title_id"] == title.id
    assert body["records"][1]["source"] == "测试联合目录"


def test_nothing_found_anywhere(client, lib):
    body = _lookup(client, lib, NOWHERE)
    assert body["records"] == []
    assert set(_status(body).values()) == {"not_found"}


def test_invalid_isbn_is_422_in_chinese(client, lib):
    r = client.get("/api/v1/lookup/isbn/9787533241781", headers=lib)
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_isbn" and "ISBN" in err["message"]


def test_staff_only(client, make):
    make.point("P01", "三灶镇故事会点")
    mother = make.token(make.user("mama", "story_mother"))
    assert client.get(f"/api/v1/lookup/isbn/{CAICAI}", headers=mother).status_code == 403
    assert client.get(f"/api/v1/lookup/isbn/{CAICAI}").status_code == 401


# ------------------------------------------------------------------ a source that never answers

@pytest.fixture
def with_silent(app: Any, zebra: Zebra, openlibrary: OpenLibraryStandIn, silent: SilentServer) -> Any:
    app.config["LOOKUP_SOURCES"] = json.dumps([
        silent.z3950_source(), zebra.source("cnmarc"), silent.web_source(), openlibrary.source()])
    app.config["LOOKUP_TIMEOUT"] = 1.5
    return app


def test_silent_sources_time_out_within_the_limit_and_the_others_still_answer(client, lib, with_silent, silent):
    before = silent.accepted
    started = time.monotonic()
    body = _lookup(client, lib, CAICAI)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5, elapsed
    status = _status(body)
    assert status["不回应的服务器"] == "timeout" and status["不回应的网站"] == "timeout"
    assert status["测试联合目录"] == "found" and status["Open Library（测试）"] == "not_found"
    assert [r["title"] for r in body["records"]] == ["猜猜我有多爱你"]
    assert silent.accepted >= before + 2  # both really connected and were left waiting


def test_an_unreachable_server_is_an_error_not_a_crash(client, lib, app):
    app.config["LOOKUP_SOURCES"] = json.dumps([
        {"name": "关掉的服务器", "type": "z3950", "host": "127.0.0.1", "port": 1, "database": "x"}])
    body = _lookup(client, lib, CAICAI)
    assert body["sources"][1]["status"] == "error" and body["records"] == []


def test_a_wrong_source_setting_is_a_clear_4xx(client, lib, app):
    app.config["LOOKUP_SOURCES"] = json.dumps([{"type": "z3950", "host": "", "database": "x"}])
    r = client.get(f"/api/v1/lookup/isbn/{CAICAI}", headers=lib)
    assert r.status_code == 422 and "服务器地址" in r.get_json()["error"]["message"]
