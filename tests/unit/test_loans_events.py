"""Client events: identity, payload hash, order, offline detection and clock sanity."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from library_app.domain import events as E
from library_app.domain.errors import BadCheckDigit, WrongCodeKind

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
ID = "6f1c1d2e-8b1a-4c55-9a51-2f7c2a9d1e11"


def raw(**kw):
    event = {"id": ID, "type": "loan", "copy": "B0000018", "card": "C0000018", "point": "P01",
             "at": "2026-11-29T10:00:00+08:00"}
    event.update(kw)
    return event


def test_a_good_event_parses_with_codes_in_any_form():
    ev = E.parse_event(raw(copy="http://x.cn/s/b0000018", card=" c0000018 ", point="p01"), TZ)
    assert (ev.id, ev.type, ev.copy, ev.card, ev.point) == (ID, "loan", "B0000018", "C0000018", "P01")
    assert ev.at == NOW


def test_event_ids_must_be_uuids():
    assert E.event_id(raw(id=ID.upper())) == ID
    for bad in (None, "", "123", 5):
        with pytest.raises(E.BadEventId):
            E.event_id(raw(id=bad))
    with pytest.raises(E.BadEventId):
        E.event_id("not an object")


@pytest.mark.parametrize("change, error", [
    ({"type": "steal"}, E.InvalidEvent), ({"point": ""}, E.InvalidEvent), ({"at": "yesterday"}, E.InvalidEvent),
    ({"at": None}, E.InvalidEvent), ({"copy": ""}, E.InvalidEvent), ({"card": None}, E.InvalidEvent),
    ({"copy": "B0000019"}, BadCheckDigit), ({"copy": "C0000018"}, WrongCodeKind),
])
def test_bad_events_are_refused_with_their_reason(change, error):
    with pytest.raises(error) as err:
        E.parse_event(raw(**change), TZ)
    assert err.value.message


def test_returns_and_renewals_need_no_card_and_times_without_offset_are_local():
    ev = E.parse_event(raw(type="return", card=None, at="2026-11-29T10:00:00"), TZ)
    assert ev.card is None and ev.at == NOW
    assert E.parse_event(raw(at="2026-11-29T02:00:00Z"), TZ).at == NOW


def test_payload_hash_tells_a_retry_from_a_different_event():
    assert E.payload_hash(raw()) == E.payload_hash(raw(point="p01", offline=True))
    assert E.payload_hash(raw()) != E.payload_hash(raw(copy="B0000026"))
    assert E.payload_hash(raw()) != E.payload_hash(raw(at="2026-11-29T10:00:01+08:00"))


def test_events_are_applied_in_the_order_they_happened_ties_in_the_order_sent():
    a = E.parse_event(raw(at="2026-11-29T10:05:00+08:00"), TZ)
    b = E.parse_event(raw(at="2026-11-29T10:00:00+08:00"), TZ)
    c = E.parse_event(raw(at="2026-11-29T10:00:00+08:00", type="return"), TZ)
    assert [i for i, _ in E.apply_order([(0, a), (1, b), (2, c)])] == [1, 2, 0]


def test_offline_is_what_the_client_says_or_an_event_minutes_old():
    ev = E.parse_event(raw(), TZ)
    assert not E.is_offline(ev, NOW + timedelta(seconds=30))
    assert E.is_offline(ev, NOW + timedelta(minutes=3))
    assert E.is_offline(E.parse_event(raw(offline=True), TZ), NOW)


def test_clock_sanity():
    assert E.clock_problem(NOW, NOW) is None
    assert E.clock_problem(NOW + timedelta(minutes=4), NOW) is None
    assert E.clock_problem(NOW + timedelta(minutes=6), NOW) == "clock_future"
    bound = NOW - timedelta(days=1)
    assert E.clock_problem(bound - timedelta(days=300), NOW, card_bound_at=bound) == "clock_before_card"
    assert E.clock_problem(bound + timedelta(hours=1), NOW, card_bound_at=bound) is None
    assert E.clock_problem(bound - timedelta(days=3), NOW, copy_created_at=bound) == "clock_before_copy"
