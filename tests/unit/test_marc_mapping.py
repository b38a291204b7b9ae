"""Pure mapping (domain/marc.py, domain/clc.py, domain/lookup.py): CNMARC/UNIMARC and MARC 21
records read field by field in the source's character set, Open Library JSON, the 中图法 → category
table, the ISBN forms searched, and the checks on a source's settings."""

from __future__ import annotations

import pytest
from pymarc import Field, Record, Subfield

from library_app.domain import marc
from library_app.domain.clc import category_for, clean_class
from library_app.domain.lookup import InvalidSource, parse_source, parse_timeout, search_forms
from tests.lookup_servers import cnmarc_records, gbk_records, iso2709, marc21_records


def test_cnmarc_utf8_with_blank_leader09_is_read_as_utf8():
    data = iso2709(cnmarc_records()[0], "utf-8")  # leader/09 blank: pymarc alone would take MARC-8
    [rec] = marc.read_records(data, "utf-8")
    book = marc.map_unimarc(rec, "src")
    assert (book.title, book.author, book.publisher, book.year, book.pages, book.price, book.clc,
            book.category, book.isbn) == (
        "猜猜我有多爱你", "麦克布雷尼，梅子涵", "明天出版社", 2013, 32, "CNY29.80", "I561.85", "绘本",
        "9787533241780")
    garbled = marc.read_records(data, "marc-8")[0]
    assert garbled is None or marc.map_unimarc(garbled, "src").title != "猜猜我有多爱你"


def test_gb18030_record_even_with_a_utf8_leader_is_read_as_gb18030():
    data = iso2709(gbk_records()[0], "gb18030", leader09="a")
    [rec] = marc.read_records(data, "gb18030")
    assert marc.map_record(rec, "s").title == "小猪唏哩呼噜"
    assert marc.guess_encoding(iso2709(gbk_records()[0], "gb18030")) == "gb18030"
    assert marc.guess_encoding(iso2709(cnmarc_records()[0], "utf-8")) == "utf-8"


def test_unimarc_without_701_takes_the_responsibility_statement():
    rec = Record()
    rec.add_field(Field(tag="200", indicators=["1", " "], subfields=[
        Subfield("a", "小猪唏哩呼噜"), Subfield("h", "上"), Subfield("f", "孙幼军著")]))
    book = marc.map_record(rec, "s")
    assert book.syntax == "unimarc" and book.title == "小猪唏哩呼噜 上" and book.author == "孙幼军著"


def test_marc21_fields():
    [rec] = marc.read_records(iso2709(marc21_records()[0], "utf-8", leader09="a"), "marc-8")
    book = marc.map_record(rec, "lc")
    assert (book.syntax, book.title, book.author, book.publisher, book.year, book.pages, book.price,
            book.isbn) == ("marc21", "Goodnight moon", "Brown, Margaret Wise，Hurd, Clement",
                           "HarperCollins", 1947, 32, "$7.99", "9780064430173")
    assert book.summary.startswith("A little bunny")


@pytest.mark.parametrize("text,pages", [
    ("32页", 32), ("32 p. :", 32), ("[32] pages", 32), ("1册 (128页)", 128), ("1 volume (unpaged)", None),
    ("", None), ("298", 298),
])
def test_pages(text, pages):
    assert marc.parse_pages(text) == pages


def test_isbn_in_a_record_may_carry_a_qualifier_or_a_bad_check_digit():
    assert marc.parse_isbn(["978-7-5332-4178-1", "7-5332-4178-9 (精装)"]) == "9787533241780"
    assert marc.parse_isbn(["not an isbn"]) == ""


def test_open_library_edition_with_authors_and_work():
    edition = {"title": "Goodnight Moon", "subtitle": "board book", "publishers": ["HarperFestival"],
               "publish_date": "January 1, 1991", "number_of_pages": 30, "isbn_13": ["9780064430173"],
               "authors": [{"key": "/authors/OL1A"}], "works": [{"key": "/works/OL2W"}]}
    assert marc.ol_author_keys(edition) == ["/authors/OL1A"] and marc.ol_work_key(edition) == "/works/OL2W"
    book = marc.map_openlibrary(edition, "OL", ["Margaret Wise Brown"], {"description": {"value": "bunny"}})
    assert (book.title, book.author, book.publisher, book.year, book.pages, book.summary, book.isbn) == (
        "Goodnight Moon : board book", "Margaret Wise Brown", "HarperFestival", 1991, 30, "bunny",
        "9780064430173")
    assert marc.ol_author_keys({}, {"authors": [{"author": {"key": "/authors/OL9A"}}]}) == ["/authors/OL9A"]


@pytest.mark.parametrize("clc,category", [
    ("I287.8", "绘本"), ("I561.85", "绘本"), ("I712.85", "绘本"), ("I287.45", "文学"), ("I247.5", "文学"),
    ("J228.2", "漫画"), ("J218.2", "漫画"), ("J2", "艺术"), ("K209", "历史"), ("N49", "科普"), ("Q-49", "科普"),
    ("TP3-49", "科普"), ("H163", "工具书"), ("Z228.1", "工具书"), ("G613", "其他"), ("", ""), ("?", ""),
    (" i287.8;J238 ", "绘本"),
])
def test_clc_suggests_a_category(clc, category):
    assert category_for(clc) == category


def test_clean_class():
    assert clean_class(" i287.8 ") == "I287.8" and clean_class("中文") == ""


def test_search_forms_cover_13_10_and_hyphenated():
    assert search_forms("9787533241780") == ["9787533241780", "978-7-5332-4178-0", "7533241789", "7-5332-4178-9"]
    assert search_forms("9791032305690")[:1] == ["9791032305690"]  # 979: no ISBN-10 exists


def test_source_settings_are_checked_with_chinese_messages():
    src = parse_source({"name": "OLCC", "type": "z3950", "host": "202.96.31.28", "port": "9991",
                        "database": "UCS01U", "syntax": "CNMARC", "encoding": "GBK", "password": "x"})
    assert (src.syntax, src.encoding, src.port) == ("unimarc", "gb18030", 9991)
    assert "password" not in src.public() and src.public()["has_password"] is True
    for bad, words in (({"type": "ftp"}, "来源类型"), ({"type": "z3950", "host": "a b", "database": "D"}, "服务器地址"),
                       ({"type": "z3950", "host": "h", "port": 0, "database": "D"}, "端口"),
                       ({"type": "z3950", "host": "h", "database": "D", "encoding": "big5"}, "字符集"),
                       ({"type": "openlibrary", "url": "ftp://x"}, "http")):
        with pytest.raises(InvalidSource) as exc:
            parse_source(bad)
        assert words in exc.value.message
    assert parse_timeout(None) == 6.0 and parse_timeout("2.5") == 2.5
    with pytest.raises(InvalidSource):
        parse_timeout("0")
