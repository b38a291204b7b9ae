"""Cards (借阅证): issue, replace (the old one revoked), pre-printed batches, binding, lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import case, func, select, text, update
from sqlalchemy.orm import Session, selectinload

from library_app.domain.borrowers import (
    CardAlreadyBound,
    CardNotUnbound,
    CardRevoked,
    check_card_transition,
)
from library_app.domain.codes import make_code, parse_code, sequence_number
from library_app.domain.dates import day_start, parse_day
from library_app.domain.statuses import CardStatus
from library_app.models import Borrower, Card, Point, User

from . import audit, scope
from .errors import Invalid, NotFound

MAX_BATCH = 500
# Any constant works: it names the lock that serialises card number allocation on PostgreSQL.
_CARD_SEQUENCE_LOCK = 0x43415244  # "CARD"


def _lock_card_numbers(session: Session) -> None:
    """Serialise allocation: SQLite write transactions already hold the write lock (IMMEDIATE);
    PostgreSQL takes a transaction-scoped advisory lock, released at commit or rollback."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CARD_SEQUENCE_LOCK})


def next_card_numbers(session: Session, count: int = 1) -> list[int]:
    """The next ``count`` card sequence numbers: after the highest existing code."""
    _lock_card_numbers(session)
    # Longer codes hold bigger numbers; among equal lengths the text order is the number order.
    last = session.scalar(
        select(Card.code).order_by(func.length(Card.code).desc(), Card.code.desc()).limit(1)
    )
    start = sequence_number(last) + 1 if last else 1
    return list(range(start, start + count))


def new_card(session: Session, now: datetime, borrower: Borrower | None, batch: str = "") -> Card:
    number = next_card_numbers(session)[0]
    card = Card(
        code=make_code("card", number), borrower_id=borrower.id if borrower else None,
        status=CardStatus.ACTIVE if borrower else CardStatus.UNBOUND, batch=batch, created_at=now,
        bound_at=now if borrower else None,
    )
    session.add(card)
    session.flush()
    return card


def _revoke_active(session: Session, borrower: Borrower, now: datetime) -> Card | None:
    old = session.scalar(
        select(Card).where(Card.borrower_id == borrower.id, Card.status == CardStatus.ACTIVE)
    )
    if old is None:
        return None
    check_card_transition(old.status, CardStatus.REVOKED)
    old.status = CardStatus.REVOKED
    old.revoked_at = now
    session.flush()  # before a new active card: one active card per borrower (unique index)
    return old


def issue_card(session: Session, actor: User, now: datetime, borrower: Borrower) -> tuple[Card, Card | None]:
    """A new card for ``borrower``; the previous active one (if any) becomes revoked."""
    if borrower.anonymised_at is not None:
        raise Invalid("已匿名的借阅人不能补办借阅证。")
    old = _revoke_active(session, borrower, now)
    card = new_card(session, now, borrower)
    session.expire(borrower, ["cards"])
    audit.record(session, actor, now, "card.issue", "borrower", borrower.id,
                 point_id=borrower.home_point_id, card=card.code,
                 revoked=old.code if old else None)
    return card, old


def create_unbound_batch(
    session: Session, actor: User, now: datetime, count: int, label: str = ""
) -> list[Card]:
    """``count`` pre-printed cards that belong to nobody until their first scan."""
    if not 1 <= count <= MAX_BATCH:
        raise Invalid(f"一次可以生成 1 到 {MAX_BATCH} 张空白借阅证。")
    batch = (label or "").strip()[:32] or now.strftime("批次%Y%m%d-%H%M%S")
    cards = [
        Card(code=make_code("card", n), borrower_id=None, status=CardStatus.UNBOUND, batch=batch,
             created_at=now)
        for n in next_card_numbers(session, count)
    ]
    session.add_all(cards)
    session.flush()
    audit.record(session, actor, now, "card.batch", "card_batch", batch, count=count,
                 first=cards[0].code, last=cards[-1].code)
    return cards


def check_bindable(card: Card) -> None:
    """A pre-printed card binds only while unbound: once only, and never when revoked."""
    if card.status == CardStatus.REVOKED:
        raise CardRevoked()
    if card.status == CardStatus.ACTIVE:
        raise CardAlreadyBound()
    if card.status != CardStatus.UNBOUND:
        raise CardNotUnbound()
    check_card_transition(card.status, CardStatus.ACTIVE)


