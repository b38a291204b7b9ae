"""Loan rules with plain values and a pinned clock: no app, no database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from library_app.domain import loans as L
from library_app.domain.settings import LibrarySettings

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 10:00 in Zhuhai, a Sunday
TZ = ZoneInfo("Asia/Shanghai")
RULES = L.LoanRules()
BOOK = L.CopyState(code="B0000018", status="available", title="猜猜我有多爱你")
CARD = L.CardState(code="C0000018", status="active", borrower_id=7, borrower_name="王小明")


def loan_plan(**kw):
    args = dict(copy=BOOK, card=CARD, open_loan=None, open_count=0, at=NOW, point_id=1, rules=RULES)
    args.update(kw)
    return L.plan_loan(**args)


def open_loan(borrower_id=8, lent_at=NOW - timedelta(days=3), point_id=1, renewals=0, due_at=None):
    return L.OpenLoan(id=99, borrower_id=borrower_id, lent_at=lent_at, due_at=due_at, renewals=renewals,
                      point_id=point_id, borrower_name="李小红")


def test_rules_come_from_the_settings_a_librarian_edits():
    rules = L.LoanRules.from_settings(LibrarySettings(loan_limit=5, loan_days=21, max_renewals=2,
                                                      undo_minutes=15))
    assert (rules.loan_limit, rules.loan_days, rules.max_renewals, rules.undo_minutes) == (5, 21, 2, 15)


def test_a_plain_loan_is_due_at_the_end_of_the_local_day_fourteen_days_later():
    plan = loan_plan()
    assert plan.action == "lend" and not plan.close_open and plan.review == ()
    due = plan.due_at.astimezone(TZ)
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-12-13", 23, 59)


def test_due_date_uses_the_local_date_not_utc():
    # 23:30 UTC on the 28th is 07:30 on the 29th in Zhuhai
    late = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert L.due_date(late, RULES).astimezone(TZ).date().isoformat() == "2026-12-13"
    assert L.due_date(late, L.LoanRules(loan_days=7)).astimezone(TZ).date().isoformat() == "2026-12-06"


def test_limit_reached_refuses_online_with_the_childs_name_and_what_to_do():
    with pytest.raises(L.LoanLimitReached) as err:
        loan_plan(open_count=3)
    assert err.value.code == "limit_reached"
    assert "王小明已借 3 本" in err.value.message and "请先归还" in err.value.message
    assert loan_plan(open_count=2).action == "lend"
    assert loan_plan(open_count=4, rules=L.LoanRules(loan_limit=5)).action == "lend"


def test_offline_loan_over_the_limit_is_applied_and_sent_for_review():
    plan = loan_plan(open_count=3, offline=True)
    assert plan.action == "lend" and plan.review == ("over_limit",)


@pytest.mark.parametrize("card, error, reason", [
    (L.CardState("C1", "revoked", 7), L.CardRevoked, "card_revoked"),
    (L.CardState("C1", "active", 7, borrower_status="suspended"), L.BorrowerSuspended, "borrower_suspended"),
    (L.CardState("C1", "active", 7, borrower_status="left"), L.BorrowerLeft, "borrower_left"),
])
def test_borrower_side_refusals_online_become_review_offline(card, error, reason):
    with pytest.raises(error) as err:
        loan_plan(card=card)
    assert err.value.message.endswith(("。",)) and "请" in err.value.message
    assert loan_plan(card=card, offline=True).review == (reason,)


def test_unbound_or_unknown_cards_refuse_even_offline():
    with pytest.raises(L.CardUnbound) as err:
        loan_plan(card=L.CardState("C1", "unbound", None), offline=True)
    assert "绑定" in err.value.message
    with pytest.raises(L.UnknownCard):
        loan_plan(card=None, offline=True)
    with pytest.raises(L.CardRevoked):  # a revoked card nobody owns: no child to lend to
        loan_plan(card=L.CardState("C1", "revoked", None), offline=True)
    with pytest.raises(L.UnknownCopy):
        loan_plan(copy=None)


@pytest.mark.parametrize("status, error, reason", [
    ("withdrawn", L.CopyWithdrawn, "copy_withdrawn"), ("damaged", L.CopyDamaged, "copy_damaged"),
])
def test_withdrawn_and_damaged_copies_are_not_lent(status, error, reason):
    copy = L.CopyState("B1", status, "书")
    with pytest.raises(error):
        loan_plan(copy=copy)
    assert loan_plan(copy=copy, offline=True).review == (reason,)


def test_a_lost_copy_scanned_is_found_and_lent():
    plan = loan_plan(copy=L.CopyState("B1", "lost", "书"))
    assert plan.action == "lend" and plan.found


def test_copy_on_loan_to_someone_else_is_returned_implicitly_first():
    plan = loan_plan(open_loan=open_loan(), open_count=0)
    assert plan.action == "lend" and plan.close_open and plan.review == ()


def test_copy_already_lent_to_this_child_is_never_lent_twice_even_at_the_limit():
    plan = loan_plan(open_loan=open_loan(borrower_id=7), open_count=3)
    assert plan.action == "already_lent"


def test_offline_loan_at_another_point_of_a_copy_out_elsewhere_is_a_clash_for_review():
    plan = loan_plan(open_loan=open_loan(point_id=2), offline=True)
    assert plan.close_open and plan.review == ("clash_other_point",)
    # online, the book is physically here: a normal implicit return
    assert loan_plan(open_loan=open_loan(point_id=2)).review == ()


def test_offline_loan_older_than_the_current_loan_is_backdated_not_closing_it():
    later = open_loan(lent_at=NOW + timedelta(minutes=30))
    plan = loan_plan(open_loan=later, offline=True)
    assert plan.action == "backdate" and "loan_before_later_loan" in plan.review


def test_returns():
    assert L.plan_return(copy=BOOK, open_loan=open_loan(), at=NOW).action == "return"
    nothing = L.plan_return(copy=BOOK, open_loan=None, at=NOW)
    assert nothing.action == "not_on_loan" and not nothing.set_available
    stale = L.plan_return(copy=L.CopyState("B1", "on_loan"), open_loan=None, at=NOW)
    assert stale.set_available
    found = L.plan_return(copy=L.CopyState("B1", "lost"), open_loan=None, at=NOW)
    assert found.found and found.set_available
    crossing = L.plan_return(copy=BOOK, open_loan=open_loan(lent_at=NOW + timedelta(hours=1)), at=NOW)
    assert crossing.action == "crosses_later_loan" and crossing.review == ("return_crosses_loan",)
    with pytest.raises(L.UnknownCopy):
        L.plan_return(copy=None, open_loan=None, at=NOW)


def test_renewal_counts_from_the_later_of_today_and_the_due_date():
    due = L.due_date(NOW - timedelta(days=3), RULES)
    plan = L.plan_renew(copy=BOOK, open_loan=open_loan(due_at=due), at=NOW, rules=RULES)
    assert plan.renewals == 1
    assert plan.due_at.astimezone(TZ).date() == due.astimezone(TZ).date() + timedelta(days=14)
    overdue = NOW - timedelta(days=20)
    late = L.plan_renew(copy=BOOK, open_loan=open_loan(due_at=overdue), at=NOW, rules=RULES)
    assert late.due_at.astimezone(TZ).date().isoformat() == "2026-12-13"


def test_renewal_limit_and_not_on_loan():
    with pytest.raises(L.RenewalLimitReached) as err:
        L.plan_renew(copy=BOOK, open_loan=open_loan(renewals=1), at=NOW, rules=RULES)
    assert "续借过 1 次" in err.value.message
    assert L.plan_renew(copy=BOOK, open_loan=open_loan(renewals=1), at=NOW,
                        rules=L.LoanRules(max_renewals=2)).renewals == 2
    with pytest.raises(L.RenewalLimitReached) as err:
        L.plan_renew(copy=BOOK, open_loan=open_loan(), at=NOW, rules=L.LoanRules(max_renewals=0))
    assert "不允许续借" in err.value.message
    with pytest.raises(L.NotOnLoan):
        L.plan_renew(copy=BOOK, open_loan=None, at=NOW, rules=RULES)


def test_points_a_story_mother_may_act_at():
    L.check_point(role="story_mother", point_id=1, point_active=True, my_point_ids=frozenset({1}))
    with pytest.raises(L.NotYourPoint) as err:
        L.check_point(role="story_mother", point_id=2, point_active=True, my_point_ids=frozenset({1}),
                      point_code="P02")
    assert err.value.status == 403 and "P02" in err.value.message
    L.check_point(role="librarian", point_id=2, point_active=True, my_point_ids=frozenset())
    with pytest.raises(L.PointInactive):
        L.check_point(role="librarian", point_id=2, point_active=False, my_point_ids=frozenset())
    with pytest.raises(L.UnknownPoint):
        L.check_point(role="admin", point_id=None, point_active=False, my_point_ids=frozenset(),
                      point_code="P99")


def undo(**kw):
    args = dict(event_type="loan", event_status="applied", event_actor_id=5, received_at=NOW,
                undone_at=None, actor_id=5, role="story_mother", now=NOW + timedelta(minutes=9),
                rules=RULES)
    args.update(kw)
    L.check_undo(**args)


def test_undo_her_own_loan_or_return_within_ten_minutes():
    undo()
    undo(event_type="return")
    with pytest.raises(L.UndoExpired) as err:
        undo(now=NOW + timedelta(minutes=10, seconds=1))
    assert "10 分钟" in err.value.message
    undo(now=NOW + timedelta(minutes=14), rules=L.LoanRules(undo_minutes=15))
    with pytest.raises(L.NotYourEvent):
        undo(event_actor_id=6)
    undo(event_actor_id=6, role="librarian")
    with pytest.raises(L.NothingToUndo):
        undo(undone_at=NOW)
    with pytest.raises(L.NothingToUndo):
        undo(event_status="rejected")
    with pytest.raises(L.NothingToUndo):
        undo(event_type="renew")


def test_due_dates_in_words():
    due = L.due_date(NOW, RULES)
    assert L.due_in_words(due, NOW, TZ) == "12月13日（星期日），还有 14 天"
    assert L.due_in_words(due, due - timedelta(hours=1), TZ).endswith("就是今天")
    assert L.due_in_words(due, due - timedelta(days=1), TZ).endswith("就是明天")
    assert L.due_in_words(due, due + timedelta(days=3), TZ).endswith("已逾期 3 天")
    assert L.days_overdue(due, due + timedelta(days=3), TZ) == 3
    assert L.days_overdue(due, due - timedelta(days=1), TZ) == 0
    assert L.remaining(2, RULES) == 1 and L.remaining(5, RULES) == 0
