"""The three things a scan does to a loan: lend (``_loan``), return (``_return``) and renew
(``_renew``), each planned by ``domain.loans`` and written with the prebuilt statements; and the
answer one event gets (``_result``, ``_loan_json``, ``_finish``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from library_app.domain import events as ev_rules
from library_app.domain import loans as rules_mod
from library_app.domain.events import Event
from library_app.domain.loans import OpenLoan, due_in_words
from library_app.domain.reports import local_day
from library_app.domain.statuses import CopyStatus
from library_app.domain.stocktake import found_again

from .batch import CardRow, CopyRow, Scan, _Batch
from .statements import (
    _CLOSE_LOAN,
    _COPY_HERE,
    _COPY_STATE,
    _INSERT_LOAN,
    _INSERT_RENEWAL,
    _NEXT_LENT,
    _RENEW,
)


def _result(event_id: str, status: str, code: str, message: str,
            loan: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "status": status, "code": code, "message": message, "loan": loan, **extra}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _loan_json(b: _Batch, *, loan_id: int, copy: CopyRow, borrower: str, card: str | None,
               point: str, lent_at: datetime, due_at: datetime | None, renewals: int = 0,
               returned_at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": loan_id, "copy": copy.code, "title": copy.title,
        "borrower": {"name": borrower, "card": card}, "point": point,
        "lent_at": _iso(lent_at), "due_at": _iso(due_at),
        "due_text": due_in_words(due_at, b.now, b.tz) if returned_at is None else "",
        "renewals": renewals, "returned_at": _iso(returned_at),
    }


def _when(b: _Batch, event: Event, clock: str | None, open_loan: OpenLoan | None) -> tuple[datetime, bool]:
    """The time to record and whether the event was offline.

    Online, the server's clock is the truth (phones differ by minutes), and what happens
    now cannot precede the copy's current loan (a request that waited for the lock behind
    another one comes after it); offline, the device's time is when it happened; a clock
    that cannot be right is replaced by the time the server received the event (and the
    event goes to review).
    """
    offline = ev_rules.is_offline(event, b.now)
    if clock is not None or not offline:
        if open_loan is not None and open_loan.lent_at > b.now and not offline:
            return open_loan.lent_at, offline
        return b.now, offline
    return event.at, offline


def _settled(b: _Batch, event: Event, *, card_bound_at: datetime | None = None,
             copy_created_at: datetime | None = None) -> Event:
    """The event settled again with what the scan read: a device time before the card was
    bound or the copy registered is not believed either (recorded at the server's time)."""
    return ev_rules.settle_clock(event, b.now, card_bound_at=card_bound_at, copy_created_at=copy_created_at)


def _finish(b: _Batch, event: Event, point_id: int, *, status: str, code: str, message: str,
            loan_id: int | None, reasons: list[str], loan: dict[str, Any] | None,
            **extra: Any) -> dict[str, Any]:
    if reasons:
        status = "review"
        message += " 已交给图书管理员复核：" + b.review(event, reasons, loan_id, point_id) + "。"
        code = code if code not in ("lent", "returned") else reasons[0]
    b.store(event, event_id=event.id, status=status, code=code, message=message, point_id=point_id,
            loan_id=loan_id)
    return _result(event.id, status, code, message, loan, **extra)


def _loan(b: _Batch, event: Event, point_id: int, scan: Scan,
          also_review: list[str] | None = None) -> dict[str, Any]:
    """Lend; ``also_review``: reasons found before the plan (a kiosk's offline loan, issue 17)."""
    assert event.card is not None
    copy = scan.copy
    if copy is None:
        raise rules_mod.UnknownCopy()
    card = scan.card
    if card is None:
        raise rules_mod.UnknownCard()
    open_loan = scan.open_loan
    if (event.if_on_loan_elsewhere == "return_only" and open_loan is not None
            and open_loan.borrower_id != card.borrower_id and not ev_rules.is_offline(event, b.now)):
        # Scanned online with another child current: the book was handed back, so it is returned
        # now and lent only when the story mother taps "借给…" (product.md, Scanning).
        returned = _return(b, replace(event, type="return", card=None), point_id, scan)
        if returned["code"] == "returned":
            returned["code"] = "returned_not_lent"
        return returned
    event = _settled(b, event, card_bound_at=card.bound_at, copy_created_at=copy.created_at)
    clock = event.clock
    at, offline = _when(b, event, clock, open_loan)
    plan = rules_mod.plan_loan(copy=copy.state(), card=card.state(), open_loan=open_loan,
                               open_count=card.open_count, at=at, point_id=point_id, rules=b.rules,
                               offline=offline)
    reasons = list(also_review or []) + list(plan.review) + ([clock] if clock else [])
    name = card.borrower_name
    if plan.action == "already_lent":
        return _already_lent(b, event, point_id, copy, card, open_loan)
    if plan.action == "backdate":
        return _backdate(b, event, point_id, copy, card, open_loan, at, reasons)
    c = b.conn
    code = "lent"
    previous: dict[str, Any] | None = None
    if plan.close_open:
        assert open_loan is not None
        c.execute(_CLOSE_LOAN, {"b_loan": open_loan.id, "b_at": at, "b_point": point_id, "b_by": b.actor_id,
                                "b_kind": "implicit", "b_event": event.id})
        b.audit("circulation.implicit_return", open_loan.id, point_id, event=event.id, copy=copy.code)
        code = "implicit_return"
        previous = {"id": open_loan.id, "borrower": {"name": open_loan.borrower_name}}
    loan_id = c.execute(_INSERT_LOAN, _loan_row(b, copy, card, point_id, at, plan.due_at, event.id)).scalar_one()
    c.execute(_COPY_STATE, {"b_copy": copy.id, "b_status": CopyStatus.ON_LOAN, "b_point": point_id})
    b.audit("circulation.loan", loan_id, point_id, event=event.id, copy=copy.code, card=card.code)
    words = due_in_words(plan.due_at, b.now, b.tz)
    if previous is not None:
        message = (f"《{copy.title}》原来借给了{previous['borrower']['name'] or '别人'}，已先为其归还，"
                   f"现在借给{name}。应还日期：{words}。")
    else:
        message = f"《{copy.title}》已借给{name}。应还日期：{words}。"
    if plan.found:
        message += " 这本书原登记为遗失，现已找到。"
    if found_again(copy.status):  # stocktake (issue 18): lent, so no longer missing (now on_loan)
        message += " 这本书盘点时登记为缺失，现已找到。"
    loan = _loan_json(b, loan_id=loan_id, copy=copy, borrower=name, card=card.code, point=event.point,
                      lent_at=at, due_at=plan.due_at)
    return _finish(b, event, point_id, status="applied", code=code, message=message, loan_id=loan_id,
                   reasons=reasons, loan=loan, previous=previous,
                   borrower=_borrower_json(b, name, card.open_count + 1))


def _already_lent(b: _Batch, event: Event, point_id: int, copy: CopyRow, card: CardRow,
                  open_loan: OpenLoan | None) -> dict[str, Any]:
    """The copy is already on loan to this child: nothing changes, the answer says so."""
    assert open_loan is not None
    name = card.borrower_name
    message = f"《{copy.title}》已经借给了{name}，不用再借。"
    loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=name, card=card.code,
                      point=event.point, lent_at=open_loan.lent_at, due_at=open_loan.due_at,
                      renewals=open_loan.renewals)
    b.store(event, event_id=event.id, status="duplicate", code="already_lent", message=message,
            point_id=point_id, loan_id=open_loan.id)
    return _result(event.id, "duplicate", "already_lent", message, loan,
                   borrower=_borrower_json(b, name, card.open_count))


