"""The snapshot a phone keeps to scan without a connection (codes, titles, masked names)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from library_app.domain.offline_cache import mask_name, points_to_cache
from library_app.domain.statuses import CardStatus
from library_app.models import Borrower, Card, Copy, Loan, Point, Title, User

from .errors import NotFound
from .settings import get_settings


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def offline_snapshot(
    session: Session, actor: User, now: datetime, requested: Iterable[str],
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Copies (code, title, status, who has it by card) and cards (code, masked name) of the
    points this user scans at. Nothing else about a child leaves the server this way."""
    all_points = {p.code: p for p in session.scalars(select(Point))}
    codes = points_to_cache(
        actor.role, actor.point_codes(), requested,
        [code for code, p in all_points.items() if p.active],
    )
    unknown = [code for code in codes if code not in all_points]
    if unknown:
        raise NotFound(f"没有编号为 {'、'.join(unknown)} 的阅读点。")
    point_ids = [all_points[code].id for code in codes]
    code_of = {p.id: p.code for p in all_points.values()}

    open_loans, copy_rows, card_rows = _rows(session, point_ids)
    loan_by_copy = {row.copy_id: row for row in open_loans}
    active_card = {row.borrower_id: row.code for row in card_rows if row.status == CardStatus.ACTIVE}
    card_code = {row.id: row.code for row in card_rows}
    open_count: dict[int, int] = {}
    for row in open_loans:
        if row.borrower_id is not None:
            open_count[row.borrower_id] = open_count.get(row.borrower_id, 0) + 1

    copies = []
    for copy in copy_rows:
        loan = loan_by_copy.get(copy.id)
        holder = None
        if loan is not None:
            holder = active_card.get(loan.borrower_id) or card_code.get(loan.card_id)
        copies.append({
            "code": copy.code, "title": copy.title, "status": copy.status,
            "point": code_of.get(copy.current_point_id),
            "card": holder, "due_at": _iso(loan.due_at) if loan is not None else None,
        })
    cards = [
        {"code": row.code, "name": mask_name(row.name), "status": row.status,
         "borrower_status": row.borrower_status, "point": code_of.get(row.home_point_id),
         "open_loans": open_count.get(row.borrower_id, 0)}
        for row in card_rows
    ]
    settings = get_settings(session, config)
    return {
        "user": actor.username,
        "generated_at": now.isoformat(),
        "points": [{"code": code, "name": all_points[code].name} for code in codes],
        "loan_limit": settings.loan_limit,
        "loan_days": settings.loan_days,
        "copies": copies,
        "cards": cards,
    }


def _rows(session: Session, point_ids: list[int]) -> tuple[list[Any], list[Any], list[Any]]:
    """The open loans made at these points or of copies that live here, those copies, and the
    cards of the points' children and of the children holding those copies."""
    open_loans = session.execute(
        select(Loan.copy_id, Loan.borrower_id, Loan.card_id, Loan.due_at)
        .join(Copy, Copy.id == Loan.copy_id)
        .where(Loan.returned_at.is_(None))
        .where(or_(Loan.point_id.in_(point_ids), Copy.current_point_id.in_(point_ids),
                   Copy.home_point_id.in_(point_ids)))
    ).all()
    loan_by_copy = {row.copy_id: row for row in open_loans}

    copy_rows = session.execute(
        select(Copy.id, Copy.code, Copy.status, Copy.current_point_id, Title.title)
        .join(Title, Title.id == Copy.title_id)
        .where(or_(Copy.current_point_id.in_(point_ids), Copy.home_point_id.in_(point_ids),
                   Copy.id.in_(list(loan_by_copy) or [-1])))
        .order_by(Copy.code)
    ).all()

    borrower_ids = {row.borrower_id for row in open_loans if row.borrower_id is not None}
    card_rows = session.execute(
        select(Card.id, Card.code, Card.status, Card.borrower_id, Borrower.name,
               Borrower.status.label("borrower_status"), Borrower.home_point_id)
        .join(Borrower, Borrower.id == Card.borrower_id)
        .where(Borrower.anonymised_at.is_(None))
        .where(or_(Borrower.home_point_id.in_(point_ids),
                   Borrower.id.in_(list(borrower_ids) or [-1])))
        .order_by(Card.code)
    ).all()
    return list(open_loans), list(copy_rows), list(card_rows)
