"""Catalog use cases: titles, search, copies and their status (transfers: ``services.transfers``).

Every function takes ``(session, actor, now, ...)`` where it changes something, flushes and never
commits: the view commits once at the end of the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from library_app.domain import catalog as rules
from library_app.domain import reach
from library_app.domain.codes import make_code, parse_code, sequence_number
from library_app.domain.isbn import normalize_isbn
from library_app.domain.statuses import CopyStatus
from library_app.domain.text import pinyin_keys
from library_app.models import Copy, Loan, Point, Title, User

from . import audit
from .errors import Conflict, Invalid, NotFound


class DuplicateIsbn(Conflict):
    code = "duplicate_isbn"
    message = "这个 ISBN 的书目已经存在。"

    def __init__(self, title: Title) -> None:
        super().__init__(
            f"ISBN 为 {title.isbn} 的书目已经存在：《{title.title}》。可以直接给它添加馆藏，不必重复建书目。",
            title_id=title.id,
        )
        self.title = title


class UnknownCopy(NotFound):
    code = "unknown_copy"
    message = "找不到这本书：系统里没有这个编码。"


# ------------------------------------------------------------------ titles

def get_title(session: Session, title_id: int) -> Title:
    title = session.get(Title, title_id)
    if title is None:
        raise NotFound("找不到这个书目。")
    return title


def find_by_isbn(session: Session, raw: str | None) -> Title | None:
    """The title with this ISBN (any spelling, ISBN-10 too), or None. Bad ISBNs raise InvalidIsbn."""
    isbn = normalize_isbn(raw)
    if isbn is None:
        return None
    return session.scalar(select(Title).where(Title.isbn == isbn).order_by(Title.id).limit(1))


def _apply_fields(title: Title, fields: rules.TitleFields) -> None:
    title.title = fields.title
    title.isbn = fields.isbn
    title.author = fields.author
    title.publisher = fields.publisher
    title.year = fields.year
    title.category = fields.category
    title.age_band = fields.age_band
    title.notes = fields.notes
    title.search_pinyin, title.search_initials = search_keys(fields.title)


def _apply_record_fields(title: Title, extra: dict[str, Any]) -> None:
    """Pages, price, 中图法 class, summary, record source and raw record (only those given)."""
    for key, value in extra.items():
        setattr(title, key, value)


def search_keys(text: str) -> tuple[str, str]:
    full, initials = pinyin_keys(text)
    return full[:1024], initials[:255]


def create_title(session: Session, actor: User | None, now: datetime, data: dict[str, Any]) -> Title:
    """Add a title. An ISBN already in the catalog raises DuplicateIsbn (offer copies instead)."""
    fields = rules.clean_title_fields(data, now.year)
    extra = rules.clean_record_fields(data)
    if fields.isbn:
        existing = session.scalar(select(Title).where(Title.isbn == fields.isbn).limit(1))
        if existing is not None:
            raise DuplicateIsbn(existing)
    title = Title(created_at=now, updated_at=now, added_by_id=actor.id if actor is not None else None)
    _apply_fields(title, fields)
    _apply_record_fields(title, extra)
    session.add(title)
    session.flush()
    details: dict[str, Any] = {"record_source": title.record_source} if title.record_source else {}
    audit.record(session, actor, now, "title.create", "title", title.id, isbn=title.isbn, **details)
    return title


def update_title(
    session: Session, actor: User | None, now: datetime, title: Title, data: dict[str, Any]
) -> Title:
    if actor is not None:
        reach.check_may_edit_title(actor.role, actor.id, title.added_by_id)
    fields = rules.clean_title_fields(data, now.year)
    extra = rules.clean_record_fields(data)
    if fields.isbn and fields.isbn != title.isbn:
        other = session.scalar(
            select(Title).where(Title.isbn == fields.isbn, Title.id != title.id).limit(1)
        )
        if other is not None:
            raise DuplicateIsbn(other)
    _apply_fields(title, fields)
    _apply_record_fields(title, extra)
    title.updated_at = now
    session.flush()
    audit.record(session, actor, now, "title.update", "title", title.id)
    return title


# ------------------------------------------------------------------ copies

def _max_copy_number(session: Session) -> int:
    # Codes are B + digits + check digit; a longer code is a larger number.
    code = session.scalar(
        select(Copy.code).order_by(func.length(Copy.code).desc(), Copy.code.desc()).limit(1)
    )
    return sequence_number(code) if code else 0


def add_copies(
    session: Session, actor: User | None, now: datetime, title: Title, point: Point, count: int,
    source: str = "purchase", notes: str = "",
) -> list[Copy]:
    """Add ``count`` copies of a title at a point, with fresh codes (max sequence + 1 …).

    Two writers at once: SQLite queues them (IMMEDIATE transactions); on PostgreSQL the loser of
    the unique index on ``code`` retries inside a savepoint with the new maximum.
    """
    if not 1 <= count <= rules.MAX_COPIES_AT_ONCE:
        raise Invalid(f"册数应在 1 到 {rules.MAX_COPIES_AT_ONCE} 之间。")
    if source not in rules.COPY_SOURCES:
        raise Invalid("来源应为采购或捐赠。")
    if not point.active:
        raise Invalid(f"阅读点 {point.code} 已停用，不能在那里添加馆藏。")
    if actor is not None:
        reach.check_point(actor.role, actor.point_codes(), point.code, "不能在那里添加馆藏")
    for attempt in range(8):
        try:
            with session.begin_nested():
                first = _max_copy_number(session) + 1
                copies = [
                    Copy(
                        code=make_code("copy", first + i), title_id=title.id,
                        home_point_id=point.id, current_point_id=point.id, status=CopyStatus.AVAILABLE,
                        source=source, notes=notes, created_at=now,
                    )
                    for i in range(count)
                ]
                session.add_all(copies)
                session.flush()
            break
        except IntegrityError:
            if attempt == 7:
                raise
    audit.record(session, actor, now, "copy.add", "title", title.id, point_id=point.id,
                 count=count, first=copies[0].code, last=copies[-1].code)
    return copies


def get_copy(session: Session, raw_code: str) -> Copy:
    """The copy for a scanned or typed code (bare or URL form). Bad check digit → refused."""
    code = parse_code(raw_code, expect="copy").code
    copy = session.scalar(
        select(Copy)
        .where(Copy.code == code)
        .options(joinedload(Copy.title), joinedload(Copy.home_point), joinedload(Copy.current_point))
    )
    if copy is None:
        raise UnknownCopy(f"找不到编码为 {code} 的书，请核对标签。")
    return copy


def copies_of(session: Session, title: Title) -> list[Copy]:
    return list(session.scalars(
        select(Copy).where(Copy.title_id == title.id)
        .options(joinedload(Copy.home_point), joinedload(Copy.current_point))
        .order_by(Copy.code)
    ))


def open_loan(session: Session, copy: Copy) -> Loan | None:
    return session.scalar(
        select(Loan).where(Loan.copy_id == copy.id, Loan.returned_at.is_(None))
        .options(joinedload(Loan.borrower), joinedload(Loan.card), joinedload(Loan.point))
    )


def card_of(loan: Loan) -> str | None:
    """The card a loan was made with, else the borrower's active card."""
    if loan.card is not None:
        return loan.card.code
    if loan.borrower is not None and loan.borrower.active_card is not None:
        return loan.borrower.active_card.code
    return None


