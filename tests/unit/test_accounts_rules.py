"""The throttling and session-lifetime rules (domain/accounts.py), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from library_app.domain.accounts import (
    AccountRule,
    SessionRule,
    WindowRule,
    account_attempt,
    session_cutoffs,
    wait_message,
    window_attempt,
    window_success,
)

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_an_account_waits_a_growing_but_capped_delay_after_five_failures():
    rule, c, now, waits = AccountRule(), None, T0, []
    for _ in range(12):
        d = account_attempt(c, now, rule)
        while not d.allowed:
            waits.append(d.retry_after)
            now += timedelta(seconds=d.retry_after)
            d = account_attempt(c, now, rule)
        c = d.after
    assert waits == [15, 30, 60, 60, 60, 60, 60]  # before guesses 6 to 12


def test_an_account_forgets_its_failures_after_a_quiet_quarter_hour():
    rule = AccountRule()
    c = None
    for _ in range(5):
        c = account_attempt(c, T0, rule).after
    assert not account_attempt(c, T0 + timedelta(seconds=10), rule).allowed
    fresh = account_attempt(c, T0 + timedelta(minutes=16), rule)
    assert fresh.allowed and fresh.after.count == 1 and fresh.after.blocked_until is None


def test_an_address_window_refuses_past_its_limit_until_the_window_ends():
    rule = WindowRule(3, timedelta(minutes=1))
    c = None
    for _ in range(3):
        c = window_attempt(c, T0, rule).after
    refused = window_attempt(c, T0 + timedelta(seconds=20), rule)
    assert not refused.allowed and refused.retry_after == 40
    assert window_attempt(window_success(c), T0 + timedelta(seconds=20), rule).allowed
    assert window_attempt(c, T0 + timedelta(minutes=1), rule).after.count == 1


def test_the_wait_is_said_in_seconds_or_minutes():
    assert wait_message(15) == "尝试次数过多，请 15 秒后再试。"
    assert wait_message(61) == "尝试次数过多，请 2 分钟后再试。"


def test_session_cutoffs_follow_the_idle_and_absolute_lifetimes():
    idle, absolute = session_cutoffs(T0, SessionRule())
    assert T0 - idle == timedelta(hours=3) and T0 - absolute == timedelta(hours=12)
