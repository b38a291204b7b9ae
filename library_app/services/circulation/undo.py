"""Undo of a loan or a return: a story mother's own, within the undo window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain import events as ev_rules
from library_app.domain import loans as rules_mod
from library_app.domain.errors import RuleBroken
from library_app.domain.loans import LoanRules
from library_app.domain.settings import LibrarySettings
from library_app.domain.statuses import CopyStatus
from library_app.models import AuditLog, CirculationEvent, Copy, Loan, ReviewItem, Title, User


def undo_event(session: Session, actor: User, now: datetime, event_id: str,
               settings: LibrarySettings, ip: str = "") -> dict[str, Any]:
    """Undo a loan or return (a story mother's own, within the undo window). Flushes only."""
    from library_app.services.errors import NotFound

    rules = LoanRules.from_settings(settings)
    try:
        eid = ev_rules.event_id({"id": event_id})
    except RuleBroken as exc:
        raise NotFound("找不到这次操作。") from exc
    event = session.scalar(select(CirculationEvent).where(CirculationEvent.event_id == eid))
    if event is None:
        raise NotFound("找不到这次操作：它可能还在手机上等待同步。")
    rules_mod.check_undo(event_type=event.type, event_status=event.status, event_actor_id=event.actor_id,
                         received_at=event.received_at, undone_at=event.undone_at, actor_id=actor.id,
                         role=actor.role, now=now, rules=rules)
    if event.type == "loan":
        message = _undo_loan(session, event, now)
    else:
        message = _undo_return(session, event, now)
    event.undone_at = now
    for item in session.scalars(select(ReviewItem).where(ReviewItem.event_id == eid,
                                                         ReviewItem.resolved_at.is_(None))):
        item.resolved_at = now
        item.resolved_by_id = actor.id
        item.resolution = "操作已撤销"
    session.flush()
    session.add(AuditLog(at=now, actor_id=actor.id, action="circulation.undo", target_type="loan",
                         target_id=str(event.loan_id or ""), point_id=event.point_id, ip=ip,
                         details={"event": eid, "type": event.type}))
    session.flush()
    return {"event_id": eid, "undone": True, "message": message}


def _undo_loan(session: Session, event: CirculationEvent, now: datetime) -> str:
    loan = session.get(Loan, event.loan_id) if event.loan_id else None
    if loan is None or loan.event_id != event.event_id:
        raise rules_mod.NothingToUndo("这次扫描没有产生新的借阅，不需要撤销。")
    if loan.returned_at is not None or loan.undone_at is not None:
        raise rules_mod.UndoBlocked()
    copy = session.get(Copy, loan.copy_id) if loan.copy_id else None
    loan.returned_at = now
    loan.return_kind = "undo"
    loan.undone_at = now
    session.flush()  # close it before reopening the one it closed: one open loan per copy
    previous = session.scalar(select(Loan).where(Loan.return_event_id == event.event_id,
                                                 Loan.return_kind == "implicit"))
    title = session.scalar(select(Title.title).where(Title.id == loan.title_id)) or ""
    if previous is not None:
        _reopen(previous)
        session.flush()
        if copy is not None:
            copy.status = CopyStatus.ON_LOAN
        return f"已撤销：《{title}》的这次借出不算数，原来的借阅已恢复。"
    if copy is not None:
        copy.status = CopyStatus.AVAILABLE
    return f"已撤销：《{title}》的这次借出不算数。"


def _undo_return(session: Session, event: CirculationEvent, now: datetime) -> str:
    loan = session.scalar(select(Loan).where(Loan.return_event_id == event.event_id,
                                             Loan.return_kind == "normal"))
    if loan is None:
        raise rules_mod.NothingToUndo("这次归还没有关闭任何借阅，不需要撤销。")
    if loan.copy_id is not None and session.scalar(
        select(Loan.id).where(Loan.copy_id == loan.copy_id, Loan.returned_at.is_(None))
    ):
        raise rules_mod.UndoBlocked()
    _reopen(loan)
    session.flush()
    copy = session.get(Copy, loan.copy_id) if loan.copy_id else None
    if copy is not None:
        copy.status = CopyStatus.ON_LOAN
    title = session.scalar(select(Title.title).where(Title.id == loan.title_id)) or ""
    return f"已撤销：《{title}》的归还不算数，仍在借出中。"


def _reopen(loan: Loan) -> None:
    loan.returned_at = None
    loan.return_point_id = None
    loan.returned_by_id = None
    loan.return_kind = ""
    loan.return_event_id = None

