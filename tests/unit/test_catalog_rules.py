"""Catalog rules without Flask or a database: ISBNs, title fields, copy status changes, import
headers, spreadsheet-safe cells, label placement and QR matrices."""

from __future__ import annotations

import pytest

from library_app.domain import catalog as rules
from library_app.domain.errors import InvalidIsbn, RuleBroken
from library_app.domain.isbn import format_isbn, looks_like_isbn, normalize_isbn


@pytest.mark.parametrize("raw, expected", [
    ("9787533241780", "9787533241780"),
    ("978-7-5332-4178-0", "9787533241780"),
    (" ISBN 978-7-5332-4178-0 ", "9787533241780"),
    ("ISBN-13: 9787533241780", "9787533241780"),
    ("９７８７５３３２４１７８０", "9787533241780"),        # full-width digits from a Chinese IME
    ("7-5332-4178-9", "9787533241780"),                      # ISBN-10 → ISBN-13
    ("0-306-40615-2", "9780306406157"),
    ("080442957x", "9780804429573"),                         # lower-case X check digit
    ("", None),
    (None, None),
    ("   ", None),
])
def test_isbn_is_normalised_to_13_digits(raw, expected):
    assert normalize_isbn(raw) == expected


@pytest.mark.parametrize("raw", [
    "9787533241781",      # wrong check digit
    "7-5332-4178-7",      # wrong ISBN-10 check digit
    "978753324178",       # 12 digits
    "97875332417804",     # 14 digits
    "abcdefghij",
    "9771234567003",      # an ISSN-style EAN, not a book
])
def test_bad_isbn_is_refused_with_a_chinese_message(raw):
    with pytest.raises(InvalidIsbn) as info:
        normalize_isbn(raw)
    assert info.value.code == "invalid_isbn" and info.value.status == 422
    assert "ISBN 无效" in info.value.message


def test_isbn_display_and_detection():
    assert format_isbn("9787533241780") == "978-7-5332-4178-0"
    assert format_isbn(None) == ""
    assert looks_like_isbn("978-7-5332-4178-0") and looks_like_isbn("7533241789")
    assert not looks_like_isbn("猜猜我有多爱你") and not looks_like_isbn("2019")


def test_title_fields_are_tidied_and_checked():
    f = rules.clean_title_fields({"title": "  猜猜我 有多爱你 ", "isbn": "7-5332-4178-9",
                                  "year": "2013年5月", "age_band": "3～6岁", "author": None}, 2026)
    assert f.title == "猜猜我 有多爱你" and f.isbn == "9787533241780"
    assert f.year == 2013 and f.age_band == "3-6" and f.author == ""
    assert rules.clean_title_fields({"title": "x", "age_band": "12岁以上"}, 2026).age_band == "12+"
    assert rules.clean_title_fields({"title": "x", "year": "2019.0"}, 2026).year == 2019
    with pytest.raises(rules.InvalidTitle, match="请填写书名"):
        rules.clean_title_fields({"title": "  "}, 2026)
    with pytest.raises(rules.InvalidTitle, match="出版年"):
        rules.clean_title_fields({"title": "x", "year": "去年"}, 2026)
    with pytest.raises(rules.InvalidTitle, match="不合理"):
        rules.clean_title_fields({"title": "x", "year": "2999"}, 2026)
    with pytest.raises(rules.InvalidTitle, match="年龄段"):
        rules.clean_title_fields({"title": "x", "age_band": "4-5"}, 2026)
    with pytest.raises(InvalidIsbn):
        rules.clean_title_fields({"title": "x", "isbn": "9787533241781"}, 2026)


def test_domain_lists_match_the_model():
    from library_app.models import catalog as models

    assert rules.AGE_BANDS == models.AGE_BANDS
    assert rules.CATEGORIES == models.CATEGORIES
    assert rules.COPY_SOURCES == models.COPY_SOURCES
    assert set(rules.STATUS_NAMES) == set(models.COPY_STATUSES)


@pytest.mark.parametrize("action, before, after", [
    ("lost", "available", "lost"), ("lost", "on_loan", "lost"), ("lost", "damaged", "lost"),
    ("damaged", "available", "damaged"), ("found", "lost", "available"),
    ("repaired", "damaged", "available"), ("repaired", "withdrawn", "available"),
    ("withdraw", "available", "withdrawn"), ("withdraw", "lost", "withdrawn"),
])
def test_copy_status_changes(action, before, after):
    assert rules.copy_action(action, before).to == after