def bind_card(session: Session, actor: User, now: datetime, card: Card, borrower: Borrower) -> Card:
    """Bind a pre-printed card to a child, once only; the child's previous card is revoked.

    The state change is a compare-and-set on ``status = 'unbound'``, so two phones binding the
    same card at the same moment cannot both succeed.
    """
    check_bindable(card)
    _revoke_active(session, borrower, now)
    done = session.execute(
        update(Card)
        .where(Card.id == card.id, Card.status == CardStatus.UNBOUND)
        .values(status=CardStatus.ACTIVE, borrower_id=borrower.id, bound_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise CardAlreadyBound()
    session.refresh(card)
    session.expire(borrower, ["cards"])
    audit.record(session, actor, now, "card.bind", "borrower", borrower.id,
                 point_id=borrower.home_point_id, card=card.code)
    return card


@dataclass(frozen=True)
class CardLookup:
    card: Card
    borrower: Borrower | None  # None for unbound and revoked cards: a revoked card names no one


def find_card(session: Session, raw_code: str) -> Card:
    """The card for a scanned or typed code (bare or /s/ URL); bad check digit refused."""
    code = parse_code(raw_code, expect="card").code
    card = session.scalar(select(Card).where(Card.code == code))
    if card is None:
        raise NotFound(f"没有编号为 {code} 的借阅证。", code_value=code)
    return card


def lookup(session: Session, raw_code: str) -> CardLookup:
    card = find_card(session, raw_code)
    borrower = card.borrower if card.status == CardStatus.ACTIVE else None
    return CardLookup(card=card, borrower=borrower)


def recent_batches(session: Session, limit: int = 10) -> list[tuple[str, int, int]]:
    """(batch, cards, still unbound) of the latest pre-printed batches."""
    rows = session.execute(
        select(Card.batch, func.count(Card.id), func.max(Card.created_at),
               func.sum(case((Card.status == CardStatus.UNBOUND, 1), else_=0)))
        .where(Card.batch != "")
        .group_by(Card.batch)
        .order_by(func.max(Card.created_at).desc())
        .limit(limit)
    ).all()
    return [(row[0], int(row[1]), int(row[3] or 0)) for row in rows]


SHEET_MAX = 200  # cards on one printed sheet request


def sheet_cards(session: Session, actor: User, *, batch: str, codes: str, ids: str, point: str,
                since: str, tz: tzinfo) -> list[Card]:
    """The cards to print: a pre-printed batch, or active cards of children not anonymised chosen
    by card codes, child ids (comma lists), home point or bound since a day; at most SHEET_MAX.
    Only cards the actor may see: a point lead's sheet holds her points' children and blank cards."""
    q = select(Card).options(selectinload(Card.borrower).selectinload(Borrower.home_point))
    wanted_codes = [c.strip().upper() for c in codes.replace("，", ",").split(",") if c.strip()]
    if batch:
        q = q.outerjoin(Borrower, Borrower.id == Card.borrower_id).where(
            Card.batch == batch, Card.borrower_id.is_(None) | scope.visible_borrowers(actor))
    else:
        q = q.where(scope.visible_borrowers(actor))
        q = q.join(Borrower, Borrower.id == Card.borrower_id).where(
            Card.status == CardStatus.ACTIVE, Borrower.anonymised_at.is_(None))
        chosen = False
        if wanted_codes:
            q = q.where(Card.code.in_(wanted_codes))
            chosen = True
        if ids:
            try:
                wanted = [int(x) for x in ids.replace("，", ",").split(",") if x.strip()]
            except ValueError as exc:
                raise Invalid("借阅人编号应为数字，用逗号分隔。") from exc
            q = q.where(Borrower.id.in_(wanted))
            chosen = True
        if point:
            q = q.join(Point, Point.id == Borrower.home_point_id).where(Point.code == point)
            chosen = True
        if since:
            q = q.where(Card.bound_at >= day_start(parse_day(since), tz))
            chosen = True
        if not chosen:
            raise Invalid("请选择要打印哪些借阅证：批次、阅读点、登记日期或借阅证编号。")
    found = list(session.scalars(q.order_by(Card.code).limit(SHEET_MAX + 1)))
    if len(found) > SHEET_MAX:
        raise Invalid(f"一次最多打印 {SHEET_MAX} 张，请缩小范围。")
    return found
