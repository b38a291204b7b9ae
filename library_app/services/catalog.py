"""Catalog use cases: titles, search, copies and their status (transfers: ``services.transfers``).

Every function takes ``(session, actor, now, ...)`` where it changes something, flushes and never
commits: the view commits once at the end of the request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from library_app.domain import catalog as rules
from library_app.domain import reach
from library_app.domain.codes import make_code, parse_code, sequence_number
from library_app.domain.errors import RuleBroken
from library_app.domain.isbn import clean as clean_isbn
from library_app.domain.isbn import looks_like_isbn, normalize_isbn
from library_app.domain.statuses import CopyStatus
from library_app.domain.text import pinyin_keys, search_text
from library_app.models import Copy, Loan, Point, Title, User

from . import audit
from .errors import Conflict, Invalid, NotFound

PER_PAGE = 20


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


# ------------------------------------------------------------------ search

@dataclass
class Page:
    items: list[Any]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _letters_key(term: str) -> str | None:
    """The pinyin search key for a term typed in Latin letters ("Cai Cai" → "caicai")."""
    key = re.sub(r"[\s'’]", "", term).lower()
    return key if key and re.fullmatch(r"[a-z]+", key) else None


def _contains(column: Any, text: str, sqlite: bool) -> ColumnElement[bool]:
    """Case-insensitive "contains", as cheap as each database allows on a full scan.

    SQLite's LIKE already ignores ASCII case (no lower() per row), and text without Latin
    letters needs no case folding at all, so instr() does; PostgreSQL gets ILIKE.
    """
    if not sqlite:
        return column.icontains(text, autoescape=True)
    if re.search(r"[A-Za-z]", text):
        return column.contains(text, autoescape=True)
    return func.instr(column, text) > 0


def _term_condition(term: str, sqlite: bool) -> ColumnElement[bool]:
    key = _letters_key(term)
    if key:
        # Latin letters: pinyin (full or initials) of the title, which also holds any Latin
        # words of the title in lower case without spaces; and the author as typed.
        parts = [
            Title.search_pinyin.contains(key, autoescape=True),
            Title.search_initials.contains(key, autoescape=True),
            _contains(Title.author, term, sqlite),
        ]
    else:
        parts = [_contains(Title.title, term, sqlite), _contains(Title.author, term, sqlite)]
    digits = clean_isbn(term)
    if re.fullmatch(r"\d{4,13}X?", digits):
        parts.append(Title.isbn.contains(digits, autoescape=True))
    return or_(*parts)


def search_condition(q: str, sqlite: bool = True) -> ColumnElement[bool] | None:
    """Title, author, ISBN (any spelling, ISBN-10 too) and pinyin, full or initials.

    Several words must all match (each anywhere): "猜猜 麦克" finds 猜猜我有多爱你 by 山姆·麦克布雷尼.
    """
    q = " ".join((q or "").split())
    if not q:
        return None
    if looks_like_isbn(q):
        try:
            isbn = normalize_isbn(q)
        except RuleBroken:  # a mistyped ISBN still searches by its digits
            isbn = None
        if isbn:
            return Title.isbn == isbn
    whole = _term_condition(q, sqlite)
    words = q.split(" ")
    if len(words) == 1:
        return whole
    # "cai cai" is one pinyin key; "猜猜 麦克" is two words
    return or_(whole, and_(*(_term_condition(w, sqlite) for w in words)))


def _rank(q: str) -> ColumnElement[int]:
    key = _letters_key(q) or ""
    whens: list[tuple[ColumnElement[bool], int]] = [
        (Title.title == q, 0),
        (Title.title.startswith(q, autoescape=True), 1),
    ]
    if key:
        whens.append((Title.search_initials == key, 0))
        whens.append((Title.search_pinyin == key, 0))
        whens.append((Title.search_initials.startswith(key, autoescape=True), 1))
        whens.append((Title.search_pinyin.startswith(key, autoescape=True), 1))
    return case(*whens, else_=2)


def search_titles(
    session: Session, q: str = "", page: int = 1, per_page: int = PER_PAGE,
    category: str = "", age_band: str = "",
) -> Page:
    """A page of titles matching ``q`` (best matches first; newest first without a query).

    One scan of the table answers both the page and the total (``count(*) OVER ()``): fast
    enough on 20,000 titles without a text index (bench/bench_catalog.py).
    """
    q = search_text(q)
    sqlite = session.get_bind().dialect.name == "sqlite"
    conds: list[ColumnElement[bool]] = []
    cond = search_condition(q, sqlite)
    if cond is not None:
        conds.append(cond)
    if category:
        conds.append(Title.category == category)
    if age_band:
        conds.append(Title.age_band == age_band)
    per_page = max(1, min(per_page, 200))
    page = max(1, page)
    if not conds:  # browsing: the count is cheap and the newest come from the primary key
        total = int(session.scalar(select(func.count(Title.id))) or 0)
        last = max(1, math.ceil(total / per_page))
        page = min(page, last)
        items = list(session.scalars(
            select(Title).order_by(Title.id.desc()).limit(per_page).offset((page - 1) * per_page)
        ))
        return Page(items=items, number=page, per_page=per_page, total=total)
    rows_q = select(Title, func.count().over().label("total")).where(and_(*conds))
    if q:
        rows_q = rows_q.order_by(_rank(q), Title.search_pinyin, Title.id)
    else:
        rows_q = rows_q.order_by(Title.id.desc())
    rows = session.execute(rows_q.limit(per_page).offset((page - 1) * per_page)).all()
    if rows:
        return Page(items=[r[0] for r in rows], number=page, per_page=per_page, total=int(rows[0][1]))
    if page == 1:
        return Page(items=[], number=1, per_page=per_page, total=0)
    total = int(session.scalar(select(func.count(Title.id)).where(and_(*conds))) or 0)
    last = max(1, math.ceil(total / per_page))
    if total and page > last:  # past the end (an old link): show the last page
        return search_titles(session, q, last, per_page, category, age_band)
    return Page(items=[], number=page, per_page=per_page, total=total)


@dataclass(frozen=True)
class CopyCounts:
    total: int = 0
    available: int = 0


def copy_counts(session: Session, title_ids: Sequence[int]) -> dict[int, CopyCounts]:
    """Copies per title (not counting withdrawn ones) and how many are on the shelf."""
    if not title_ids:
        return {}
    rows = session.execute(
        select(
            Copy.title_id,
            func.count(Copy.id),
            func.sum(case((Copy.status == CopyStatus.AVAILABLE, 1), else_=0)),
        )
        .where(Copy.title_id.in_(list(title_ids)), Copy.status != CopyStatus.WITHDRAWN)
        .group_by(Copy.title_id)
    )
    return {tid: CopyCounts(int(total), int(avail or 0)) for tid, total, avail in rows}


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