@pytest.mark.parametrize("action, status, says", [
    ("damaged", "on_loan", "请先归还"), ("withdraw", "on_loan", "请先归还"),
    ("found", "available", "在馆可借"), ("lost", "lost", "遗失"), ("fly", "available", "没有这个操作"),
])
def test_copy_status_changes_refused_say_why(action, status, says):
    with pytest.raises(rules.CopyActionNotAllowed) as info:
        rules.copy_action(action, status)
    assert says in info.value.message and info.value.status == 409


def test_actions_offered_follow_the_status():
    assert [a.name for a in rules.actions_for("available")] == ["lost", "damaged", "withdraw"]
    assert [a.name for a in rules.actions_for("on_loan")] == ["lost"]
    assert [a.name for a in rules.actions_for("lost")] == ["found", "withdraw"]


def test_import_header_accepts_chinese_and_english_names():
    assert rules.header_fields(["\ufeff书名", "作者", "ISBN", "出版社", "出版年", "分类", "年龄段", "册数", "阅读点"]) == [
        "title", "author", "isbn", "publisher", "year", "category", "age_band", "copies", "point"]
    assert rules.header_fields(["Title", "Age band", "备注（可空）", "whatever"]) == [
        "title", "age_band", "notes", None]
    with pytest.raises(rules.BadImportFile, match="书名"):
        rules.header_fields(["作者", "ISBN"])
    with pytest.raises(rules.BadImportFile, match="重复"):
        rules.header_fields(["书名", "title"])


def test_import_row_collects_every_problem():
    row = rules.check_import_row(
        rules.ImportRow(row=7, values={"title": "", "isbn": "9787533241781", "copies": "两本",
                                       "point": "P09"}), 2026, ["P01"])
    assert len(row.errors) == 4 and any("P09" in e for e in row.errors)
    row = rules.check_import_row(rules.ImportRow(row=3, values={"title": "x", "copies": "2"}), 2026, ["P01"])
    assert row.errors == ["要建馆藏（册数大于 0）时，请填写阅读点编号。"]
    ok = rules.check_import_row(rules.ImportRow(row=4, values={"title": "x", "copies": "2", "point": "p01"}),
                                2026, ["P01"])
    assert ok.errors == [] and ok.copies == 2 and ok.point == "P01"


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+86 138", "'+86 138"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=x", "'\t=x"), ("猜猜我有多爱你", "猜猜我有多爱你"), (2019, 2019), (None, None), ("", ""),
])
def test_spreadsheet_cells_never_start_a_formula(value, expected):
    assert rules.spreadsheet_safe(value) == expected


def test_labels_are_placed_from_the_start_position():
    layout = rules.LAYOUTS["3x8"]
    sheets = rules.place_labels(30, layout, start=5)
    assert len(sheets) == 2 and all(len(s) == 24 for s in sheets)
    assert sheets[0][:4] == [None] * 4 and sheets[0][4] == 0 and sheets[0][23] == 19
    assert sheets[1][:10] == list(range(20, 30)) and sheets[1][10:] == [None] * 14
    assert rules.place_labels(0, layout) == []
    assert len(rules.place_labels(240, rules.LAYOUTS["4x10"])) == 6
    with pytest.raises(RuleBroken):
        rules.place_labels(3, layout, start=25)


def test_label_layouts_fit_on_a4():
    for layout in rules.LAYOUTS.values():
        assert layout.left * 2 + layout.cols * layout.width + (layout.cols - 1) * layout.gap_x <= 210
        assert layout.top + layout.rows * layout.height + (layout.rows - 1) * layout.gap_y <= 297
    assert rules.LAYOUTS["3x8"].per_sheet == 24 and rules.LAYOUTS["4x10"].per_sheet == 40
    assert rules.short_title("猜猜我有多爱你", 5) == "猜猜我有…"


@pytest.mark.parametrize("content", ["B0000017", "http://192.168.1.10:5000/s/B0000017",
                                     "https://lib.example.org/s/B1234566" + "?x=" + "y" * 120])
def test_label_qr_decodes_to_its_content(content):
    import re

    import zxingcpp
    from PIL import Image

    from library_app.services.labels import qr_path

    size, path = qr_path(content)  # what a label sheet draws: one SVG path of dark runs
    img = Image.new("L", (size, size), 255)
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)", path):
        for dx in range(int(width)):
            img.putpixel((int(x) + dx, int(y)), 0)
    decoded = zxingcpp.read_barcodes(img.resize((size * 6, size * 6), Image.NEAREST))
    assert [r.text for r in decoded] == [content]
