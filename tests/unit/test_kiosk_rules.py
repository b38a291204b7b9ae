"""The self-service corner's rules (domain/kiosk.py): names, refusals, slowing down guesses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from library_app.domain import kiosk as k

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("full, given", [
    ("王小明", "小明"), ("李娜", "娜"), ("欧阳娜娜", "娜娜"), ("司马光", "光"), ("诸葛亮", "亮"),
    ("王 小 明", "小明"), ("欧阳", "阳"), ("明", "明"), ("Anna Li", "Anna"), ("", ""),
])
def test_the_kiosk_says_the_given_name_only(full, given):
    assert k.given_name(full) == given


def test_a_kiosk_acts_only_at_its_own_point_and_only_lends_and_returns():
    k.check_kiosk_event(event_type="loan", kiosk_point_id=1, event_point_id=1)
    k.check_kiosk_event(event_type="return", kiosk_point_id=1, event_point_id=1)
    with pytest.raises(k.NotYourPoint):
        k.check_kiosk_event(event_type="loan", kiosk_point_id=1, event_point_id=2)
    with pytest.raises(k.NotYourPoint):
        k.check_kiosk_event(event_type="return", kiosk_point_id=1, event_point_id=None)
    with pytest.raises(k.KioskOnlyLendsAndReturns):
        k.check_kiosk_event(event_type="renew", kiosk_point_id=1, event_point_id=1)


def test_self_service_needs_the_flag_and_no_overdue_book_when_the_setting_says_so():
    k.check_self_service_loan(self_service=True, overdue_count=0, overdue_blocks=True)
    k.check_self_service_loan(self_service=True, overdue_count=2, overdue_blocks=False)
    with pytest.raises(k.SelfServiceNotAllowed):
        k.check_self_service_loan(self_service=False, overdue_count=0, overdue_blocks=True)
    with pytest.raises(k.OverdueBlocksSelfService):
        k.check_self_service_loan(self_service=True, overdue_count=1, overdue_blocks=True)


def test_unknown_cards_start_a_wait_after_the_limit_within_a_minute():
    tries = None
    for i in range(k.CARD_TRY_LIMIT - 1):
        tries = k.after_unknown_card(tries, NOW + timedelta(seconds=i))
        k.check_not_blocked(tries, NOW + timedelta(seconds=i))
    tries = k.after_unknown_card(tries, NOW + timedelta(seconds=10))
    with pytest.raises(k.TooManyTries) as exc:
        k.check_not_blocked(tries, NOW + timedelta(seconds=11))
    assert 0 < exc.value.details["retry_after"] <= 60
    k.check_not_blocked(tries, NOW + timedelta(seconds=10) + k.CARD_TRY_WAIT + timedelta(seconds=1))


def test_unknown_cards_spread_over_minutes_never_block():
    tries = None
    for i in range(20):
        tries = k.after_unknown_card(tries, NOW + timedelta(seconds=20 * i))
        k.check_not_blocked(tries, NOW + timedelta(seconds=20 * i))


def test_a_kiosk_not_seen_for_30_days_is_long_unused():
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    enrolled = now - timedelta(days=90)
    assert k.long_unused(enrolled_at=enrolled, last_seen_at=now - timedelta(days=30), revoked=False, now=now)
    assert not k.long_unused(enrolled_at=enrolled, last_seen_at=now - timedelta(days=29, hours=23), revoked=False,
                             now=now)
    # never seen since enrolment counts from the enrolment; revoked or waiting ones are not flagged
    assert k.long_unused(enrolled_at=enrolled, last_seen_at=None, revoked=False, now=now)
    assert not k.long_unused(enrolled_at=enrolled, last_seen_at=None, revoked=True, now=now)
    assert not k.long_unused(enrolled_at=None, last_seen_at=None, revoked=False, now=now)


def test_an_offline_kiosk_loan_breaking_a_self_service_rule_is_reviewed_not_refused():
    assert k.offline_loan_review(self_service=True, overdue_count=0, overdue_blocks=True) == []
    assert k.offline_loan_review(self_service=False, overdue_count=0, overdue_blocks=True) == ["kiosk_self_service_off"]
    assert k.offline_loan_review(self_service=True, overdue_count=1, overdue_blocks=True) == ["kiosk_overdue"]
    assert k.offline_loan_review(self_service=True, overdue_count=1, overdue_blocks=False) == []
    from library_app.domain.loans import REVIEW_REASONS
    assert {"kiosk_self_service_off", "kiosk_overdue", "kiosk_refused"} <= set(REVIEW_REASONS)
