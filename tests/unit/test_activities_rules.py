"""Counting rules of reading activities and the annual report, at their edges, on plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from library_app.domain.activities import (
    ActivityInvalid,
    Figures,
    VolunteerInvalid,
    activity_month,
    attendance,
    certificate_number,
    check_activity,
    check_volunteer,
    children_served,
    default_volunteer_minutes,
    hours_text,
    may_correct,
    parse_kinds,
    summary_paragraph,
)
from library_app.domain.codes import make_code
from library_app.domain.reports import Month

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
KINDS = parse_kinds("story=故事会,reading_club=读书会,parent_child=亲子阅读,other=其他")
CARD1, CARD2 = make_code("card", 1), make_code("card", 2)


def test_attendance_is_the_larger_of_count_and_distinct_cards():
    assert attendance(12, [CARD1, CARD2]) == 12          # a head count, two cards scanned
    assert attendance(1, [CARD1, CARD2, CARD2]) == 2      # more (distinct) cards than counted
    assert attendance(None, [CARD1, CARD1]) == 1          # cards only: each child once
    assert attendance(0, []) == 0


def test_a_child_who_borrowed_and_attended_is_served_once():
    assert children_served([1, 2, 2], [2, 3]) == 3
    assert children_served([], [5, 5]) == 1
    assert children_served([7], []) == 1


def test_volunteer_minutes_default_to_activity_plus_preparation():
    assert default_volunteer_minutes(60, 30) == 90
    assert default_volunteer_minutes(45, 0) == 45


def test_month_is_the_organisations_local_month_at_midnight_and_new_year():
    # 00:30 on 1 January in Beijing is 16:30 UTC on 31 December: the new year's January.
    assert activity_month(datetime(2025, 12, 31, 16, 30, tzinfo=UTC), SH) == Month(2026, 1)
    # 23:59 on 31 December in Beijing: still December of the old year.
    assert activity_month(datetime(2025, 12, 31, 15, 59, tzinfo=UTC), SH) == Month(2025, 12)
    # the first of a month at 00:00 local belongs to that month
    assert activity_month(datetime(2026, 2, 28, 16, 0, tzinfo=UTC), SH) == Month(2026, 3)


def test_kinds_setting_is_parsed_and_checked():
    assert list(KINDS) == ["story", "reading_club", "parent_child", "other"]
    assert KINDS["story"] == "故事会"
    with pytest.raises(ActivityInvalid):
        parse_kinds("")
    with pytest.raises(ActivityInvalid):
        parse_kinds("story=故事会,story=又一个")
    with pytest.raises(ActivityInvalid):
        parse_kinds("故事=故事会")


def _payload(**over):
    data = {"id": "6f1c3c9e-7d1a-4a55-9f0e-0c2b7d9b6a10", "point": "p01", "kind": "story",
            "started_at": "2026-05-30T15:00:00+08:00", "minutes": 60, "children": 8,
            "cards": [CARD1.lower(), CARD1], "adults": 2, "titles": ["B0000018", " 小猪佩奇 "],
            "volunteers": [{"volunteer": 3}, {"username": "mama", "minutes": 40}], "note": ""}
    data.update(over)
    return data


def test_check_activity_normalises_and_fingerprints_the_content():
    a = check_activity(_payload(), KINDS, NOW)
    assert a.point == "P01" and a.cards == (CARD1,) and a.titles == ("B0000018", "小猪佩奇")
    assert a.attendance == 8
    assert a.volunteers[0].minutes is None and a.volunteers[1].minutes == 40
    assert a.fingerprint() == check_activity(_payload(), KINDS, NOW).fingerprint()
    assert a.fingerprint() != check_activity(_payload(children=9), KINDS, NOW).fingerprint()
    # the same instant written in another offset is the same content
    same = check_activity(_payload(started_at="2026-05-30T07:00:00Z"), KINDS, NOW)
    assert same.fingerprint() == a.fingerprint()


@pytest.mark.parametrize(("over", "words"), [
    ({"id": "not-a-uuid"}, "UUID"),
    ({"kind": "party"}, "活动类型"),
    ({"minutes": 0}, "时长"),
    ({"minutes": "abc"}, "整数"),
    ({"children": -1}, "儿童人数"),
    ({"started_at": "2026-05-30 15:00"}, "时区"),
    ({"started_at": "2026-06-05T15:00:00+08:00"}, "未来"),
    ({"started_at": "1970-01-01T08:00:00+08:00"}, "2000 年到 2100 年"),
    ({"cards": ["C123"]}, "借阅证"),
    ({"volunteers": [{"minutes": 3}]}, "志愿者"),
])
def test_check_activity_refuses_bad_input_in_chinese(over, words):
    with pytest.raises(ActivityInvalid) as exc:
        check_activity(_payload(**over), KINDS, NOW)
    assert words in exc.value.message and exc.value.status == 422


def test_child_volunteer_needs_consent():
    with pytest.raises(VolunteerInvalid, match="监护人"):
        check_volunteer("小红", "child", None)
    assert check_volunteer(" 小红 ", "child", True) == ("小红", "child")
    with pytest.raises(VolunteerInvalid):
        check_volunteer("张三", "boss", None)


def test_story_mother_corrects_her_own_for_24_hours_staff_any_time():
    made = NOW - timedelta(hours=23, minutes=59)
    assert may_correct("story_mother", True, made, NOW)
    assert not may_correct("story_mother", True, NOW - timedelta(hours=24, seconds=1), NOW)
    assert not may_correct("story_mother", False, made, NOW)
    assert may_correct("librarian", False, NOW - timedelta(days=400), NOW)
    assert not may_correct("viewer", True, made, NOW)


def test_summary_paragraph_is_in_the_reports_style_and_follows_the_figures():
    this = Figures(loans=12_345, children_served=420, new_borrowers=80, activities=428,
                   attendance=5_210, volunteer_participations=1_957, volunteers=61,
                   volunteer_minutes=202_662)
    text = summary_paragraph(2026, this, 9, "故事会", Figures(loans=10_000))
    assert text.startswith("2026 年，故事会在 9 个阅读点共开展故事会等阅读活动 428 场，服务儿童 5,210 人次")
    assert "志愿者参与 1,957 人次（61 人），志愿服务时长 202,662 分钟（约 3377.7 小时）" in text
    assert "图书借阅 12,345 人次" in text and "全年共服务儿童 420 人" in text
    assert text.endswith("借阅人次比上年增长 23%。")
    assert "428" not in summary_paragraph(2026, Figures(activities=3), 1)


def test_summary_paragraph_of_an_unfinished_year_says_so_and_compares_with_the_same_date():
    this = Figures(loans=10_322, children_served=243, activities=320, attendance=6_455)
    whole_last_year = Figures(loans=11_549)
    text = summary_paragraph(2026, this, 4, "", whole_last_year, as_of=date(2026, 12, 2),
                             last_year_loans_to_date=9_000)
    assert text.startswith("2026 年，在 4 个阅读点共开展故事会等阅读活动 320 场")  # the report's own opening
    assert "今年以来共服务儿童 243 人" in text and "全年" not in text
    # 10,322 against last year's 9,000 to 2 December, not against its whole 11,549
    assert "借阅人次比上年同期增长 15%。" in text and "减少" not in text
    assert text.endswith("（数据截至 2026 年 12 月 2 日）")
    # last year had no loans to that date: no comparison, still the date
    bare = summary_paragraph(2026, this, 4, "", whole_last_year, as_of=date(2026, 1, 3), last_year_loans_to_date=0)
    assert "上年" not in bare and bare.endswith("（数据截至 2026 年 1 月 3 日）")
    # the whole year: as before
    done = summary_paragraph(2025, this, 4, "", Figures(loans=10_322))
    assert "全年共服务儿童" in done and done.endswith("借阅人次与上年持平。")


def test_hours_and_certificate_number():
    assert hours_text(90) == "1.5" and hours_text(120) == "2"
    a = certificate_number(7, "2026-01-01", "2026-12-31", "2027-01-05")
    assert a.startswith("ZY20270105-00007-")
    assert a == certificate_number(7, "2026-01-01", "2026-12-31", "2027-01-05")
    assert a != certificate_number(7, "2026-01-01", "2026-06-30", "2027-01-05")
