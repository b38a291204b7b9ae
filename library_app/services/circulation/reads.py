"""Reads behind the librarian's circulation pages (the loans list, a loan to mark, the overdue
call list, the review queue) and the scan screen's current child. Queries only: what a child's
name shows is decided by the caller through ``services.scope``, where it takes effect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, case, func, literal, select
from sqlalchemy.orm import Session

from library_app.domain.roles import is_point_bound
from library_app.models import (
    Borrower,
    Card,
    Copy,
    Loan,
    Point,
    ReviewItem,
    Title,
    User,
)

from .. import scope

OTHER_POINTS_CHILD = "（其他阅读点的小读者）"


def _child(actor: User, column: Any, other: Any) -> Any:
    """``column`` of a child the actor may see in full, else ``other``: a point lead's list names
    her points' children and says only "another point's child" of a visiting one."""
    if not is_point_bound(actor.role):
        return column
    return case((scope.visible_borrowers(actor), column), else_=other)


def _loan_query(status: str, point: str | None, now: datetime, actor: User) -> Select[Any]:
    """Loans with their copy, title, child, card, point and who lent them (undone ones left out);
    a point lead's: the loans at her points."""
    q = (
        select(Loan, Copy.code, Title.title, _child(actor, Borrower.name, literal(OTHER_POINTS_CHILD)),
               _child(actor, Borrower.id, literal(None)), _child(actor, Card.code, literal(None)), Point.code,
               func.coalesce(func.nullif(User.display_name, ""), User.username).label("lent_by"))
        .outerjoin(Copy, Copy.id == Loan.copy_id).outerjoin(Title, Title.id == Loan.title_id)
        .outerjoin(Borrower, Borrower.id == Loan.borrower_id).outerjoin(Card, Card.id == Loan.card_id)
        .join(Point, Point.id == Loan.point_id).outerjoin(User, User.id == Loan.lent_by_id)
        .where(Loan.undone_at.is_(None))
    )
    if status == "open":
        q = q.where(Loan.returned_at.is_(None))
    elif status == "overdue":
        q = q.where(Loan.returned_at.is_(None), Loan.due_at < now)
    elif status == "returned":
        q = q.where(Loan.returned_at.is_not(None))
    if point:
        q = q.where(Point.code == point)
    if is_point_bound(actor.role):
        q = q.where(Loan.point_id.in_(scope.her_point_ids(actor)))
    return q


def loans_page(session: Session, actor: User, now: datetime, *, status: str, point: str | None, page: int,
               per_page: int) -> tuple[list[Row[Any]], int]:
    """One page of the loans list (latest first; returned ones by return time) and the total."""
    q = _loan_query(status, point, now, actor)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    order = Loan.returned_at.desc() if status == "returned" else Loan.lent_at.desc()
    rows = session.execute(q.order_by(order, Loan.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), int(total)


def loan_row(session: Session, actor: User, now: datetime, loan_id: int) -> Row[Any] | None:
    """One loan as the loans list shows it (for the lost/damaged confirmation step)."""
    return session.execute(_loan_query("all", None, now, actor).where(Loan.id == loan_id)).first()


def overdue_rows(session: Session, now: datetime, *, point: str | None, allowed: set[str]) -> list[Row[Any]]:
    """Open overdue loans at one point (or at the ``allowed`` points), by point, child, due date.
    Each row names the child's home point (``home_code``, ``home_id``) for the data scope."""
    home = Point.__table__.alias("home")
    q = (
        select(Borrower.id.label("borrower_id"), Borrower.name.label("name"),
               Borrower.guardian_name.label("guardian"), Borrower.guardian_phone.label("phone"),
               Point.code.label("point_code"), Title.title.label("title"), Copy.code.label("copy_code"),
               Loan.due_at.label("due_at"), Loan.lent_at.label("lent_at"),
               home.c.code.label("home_code"), home.c.id.label("home_id"))
        .join(home, home.c.id == Borrower.home_point_id)
        .join(Loan, Loan.borrower_id == Borrower.id).join(Copy, Copy.id == Loan.copy_id)
        .join(Title, Title.id == Copy.title_id).join(Point, Point.id == Loan.point_id)
        .where(Loan.returned_at.is_(None), Loan.due_at < now, Loan.undone_at.is_(None))
        .order_by(Point.code, Borrower.name, Loan.due_at)
    )
    q = q.where(Point.code == point) if point else q.where(Point.code.in_(allowed or {""}))
    return list(session.execute(q).all())


def review_rows(session: Session, actor: User, *, show: str, limit: int = 200) -> list[Row[Any]]:
    """Review items (open ones, or for any other ``show`` the resolved ones), newest first, with
    the point, the loan, its copy, title and child; a point lead's: those of her points."""
    q = (
        select(ReviewItem, Point.code, Loan, Copy.code, Title.title,
               _child(actor, Borrower.name, literal(OTHER_POINTS_CHILD)))
        .outerjoin(Point, Point.id == ReviewItem.point_id).outerjoin(Loan, Loan.id == ReviewItem.loan_id)
        .outerjoin(Copy, Copy.id == Loan.copy_id).outerjoin(Title, Title.id == Loan.title_id)
        .outerjoin(Borrower, Borrower.id == Loan.borrower_id)
    )
    q = q.where(ReviewItem.resolved_at.is_(None)) if show == "open" else q.where(ReviewItem.resolved_at.is_not(None))
    if is_point_bound(actor.role):
        q = q.where(ReviewItem.point_id.in_(scope.her_point_ids(actor)))
    return list(session.execute(q.order_by(ReviewItem.created_at.desc()).limit(limit)).all())


def card_holder(session: Session, card_code: str) -> Row[Any] | None:
    """The child a card is bound to: ``name`` and ``home_code`` (her point), or None."""
    return session.execute(  # type: ignore[return-value]
        select(Borrower.name.label("name"), Point.code.label("home_code"))
        .join(Card, Card.borrower_id == Borrower.id)
        .join(Point, Point.id == Borrower.home_point_id).where(Card.code == card_code)
    ).first()
