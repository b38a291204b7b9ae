"""Title search (书目检索): by title, author, ISBN, pinyin and initials, ranked, a page at a time;
and the copy counts shown beside each title found."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from library_app.domain.errors import RuleBroken
from library_app.domain.isbn import clean as clean_isbn
from library_app.domain.isbn import looks_like_isbn, normalize_isbn
from library_app.domain.statuses import CopyStatus
from library_app.domain.text import search_text
from library_app.models import Copy, Title

from .paging import PER_PAGE, Page, last_page


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
        page = min(page, last_page(total, per_page))
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
    last = last_page(total, per_page)
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
