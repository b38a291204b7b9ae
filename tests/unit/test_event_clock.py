"""Device clocks judged against the server's now, with plain values at the edges (issue 13, items 2, 7, 19)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from library_app.domain import events as E

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def event(at: str, kind: str = "loan", n: int = 1) -> E.Event:
    return E.parse_event({"id": f"6f1c1d2e-8b1a-4c55-9a51-2f7c2a9d1e1{n}", "type": kind, "copy": "B0000018",
                          "card": "C0000018", "point": "P01", "at": at}, TZ)


@pytest.mark.parametrize(("at", "reason"), [
    (NOW, None),
    (NOW + timedelta(minutes=5), None),  # a phone a few minutes fast is normal
    (NOW + timedelta(minutes=5) + TICK, "clock_future"),
    (NOW - timedelta(days=60), None),  # the oldest an offline event can honestly be
    (NOW - timedelta(days=60) - TICK, "clock_past"),
    (datetime(2001, 1, 1, tzinfo=UTC), "clock_past"),
    (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "clock_future"),
])
def test_a_device_time_is_plausible_from_sixty_days_ago_to_five_minutes_ahead(at, reason):
    assert E.device_clock(at, NOW) == reason


def test_the_card_and_the_copy_tell_a_wrong_clock_first():
    bound = NOW - timedelta(days=3)
    assert E.device_clock(bound - timedelta(minutes=5), NOW, card_bound_at=bound) is None
    assert E.device_clock(bound - timedelta(minutes=5) - TICK, NOW, card_bound_at=bound) == "clock_before_card"
    assert E.device_clock(datetime(2001, 1, 1, tzinfo=UTC), NOW, copy_created_at=bound) == "clock_before_copy"


@pytest.mark.parametrize(("text", "reason"), [
    ("9999-12-31T23:59:59Z", "clock_future"),
    ("9999-12-31T23:59:59-05:00", "clock_future"),  # beyond year 9999 once in UTC
    ("0001-01-01T00:00:00", "clock_past"),  # local time (+08:00): before year 1 once in UTC
    ("0001-01-01T00:00:00Z", "clock_past"),
    ("1970-01-01T08:00:00+08:00", "clock_past"),
])
def test_times_at_the_ends_of_the_calendar_parse_without_overflow_and_are_impossible(text, reason):
    at = E.parse_time(text, TZ)
    assert at.tzinfo is UTC
    assert E.device_clock(at, NOW) == reason
    settled = E.settle_clock(event(text), NOW)
    assert settled.at == NOW and settled.clock == reason
    assert settled.device_at.startswith(text[:10])  # what the phone said stays readable
    assert NOW - settled.at == timedelta(0)  # arithmetic on the settled time no longer overflows


@pytest.mark.parametrize("text", ["2026-02-30T10:00:00+08:00", "昨天", "", "   ", "2026-11-29T10:00:00+25:00",
                                  "2" * 65, None, 20261129, ["2026-11-29"]])
def test_what_is_not_a_time_is_bad_time(text):
    with pytest.raises(E.BadTime) as err:
        E.parse_time(text, TZ)
    assert err.value.code == "bad_time" and "时间" in err.value.message


def test_a_plausible_time_is_kept_as_it_was():
    e = event("2026-11-29T09:50:00+08:00")
    assert E.settle_clock(e, NOW) is e
    assert e.at == datetime(2026, 11, 29, 1, 50, tzinfo=UTC) and e.clock is None


def test_an_impossible_clock_does_not_order_the_batch():
    loan = event("2026-11-29T09:50:00+08:00", n=1)  # ten minutes before the server's now
    back = event("2001-01-01T00:00:00+08:00", kind="return", n=2)
    order = E.apply_order([(0, E.settle_clock(loan, NOW)), (1, E.settle_clock(back, NOW))])
    assert [i for i, _ in order] == [0, 1]
    assert order[1][1].device_at == "2000-12-31T16:00:00+00:00" and order[1][1].device_time is not None


def test_settling_again_with_the_copys_registration_gives_the_more_telling_reason():
    back = E.settle_clock(event("2001-01-01T00:00:00+08:00", kind="return"), NOW)
    assert back.clock == "clock_past"
    again = E.settle_clock(back, NOW, copy_created_at=NOW - timedelta(days=7))
    assert again.clock == "clock_before_copy" and again.at == NOW


def test_an_event_from_a_reset_clock_still_counts_as_recorded_offline():
    back = E.settle_clock(event("2001-01-01T00:00:00+08:00"), NOW)
    assert back.at == NOW and E.is_offline(back, NOW)  # an over-limit loan then goes to review, not refused
    ahead = E.settle_clock(event("9999-12-31T23:59:59Z"), NOW)
    assert not E.is_offline(ahead, NOW)
