"""The hot path's SQL, built once from the tables (plain Core, not ORM-enabled): SQLAlchemy then
compiles each statement once and reuses it, instead of building, keying and ORM-compiling ten
statements per scan. ``SCAN`` is the one statement a scan reads everything with; its columns are
labelled and ``batch.Scan`` reads them by label."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, literal_column, select, update

from library_app.models import (
    AuditLog,
    Borrower,
    Card,
    CirculationEvent,
    Copy,
    Loan,
    LoanRenewal,
    Point,
    ReviewItem,
    Title,
    user_points,
)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_points, _copies, _titles = _table(Point), _table(Copy), _table(Title)
_loans, _borrowers, _cards = _table(Loan), _table(Borrower), _table(Card)
_events, _audit, _reviews = _table(CirculationEvent), _table(AuditLog), _table(ReviewItem)
_renewals = _table(LoanRenewal)

# Everything one scan reads, in one row: the point (and whether the actor works there), the copy
# with its title and its open loan (and that borrower's name), and for a loan the card with its
# child and the child's open-loan count. Each part is a LEFT JOIN on a unique code, anchored on a
# one-row select, so a part that does not exist comes back as NULLs instead of losing the row.
_anchor = select(literal_column("1").label("one")).subquery("scan")
_loan_borrower, _card_borrower = _borrowers.alias("loan_borrower"), _borrowers.alias("card_borrower")
_counted = _loans.alias("counted")
_SCAN = (
    select(
        _points.c.id.label("point_id"), _points.c.active.label("point_active"),
        select(user_points.c.point_id).where(user_points.c.user_id == bindparam("b_user"),
                                             user_points.c.point_id == _points.c.id).exists().label("works_here"),
        _copies.c.id.label("copy_id"), _copies.c.code.label("copy_code"), _copies.c.status.label("copy_status"),
        _copies.c.title_id.label("title_id"), _titles.c.title.label("title"),
        _copies.c.created_at.label("copy_created_at"), _copies.c.current_point_id.label("copy_point_id"),
        _loans.c.id.label("loan_id"), _loans.c.borrower_id.label("loan_borrower_id"),
        _loans.c.lent_at.label("lent_at"), _loans.c.due_at.label("due_at"), _loans.c.renewals.label("renewals"),
        _loans.c.point_id.label("loan_point_id"), _loan_borrower.c.name.label("loan_borrower_name"),
        _cards.c.id.label("card_id"), _cards.c.code.label("card_code"), _cards.c.status.label("card_status"),
        _cards.c.bound_at.label("bound_at"), _cards.c.borrower_id.label("card_borrower_id"),
        _card_borrower.c.name.label("card_borrower_name"), _card_borrower.c.status.label("card_borrower_status"),
        # whether the card's child belongs to one of the actor's points (the answer names her in full)
        select(user_points.c.point_id).where(user_points.c.user_id == bindparam("b_user"),
                                             user_points.c.point_id == _card_borrower.c.home_point_id)
        .exists().label("card_child_here"),
        select(func.count(_counted.c.id)).where(_counted.c.borrower_id == _cards.c.borrower_id,
                                                _counted.c.returned_at.is_(None))
        .scalar_subquery().label("card_open_count"),
    )
    .select_from(
        _anchor
        .outerjoin(_points, _points.c.code == bindparam("b_point"))
        .outerjoin(_copies, _copies.c.code == bindparam("b_copy"))
        .outerjoin(_titles, _titles.c.id == _copies.c.title_id)
        .outerjoin(_loans, and_(_loans.c.copy_id == _copies.c.id, _loans.c.returned_at.is_(None)))
        .outerjoin(_loan_borrower, _loan_borrower.c.id == _loans.c.borrower_id)
        .outerjoin(_cards, _cards.c.code == bindparam("b_card"))
        .outerjoin(_card_borrower, _card_borrower.c.id == _cards.c.borrower_id)
    )
)
_OWN_CHILD = select(user_points.c.point_id).where(
    user_points.c.user_id == bindparam("b_user"),
    user_points.c.point_id == select(_borrowers.c.home_point_id)
    .where(_borrowers.c.id == bindparam("b_borrower")).scalar_subquery(),
).exists().select()
_COPY_LOCK = select(_copies.c.id).where(_copies.c.code == bindparam("b_code")).with_for_update()
# A batch's rows, locked up front in one order (copies, then borrowers; each by id).
_COPY_LOCKS = (select(_copies.c.id).where(_copies.c.code.in_(bindparam("b_codes", expanding=True)))
               .order_by(_copies.c.id).with_for_update())
_BORROWER_LOCKS = (select(_borrowers.c.id)
                   .where(_borrowers.c.id.in_(select(_cards.c.borrower_id)
                                              .where(_cards.c.code.in_(bindparam("b_cards", expanding=True)))))
                   .order_by(_borrowers.c.id).with_for_update())
# What tells a wrong device clock before a batch is ordered: when each copy was registered and
# each card bound.
_COPY_BORN = select(_copies.c.code, _copies.c.created_at).where(_copies.c.code.in_(bindparam("b_codes", expanding=True)))
_CARD_BOUND = select(_cards.c.code, _cards.c.bound_at).where(_cards.c.code.in_(bindparam("b_cards", expanding=True)))
_KNOWN_COLUMNS = (_events.c.event_id, _events.c.payload_hash, _events.c.status, _events.c.code,
                  _events.c.message, _events.c.loan_id)
_KNOWN = select(*_KNOWN_COLUMNS).where(_events.c.event_id.in_(bindparam("b_ids", expanding=True)))
_KNOWN_ONE = select(*_KNOWN_COLUMNS).where(_events.c.event_id == bindparam("b_id"))  # an online scan
_NEXT_LENT = select(func.min(_loans.c.lent_at)).where(_loans.c.copy_id == bindparam("b_copy"),
                                                       _loans.c.lent_at > bindparam("b_at"))
_INSERT_LOAN = insert(_loans).returning(_loans.c.id)
_INSERT_EVENT = insert(_events)
_INSERT_AUDIT = insert(_audit)
_INSERT_REVIEW = insert(_reviews)
_CLOSE_LOAN = update(_loans).where(_loans.c.id == bindparam("b_loan"), _loans.c.returned_at.is_(None)).values(
    returned_at=bindparam("b_at"), return_point_id=bindparam("b_point"), returned_by_id=bindparam("b_by"),
    return_kind=bindparam("b_kind"), return_event_id=bindparam("b_event"))
_COPY_STATE = update(_copies).where(_copies.c.id == bindparam("b_copy")).values(
    status=bindparam("b_status"), current_point_id=bindparam("b_point"))
_COPY_HERE = update(_copies).where(_copies.c.id == bindparam("b_copy")).values(current_point_id=bindparam("b_point"))
_RENEW = update(_loans).where(_loans.c.id == bindparam("b_loan")).values(
    due_at=bindparam("b_due"), renewals=bindparam("b_renewals"))
_INSERT_RENEWAL = insert(_renewals)
