"""The MARC import takes CNMARC/UNIMARC as well as MARC 21 (api.md: ``?marc=unimarc`` or detected):
the fields are read by the lookup's mappers, the character set is UTF-8 or, for a Chinese system's
export, GB18030 (never decoded as MARC-8), and the 中图法 class suggests the category."""

from __future__ import annotations

import pytest
from pymarc import Field, Record, Subfield

from tests.integration.test_catalog_import import catalog, upload
from tests.lookup_servers import cnmarc_records, gbk_records, iso2709


@pytest.fixture
def lib(make):
    make.point("P01", "三灶镇故事会点")
    return make.token(make.user("lib", "librarian"))


def test_cnmarc_utf8_file_imports_title_author_publisher_year_and_category(app, client, lib):
    data = b"".join(iso2709(r, "utf-8") for r in cnmarc_records())  # leader/09 blank, as UNIMARC
    r = upload(client, lib, data, name="olcc.iso", query="?copies=1&point=P01")
    assert r.get_json() == {"created": 2, "copies_created": 2, "errors": []}, r.get_json()
    titles, copies = catalog(app)
    assert copies == 2
    assert [t[:6] for t in titles] == [
        ("猜猜我有多爱你", "麦克布雷尼", "9787533241780", "明天出版社", 2013, "绘本"),
        ("草房子", "曹文轩", "9787505255555", "江苏少年儿童出版社", 1997, "文学"),
    ]


def test_cnmarc_gb18030_file_is_read_as_gb18030(app, client, lib):
    data = b"".join(iso2709(r, "gb18030") for r in gbk_records())
    r = upload(client, lib, data, name="export.mrc")
    assert r.status_code == 200 and r.get_json()["created"] == 1, r.get_json()
    titles, _ = catalog(app)
    assert [t[:5] for t in titles] == [("小猪唏哩呼噜", "孙幼军", "9787530710555", "新蕾出版社", 2002)]


def test_marc_unimarc_parameter_reads_a_record_the_detection_would_call_marc21(app, client, lib):
    # a UNIMARC record that also carries a local 245 (some systems keep one): detected as MARC 21,
    # ?marc=unimarc says what it is
    rec = Record()
    rec.add_field(Field(tag="010", indicators=[" ", " "], subfields=[Subfield("a", "978-7-5332-4178-0")]))
    rec.add_field(Field(tag="200", indicators=["1", " "], subfields=[Subfield("a", "猜猜我有多爱你")]))
    rec.add_field(Field(tag="210", indicators=[" ", " "], subfields=[Subfield("c", "明天出版社"), Subfield("d", "2013")]))
    rec.add_field(Field(tag="245", indicators=["0", "0"], subfields=[Subfield("a", "本地题名")]))
    data = iso2709(rec, "utf-8")
    r = upload(client, lib, data, name="x.mrc", query="?marc=unimarc")
    assert r.get_json()["created"] == 1, r.get_json()
    titles, _ = catalog(app)
    assert titles[0][:5] == ("猜猜我有多爱你", "", "9787533241780", "明天出版社", 2013)
    bad = upload(client, lib, data, name="x.mrc", query="?marc=dublincore")
    assert bad.status_code == 422 and "unimarc" in bad.get_json()["error"]["message"]