def open_loans(session: Session, copy_ids: Sequence[int]) -> dict[int, Loan]:
    if not copy_ids:
        return {}
    loans = session.scalars(
        select(Loan).where(Loan.copy_id.in_(list(copy_ids)), Loan.returned_at.is_(None))
    )
    return {loan.copy_id: loan for loan in loans if loan.copy_id is not None}


def change_status(
    session: Session, actor: User, now: datetime, copy: Copy, action: str, note: str = ""
) -> tuple[rules.CopyAction, Loan | None]:
    """Mark a copy lost / damaged / found / repaired / withdrawn (domain.catalog.COPY_ACTIONS).

    Marking an on-loan copy lost ends that loan (outcome "lost"), so the child's limit is freed
    and the book leaves the overdue list; the loan still counts as a loan.
    """
    reach.check_point(actor.role, actor.point_codes(), copy.current_point.code, "不能改这本书的状态")
    act = rules.copy_action(action, copy.status)
    closed: Loan | None = None
    if copy.status == CopyStatus.ON_LOAN:
        closed = open_loan(session, copy)
        if closed is not None:
            closed.returned_at = now
            closed.returned_by_id = actor.id
            closed.return_kind = act.to
            closed.outcome = act.to
    before = copy.status
    copy.status = act.to
    if note:
        copy.notes = (copy.notes + "\n" if copy.notes else "") + note.strip()[:500]
    session.flush()
    audit.record(session, actor, now, f"copy.{act.name}", "copy", copy.code,
                 point_id=copy.current_point_id, before=before, after=act.to,
                 loan_closed=closed.id if closed else None)
    return act, closed
