"""Report arithmetic without a database: months in the org's time zone, pace, forecast, exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from library_app.domain import reports as r
from library_app.domain.reports import Change, LoanFact, Month

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("text,expected", [
    ("2026-10", Month(2026, 10)), ("2026-1", Month(2026, 1)), (" 2026/03 ", Month(2026, 3)),
])
def test_parse_month_accepts_usual_forms(text, expected):
    assert r.parse_month(text) == expected


@pytest.mark.parametrize("text", ["", "2026", "2026-13", "2026-00", "10-2026", "abcd-ef", "1899-01"])
def test_parse_month_refuses_with_chinese_message(text):
    with pytest.raises((r.InvalidMonth, r.InvalidYear)) as info:
        r.parse_month(text)
    message = info.value.message
    assert info.value.status == 400 and ("年" in message or "月" in message)


def test_parse_year():
    assert r.parse_year("2026") == 2026
    for bad in ("26", "20266", "abcd", "1999", "2101"):
        with pytest.raises(r.InvalidYear):
            r.parse_year(bad)


def test_month_arithmetic():
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2026, 12).shift(1) == Month(2027, 1)
    assert Month(2026, 3).same_month_last_year() == Month(2025, 3)
    assert str(Month(2026, 3)) == "2026-03" and Month(2026, 3).label == "2026年3月"
    assert Month(2024, 2).days() == 29 and Month(2026, 2).days() == 28


def test_new_year_in_beijing_starts_at_16_utc():
    start, end = r.year_bounds(2026, SH)
    assert start == utc(2025, 12, 31, 16) and end == utc(2026, 12, 31, 16)
    # 00:30 on 1 January Beijing time is in January of the new year
    assert r.month_of(utc(2025, 12, 31, 16, 30), SH) == Month(2026, 1)
    assert r.month_of(utc(2025, 12, 31, 15, 59, 59, 999999), SH) == Month(2025, 12)


def test_month_edges_follow_daylight_saving():
    edges = r.year_month_edges(2026, BERLIN)
    assert len(edges) == 13
    assert edges[0] == utc(2025, 12, 31, 23)   # CET, +01:00
    assert edges[3] == utc(2026, 3, 31, 22)    # 1 April in CEST, +02:00
    assert edges[10] == utc(2026, 10, 31, 23)  # 1 November back in CET


def test_monthly_targets_follow_days_and_sum_to_target():
    shares = r.monthly_targets(2026, 12000)
    assert sum(shares) == 12000
    assert shares[1] < shares[0]  # February is shorter
    assert sum(r.monthly_targets(2024, 7)) == 7


def test_year_progress_in_the_middle_of_the_year():
    now = utc(2026, 7, 2, 4)  # about half way through the local year
    p = r.year_progress(2026, 12000, 5000, now, SH)
    assert p.state == "current"
    assert 0.49 < p.elapsed < 0.51
    assert p.expected_to_date == round(12000 * p.elapsed)
    assert p.percent == 41.7
    assert p.forecast == round(5000 / p.elapsed)
    assert p.months_left == 6 and p.remaining == 7000
    assert p.needed_per_month == 1167  # ceil(7000 / 6)
    assert not p.ahead and p.gap == 5000 - p.expected_to_date


def test_year_progress_past_and_future_years():
    now = utc(2026, 7, 2)
    past = r.year_progress(2025, 12000, 12500, now, SH)
    assert (past.state, past.elapsed, past.expected_to_date, past.forecast) == ("past", 1.0, 12000, 12500)
    assert past.months_left == 0 and past.needed_per_month == 0 and past.remaining == 0
    future = r.year_progress(2027, 12000, 0, now, SH)
    assert (future.state, future.expected_to_date, future.months_left, future.needed_per_month) == (
        "future", 0, 12, 1000)


def test_december_needs_the_whole_rest():
    p = r.year_progress(2026, 12000, 11000, utc(2026, 12, 10), SH)
    assert p.months_left == 1 and p.needed_per_month == 1000


def test_same_moment_in_another_month():
    """The same local day and time in the compared month; a day it lacks: its end."""
    m = r.Month
    # 15 March 12:00 Beijing → 15 February 12:00 Beijing
    assert r.same_moment_in(m(2026, 2), utc(2026, 3, 15, 4), SH) == utc(2026, 2, 15, 4)
    # 31 March 10:00 → February has no 31st: all of February (its end, 1 March 00:00 Beijing)
    assert r.same_moment_in(m(2026, 2), utc(2026, 3, 31, 2), SH) == utc(2026, 2, 28, 16)
    # 1 December 00:30 Beijing (30 November 16:30 UTC) → 1 November 00:30 Beijing
    assert r.same_moment_in(m(2026, 11), utc(2026, 11, 30, 16, 30), SH) == utc(2026, 10, 31, 16, 30)
    # the same month last year, a leap day
    assert r.same_moment_in(m(2027, 2), utc(2028, 2, 29, 4), SH) == utc(2027, 2, 28, 16)


def test_same_moment_last_year():
    assert r.same_moment_last_year(utc(2026, 3, 5, 2), SH) == utc(2025, 3, 5, 2)
    # 29 February 2028, 10:00 Beijing → 28 February 2027, 10:00 Beijing
    assert r.same_moment_last_year(utc(2028, 2, 29, 2), SH) == utc(2027, 2, 28, 2)


def test_prorated_tally():
    start, end = r.month_bounds(Month(2025, 4), SH)
    assert r.prorated(300, start, end, start + (end - start) / 3) == 100
    assert r.prorated(300, start, end, end + timedelta(days=1)) == 300
    assert r.prorated(300, start, end, start) == 0


def test_change_in_words():
    assert Change(110, 100).words() == "+10（+10.0%）"
    assert Change(90, 100).words() == "−10（−10.0%）"
    assert Change(5, 0).words() == "—" and Change(5, 0).percent is None and Change(0, 0).words() == "—"
    assert Change(7, 7).words() == "持平"


@pytest.mark.parametrize("value,expected", [
    ("=1+2", "'=1+2"), ("+86 138", "'+86 138"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("猜猜我有多爱你", "猜猜我有多爱你"), (-5, -5), (12, 12), ("", ""),
])
def test_spreadsheet_cells_cannot_become_formulas(value, expected):
    assert r.spreadsheet_safe(value) == expected


def test_counting_rules_reference():
    loans = [
        LoanFact(utc(2025, 12, 31, 16, 30), "P01", borrower=1, loan_id=1),               # Jan, local
        LoanFact(utc(2025, 12, 31, 17, 0), "P01", borrower=1, loan_id=2),                # same visit
        LoanFact(utc(2025, 12, 31, 15, 59), "P01", borrower=1, loan_id=3),               # Dec, local
        LoanFact(utc(2026, 1, 2, 3), "P01", borrower=2, undone=True, loan_id=4),         # never counts
        LoanFact(utc(2026, 1, 2, 3), "P02", borrower=1, loan_id=5),                      # other point
        LoanFact(utc(2026, 1, 2, 3), "P02", borrower=None, loan_id=6),                   # import
        LoanFact(utc(2026, 1, 2, 4), "P02", borrower=None, loan_id=7),                   # another one
    ]
    assert r.count_by_month(loans, SH) == {("2026-01", "P01"): 2, ("2025-12", "P01"): 1,
                                           ("2026-01", "P02"): 3}
    assert r.count_by_month(loans, SH, "visits") == {("2026-01", "P01"): 1, ("2025-12", "P01"): 1,
                                                     ("2026-01", "P02"): 3}


def test_overdue_at_a_moment_reads_the_due_date_in_force_then():
    end = utc(2026, 10, 31, 16)  # October's end in Beijing
    renewed_late = r.DueFact(utc(2026, 10, 1), utc(2026, 11, 17),
                             renewals=((utc(2026, 11, 3), utc(2026, 10, 15)),))
    renewed_in_time = r.DueFact(utc(2026, 10, 10), utc(2026, 11, 7),
                                renewals=((utc(2026, 10, 20), utc(2026, 10, 24)),))
    renewed_twice_late = r.DueFact(
        utc(2026, 9, 1), utc(2026, 12, 1),
        renewals=((utc(2026, 11, 17), utc(2026, 11, 16)), (utc(2026, 11, 2), utc(2026, 9, 15))))
    back_at_the_end = r.DueFact(utc(2026, 10, 1), utc(2026, 10, 15), returned_at=end)
    back_before = r.DueFact(utc(2026, 10, 1), utc(2026, 10, 15), returned_at=end - timedelta(seconds=1))
    undone = r.DueFact(utc(2026, 10, 1), utc(2026, 10, 15), returned_at=utc(2026, 10, 1), undone=True)
    assert r.due_in_force(renewed_late, end) == utc(2026, 10, 15)
    assert r.due_in_force(renewed_late, utc(2026, 11, 4)) == utc(2026, 11, 17)
    assert r.due_in_force(renewed_twice_late, end) == utc(2026, 9, 15)  # the first renewal after
    loans = [renewed_late, renewed_in_time, renewed_twice_late, back_at_the_end, back_before, undone]
    assert r.overdue_at(loans, end) == 3  # renewed late, renewed twice late, back only at 00:00
    assert r.overdue_at(loans, utc(2026, 11, 4)) == 0
