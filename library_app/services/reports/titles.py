"""The month's loans by what was read: age bands, categories and the top titles, in one
statement whose rows say which list they belong to (``TitleRow``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from library_app.models import Loan, Title

from .queries import counted, in_range

NO_VALUE = "未填"
TOP_TITLES = 10


@dataclass
class Row:
    label: str
    loans: int


class TitleRow(IntEnum):
    """What a row of the titles statement holds (its ``kind`` column)."""

    BAND_AND_CATEGORY = 0   # loans per (age band, category)
    TOP_TITLE = 1           # one of the most lent titles


@lru_cache(maxsize=4)
def _titles_statement(by_point: bool) -> Any:
    """The statement of ``by_title``, built once (bounds ``s``, ``e`` and point ``pid`` are
    parameters): the month's loans counted per title once, then read twice (joined to the
    titles), for the bands and categories and for the top titles."""
    lent = [in_range(Loan.lent_at, bindparam("s"), bindparam("e")), counted()]
    if by_point:
        lent.append(Loan.point_id == bindparam("pid"))
    per_title = (select(Loan.title_id.label("t"), func.count().label("n")).where(*lent)
                 .group_by(Loan.title_id).cte("per_title"))
    top = (select(per_title.c.t, per_title.c.n).where(per_title.c.t.is_not(None))
           .order_by(per_title.c.n.desc(), per_title.c.t).limit(TOP_TITLES).subquery("top"))
    return union_all(
        select(literal_column(str(int(TitleRow.BAND_AND_CATEGORY))).label("kind"),
               Title.age_band.label("age_band"), Title.category.label("category"),
               cast(null(), String).label("title"), cast(null(), Integer).label("title_id"),
               func.sum(per_title.c.n).label("n"))
        .select_from(per_title.outerjoin(Title, Title.id == per_title.c.t))
        .group_by(Title.age_band, Title.category),
        select(literal_column(str(int(TitleRow.TOP_TITLE))), null(), null(), Title.title, Title.id, top.c.n)
        .select_from(top.join(Title, Title.id == top.c.t)),
    )


def _ordered(counted: dict[str, int], order: tuple[str, ...]) -> list[Row]:
    """The known values in their usual order, then the others by count, unknown last."""
    known = [Row(v, counted.pop(v)) for v in order if v in counted]
    rest = sorted((Row(k, n) for k, n in counted.items() if k != NO_VALUE), key=lambda r: -r.loans)
    tail = [Row(NO_VALUE, counted[NO_VALUE])] if NO_VALUE in counted else []
    return known + rest + tail


def by_title(session: Session, start: datetime, end: datetime, pid: int | None,
             ) -> tuple[list[Row], list[Row], list[Row]]:
    """Loans in [start, end) by age band, by category (unknown last) and the top titles."""
    from library_app.models.catalog import AGE_BANDS, CATEGORIES

    stmt = _titles_statement(pid is not None)
    bands: dict[str, int] = {}
    categories: dict[str, int] = {}
    tops: list[tuple[int, int, str]] = []
    for row in session.execute(stmt, {"s": start, "e": end, "pid": pid}).mappings():
        n = int(row["n"])
        if TitleRow(int(row["kind"])) is TitleRow.BAND_AND_CATEGORY:
            band, category = row["age_band"] or NO_VALUE, row["category"] or NO_VALUE
            bands[band] = bands.get(band, 0) + n
            categories[category] = categories.get(category, 0) + n
        else:
            tops.append((-n, int(row["title_id"]), str(row["title"])))
    tops.sort()
    return (_ordered(bands, AGE_BANDS), _ordered(categories, CATEGORIES),
            [Row(t, -n) for n, _i, t in tops])