def _backdate(b: _Batch, event: Event, point_id: int, copy: CopyRow, card: CardRow,
              open_loan: OpenLoan | None, at: datetime, reasons: list[str]) -> dict[str, Any]:
    """An offline loan from before the copy's later loan: recorded, and closed when that one began."""
    c = b.conn
    name = card.borrower_name
    assert open_loan is not None
    ended = c.execute(_NEXT_LENT, {"b_copy": copy.id, "b_at": at}).scalar() or open_loan.lent_at
    due = rules_mod.due_date(at, b.rules)
    loan_id = c.execute(_INSERT_LOAN, _loan_row(b, copy, card, point_id, at, due, event.id,
                                                returned_at=ended, return_kind="implicit")).scalar_one()
    b.audit("circulation.loan", loan_id, point_id, event=event.id, copy=copy.code, card=card.code,
            backdated=True)
    message = (f"《{copy.title}》借给{name}的记录已补上；这本书后来又借给了{open_loan.borrower_name or '别人'}，"
               "所以这次借阅记为已结束。")
    loan = _loan_json(b, loan_id=loan_id, copy=copy, borrower=name, card=card.code,
                      point=event.point, lent_at=at, due_at=due, returned_at=ended)
    return _finish(b, event, point_id, status="review", code="loan_before_later_loan",
                   message=message, loan_id=loan_id, reasons=reasons, loan=loan)


def _loan_row(b: _Batch, copy: CopyRow, card: CardRow, point_id: int, at: datetime, due: datetime | None,
              event_id: str, returned_at: datetime | None = None, return_kind: str = "") -> dict[str, Any]:
    return {
        "copy_id": copy.id, "title_id": copy.title_id, "borrower_id": card.borrower_id, "card_id": card.id,
        "point_id": point_id, "lent_by_id": b.actor_id, "lent_at": at, "lent_day": local_day(at, b.tz),
        "due_at": due, "renewals": 0,
        "returned_at": returned_at, "return_kind": return_kind, "event_id": event_id, "source": "scan",
        "outcome": "", **b.channel,  # KIOSK (issue 17)
    }


def _borrower_json(b: _Batch, name: str, open_count: int) -> dict[str, Any]:
    return {"name": name, "open_loans": open_count, "limit": b.rules.loan_limit,
            "remaining": rules_mod.remaining(open_count, b.rules)}


