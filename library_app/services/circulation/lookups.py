"""Look-ups for the scan screen: a card with its child and open loans, a copy with its holder.
What a child's name shows goes through ``services.scope``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain import loans as rules_mod
from library_app.domain.errors import RuleBroken
from library_app.domain.loans import CardState, LoanRules, due_in_words
from library_app.domain.settings import LibrarySettings
from library_app.domain.statuses import BorrowerStatus, CardStatus
from library_app.models import Borrower, Card, Copy, Loan, Point, Title, User

from .actions import _iso
from .statements import _points


def card_summary(session: Session, actor: User, now: datetime, code: str, settings: LibrarySettings,
                 ip: str = "") -> dict[str, Any]:
    """A card as the scan screen shows it: the child, open loans, how many more allowed.

    Refusals that a lend would meet (revoked, unbound, suspended) come back in ``refusal``.
    Data scope (``services.scope``): a child the actor may see in full is shown and the view
    logged; a child of another point comes back masked (王*明, no id, no home point, open loans
    as copy codes and due dates without titles), so a visiting child can still borrow.
    """
    from library_app.services import scope

    rules = LoanRules.from_settings(settings)
    row = session.execute(
        select(Card.code.label("card_code"), Card.status.label("status"), Borrower.id.label("borrower_id"),
               Borrower.name.label("name"), Borrower.status.label("borrower_status"),
               Point.code.label("home"), Point.id.label("home_id"))
        .outerjoin(Borrower, Borrower.id == Card.borrower_id)
        .outerjoin(Point, Point.id == Borrower.home_point_id)
        .where(Card.code == code)
    ).first()
    if row is None:
        raise rules_mod.UnknownCard()
    card_code, status, borrower_id, name = row.card_code, row.status, row.borrower_id, row.name
    borrower_status, home, home_id = row.borrower_status, row.home, row.home_id
    seen = None
    if borrower_id is not None and status != CardStatus.REVOKED:
        seen = scope.see(session, actor, now, borrower_id=borrower_id, name=name, home_point=home,
                         home_point_id=home_id, via="scan", ip=ip)
        name = seen.name
    refusal: dict[str, str] | None = None
    try:
        rules_mod.check_card(CardState(code=card_code, status=status, borrower_id=borrower_id,
                                       borrower_status=borrower_status or BorrowerStatus.ACTIVE, borrower_name=name or ""),
                             rules_mod.Verdict(offline=False))
    except RuleBroken as exc:
        refusal = {"code": exc.code, "message": exc.message}
    loans = open_loans_of(session, borrower_id, now, rules) if borrower_id and status != CardStatus.REVOKED else []
    borrower: dict[str, Any] | None = None
    if seen is not None and seen.full:
        borrower = {"id": borrower_id, "name": name, "point": home, "status": borrower_status}
    elif seen is not None and seen.level == scope.MASKED:
        borrower = {"id": None, "name": name, "point": None, "status": borrower_status, "masked": True}
        loans = [{**loan, "id": None, "title": ""} for loan in loans]
    body: dict[str, Any] = {
        "code": card_code, "status": status, "borrower": borrower,
        "loans": loans, "open_loans": len(loans), "limit": rules.loan_limit,
        "remaining": rules_mod.remaining(len(loans), rules), "refusal": refusal,
    }
    if refusal is None and len(loans) >= rules.loan_limit:
        body["refusal"] = {"code": "limit_reached",
                           "message": f"{name}已借 {len(loans)} 本，达到上限 {rules.loan_limit} 本：请先归还一本再借。"}
    return body


def open_loans_of(session: Session, borrower_id: int, now: datetime, rules: LoanRules) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Loan.id.label("id"), Copy.code.label("copy"), Title.title.label("title"),
               Loan.lent_at.label("lent_at"), Loan.due_at.label("due_at"), Loan.renewals.label("renewals"))
        .join(Copy, Copy.id == Loan.copy_id).join(Title, Title.id == Copy.title_id)
        .where(Loan.borrower_id == borrower_id, Loan.returned_at.is_(None))
        .order_by(Loan.lent_at)
    ).all()
    return [{
        "id": r.id, "copy": r.copy, "title": r.title, "lent_at": _iso(r.lent_at), "due_at": _iso(r.due_at),
        "due_text": due_in_words(r.due_at, now, rules.tz), "renewals": r.renewals,
        "overdue": rules_mod.days_overdue(r.due_at, now, rules.tz),
        "can_renew": r.renewals < rules.max_renewals,
    } for r in rows]


def copy_summary(session: Session, actor: User, now: datetime, code: str, settings: LibrarySettings,
                 ip: str = "") -> dict[str, Any]:
    """A copy as the scan screen shows it, with its open loan. The holder is shown through
    ``services.scope``: in full (and logged) to staff and to a story mother of the child's point;
    else masked, without the card."""
    from library_app.services import scope

    rules = LoanRules.from_settings(settings)
    row = session.execute(
        select(Copy.id.label("id"), Copy.code.label("code"), Copy.status.label("status"),
               Title.title.label("title"), Point.code.label("point"))
        .join(Title, Title.id == Copy.title_id).join(Point, Point.id == Copy.current_point_id)
        .where(Copy.code == code)
    ).first()
    if row is None:
        raise rules_mod.UnknownCopy()
    home = _points.alias("home")
    loan = session.execute(
        select(Loan.id.label("id"), Borrower.name.label("name"), Card.code.label("card"),
               Loan.lent_at.label("lent_at"), Loan.due_at.label("due_at"), Borrower.id.label("borrower_id"),
               home.c.code.label("home"), home.c.id.label("home_id"))
        .outerjoin(Borrower, Borrower.id == Loan.borrower_id).outerjoin(Card, Card.id == Loan.card_id)
        .outerjoin(home, home.c.id == Borrower.home_point_id)
        .where(Loan.copy_id == row.id, Loan.returned_at.is_(None))
    ).first()
    holder: dict[str, Any] | None = None
    if loan is not None and loan.borrower_id is not None:
        seen = scope.see(session, actor, now, borrower_id=loan.borrower_id, name=loan.name,
                         home_point=loan.home, home_point_id=loan.home_id, via="scan_copy", ip=ip)
        if seen.level != scope.NONE:
            holder = {"name": seen.name, "card": loan.card if seen.full else None}
            if not seen.full:
                holder["masked"] = True
    return {
        "code": row.code, "status": row.status, "title": row.title, "point": row.point,
        "loan": None if loan is None else {
            "id": loan.id, "borrower": holder, "lent_at": _iso(loan.lent_at),
            "due_at": _iso(loan.due_at), "due_text": due_in_words(loan.due_at, now, rules.tz),
        },
    }

