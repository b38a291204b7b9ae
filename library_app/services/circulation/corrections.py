"""A librarian's corrections: a loan ended as lost or damaged, a review item resolved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from library_app.domain import reach
from library_app.domain.roles import is_point_bound
from library_app.domain.statuses import CopyStatus, LoanOutcome
from library_app.models import AuditLog, Copy, Loan, ReviewItem, User


def mark_loan_outcome(session: Session, actor: User, now: datetime, loan_id: int, outcome: str,
                      ip: str = "") -> Loan:
    """Close an open loan because its copy is lost (not back) or damaged (back, not lendable)."""
    from library_app.services.errors import Invalid, NotFound

    if outcome not in (LoanOutcome.LOST, LoanOutcome.DAMAGED):
        raise Invalid("只能标记为遗失或损坏。")
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound("找不到这条借阅记录。")
    reach.check_point(actor.role, actor.point_codes(), loan.point.code, "不能标记这条借阅")
    if loan.returned_at is not None:
        raise Invalid("这条借阅已经结束，不能再标记。")
    loan.returned_at = now
    loan.returned_by_id = actor.id
    loan.return_kind = "lost" if outcome == LoanOutcome.LOST else "normal"
    loan.outcome = outcome
    if loan.copy_id is not None:
        session.execute(update(Copy).where(Copy.id == loan.copy_id).values(status=outcome))
    session.flush()
    session.add(AuditLog(at=now, actor_id=actor.id, action=f"circulation.mark_{outcome}",
                         target_type="loan", target_id=str(loan.id), point_id=loan.point_id, ip=ip,
                         details={"copy_id": loan.copy_id}))
    session.flush()
    return loan


REVIEW_ACTIONS = {"accept": "确认无误", "return_now": "按现在归还", "cancel_loan": "撤销这次借出"}


def resolve_review(session: Session, actor: User, now: datetime, item_id: int, action: str,
                   note: str = "", ip: str = "") -> ReviewItem:
    """Close a review item: accept what was applied, or correct the loan it is about."""
    from library_app.services.errors import Invalid, NotFound

    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound("找不到这条待复核记录。")
    if is_point_bound(actor.role) and item.point_id not in {p.id for p in actor.points}:
        raise reach.PointNotHers("这条待复核记录不是您负责的阅读点的。")
    if item.resolved_at is not None:
        raise Invalid("这条记录已经处理过了。")
    if action not in REVIEW_ACTIONS:
        raise Invalid("请选择一种处理方式。")
    loan = session.get(Loan, item.loan_id) if item.loan_id else None
    if action in ("return_now", "cancel_loan"):
        if loan is None or loan.returned_at is not None:
            raise Invalid("这条借阅已经结束，只能“确认无误”。")
        loan.returned_at = now
        loan.returned_by_id = actor.id
        loan.return_kind = "normal" if action == "return_now" else "undo"
        if action == "cancel_loan":
            loan.undone_at = now
        if loan.copy_id is not None:
            session.execute(update(Copy).where(Copy.id == loan.copy_id).values(status=CopyStatus.AVAILABLE))
    item.resolved_at = now
    item.resolved_by_id = actor.id
    item.resolution = REVIEW_ACTIONS[action] + (f"：{note.strip()[:500]}" if note.strip() else "")
    session.flush()
    session.add(AuditLog(at=now, actor_id=actor.id, action="circulation.review", target_type="review",
                         target_id=str(item.id), point_id=item.point_id, ip=ip,
                         details={"action": action, "loan_id": item.loan_id, "event": item.event_id}))
    session.flush()
    return item