def _return(b: _Batch, event: Event, point_id: int, scan: Scan) -> dict[str, Any]:
    copy = scan.copy
    if copy is None:
        raise rules_mod.UnknownCopy()
    event = _settled(b, event, copy_created_at=copy.created_at)
    clock = event.clock
    open_loan = scan.open_loan
    at, _offline = _when(b, event, clock, open_loan)
    plan = rules_mod.plan_return(copy=copy.state(), open_loan=open_loan, at=at)
    reasons = list(plan.review) + ([clock] if clock else [])
    c = b.conn
    if plan.action == "not_on_loan":
        back = found_again(copy.status)  # stocktake (issue 18): a copy marked missing (缺失) is back
        if plan.set_available or back:
            c.execute(_COPY_STATE, {"b_copy": copy.id, "b_status": CopyStatus.AVAILABLE, "b_point": point_id})
        else:
            c.execute(_COPY_HERE, {"b_copy": copy.id, "b_point": point_id})
        message = f"《{copy.title}》没有借出，不用归还。要借出请先扫借阅证。"
        if plan.found:
            message = f"《{copy.title}》原登记为遗失，现已找到，已放回在架。"
        if back:  # stocktake (issue 18)
            message = f"《{copy.title}》盘点时登记为缺失，现已找到，已恢复在馆可借。"
        if plan.set_available:
            b.audit("circulation.return", "", point_id, event=event.id, copy=copy.code, not_on_loan=True)
        return _finish(b, event, point_id, status="applied", code="not_on_loan", message=message,
                       loan_id=None, reasons=reasons, loan=None)
    assert open_loan is not None
    if plan.action == "crosses_later_loan":
        message = (f"《{copy.title}》在这次归还之后又借给了{open_loan.borrower_name or '别人'}，"
                   "这次归还没有关闭那次借阅。")
        loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=open_loan.borrower_name, card=None,
                          point=event.point, lent_at=open_loan.lent_at, due_at=open_loan.due_at,
                          renewals=open_loan.renewals)
        return _finish(b, event, point_id, status="review", code="return_crosses_loan", message=message,
                       loan_id=open_loan.id, reasons=reasons, loan=loan)
    c.execute(_CLOSE_LOAN, {"b_loan": open_loan.id, "b_at": at, "b_point": point_id, "b_by": b.actor_id,
                            "b_kind": "normal", "b_event": event.id})
    c.execute(_COPY_STATE, {"b_copy": copy.id, "b_status": CopyStatus.AVAILABLE, "b_point": point_id})
    b.audit("circulation.return", open_loan.id, point_id, event=event.id, copy=copy.code)
    late = rules_mod.days_overdue(open_loan.due_at, at, b.tz)
    name = open_loan.borrower_name or "小读者"
    message = f"《{copy.title}》已归还（{name}借的）。"
    if late:
        message += f" 逾期了 {late} 天。"
    loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=name, card=None, point=event.point,
                      lent_at=open_loan.lent_at, due_at=open_loan.due_at, renewals=open_loan.renewals,
                      returned_at=at)
    return _finish(b, event, point_id, status="applied", code="returned", message=message,
                   loan_id=open_loan.id, reasons=reasons, loan=loan, days_overdue=late)


def _renew(b: _Batch, event: Event, point_id: int, scan: Scan) -> dict[str, Any]:
    copy = scan.copy
    if copy is None:
        raise rules_mod.UnknownCopy()
    event = _settled(b, event, copy_created_at=copy.created_at)
    clock = event.clock
    open_loan = scan.open_loan
    at, _offline = _when(b, event, clock, open_loan)
    plan = rules_mod.plan_renew(copy=copy.state(), open_loan=open_loan, at=at, rules=b.rules)
    assert open_loan is not None
    b.conn.execute(_RENEW, {"b_loan": open_loan.id, "b_due": plan.due_at, "b_renewals": plan.renewals})
    # the due date before it stays known: a past month's "overdue at its end" reads it
    b.conn.execute(_INSERT_RENEWAL, {"loan_id": open_loan.id, "renewed_at": at,
                                     "due_before": open_loan.due_at, "due_after": plan.due_at,
                                     "renewed_by_id": b.actor_id, "event_id": event.id})
    b.audit("circulation.renew", open_loan.id, point_id, event=event.id, copy=copy.code,
            old_due=_iso(open_loan.due_at), new_due=_iso(plan.due_at))
    message = f"《{copy.title}》已续借。应还日期：{due_in_words(plan.due_at, b.now, b.tz)}。"
    loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=open_loan.borrower_name, card=None,
                      point=event.point, lent_at=open_loan.lent_at, due_at=plan.due_at,
                      renewals=plan.renewals)
    return _finish(b, event, point_id, status="applied", code="renewed", message=message,
                   loan_id=open_loan.id, reasons=[clock] if clock else [], loan=loan)

