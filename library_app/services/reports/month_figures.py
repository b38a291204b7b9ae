"""The month report's headline figures, several months in one SQL statement.

The statement's rows are labelled: each says what it counts (``RowKind``) and for which of the
months (``month_index``), and the per-month scalar figures are columns named after the figure and the
month (``distinct_borrowers_0`` …), read by name so a reordered column cannot move a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    bindparam,
    distinct,
    func,
    literal_column,
    null,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from library_app.domain import reports as rules
from library_app.domain.reports import Month
from library_app.models import Borrower, Loan

from .overdue import OVERDUE_PARTS, late_by_due_for, overdue_parts
from .queries import counted, in_range, returned, visit_counts, visits_by_day


@dataclass
class MonthFigures:
    month: Month
    loans: int = 0
    visits: int = 0
    returns: int = 0
    distinct_borrowers: int = 0
    new_borrowers: int = 0
    overdue_at_end: int = 0
    tally: int = 0
    metric: str = "loans"
    points: dict[int, tuple[int, int]] = field(default_factory=dict)  # point id → (loans, visits)
    point_tallies: dict[int, int] = field(default_factory=dict)
    lent_by: dict[int, int] = field(default_factory=dict)  # account id → loans (the report's month)
    returned_by: dict[int, int] = field(default_factory=dict)  # account id → returns (same)
    until: datetime | None = None  # counted only up to this moment (上月同期), not the whole month

    @property
    def count(self) -> int:
        return (self.visits if self.metric == "visits" else self.loans) + self.tally


class RowKind(IntEnum):
    """What a row of the month statement counts (its ``kind`` column)."""

    LOANS = 0         # loans at a point (point ``p``; in the accounts month per account ``u`` too)
    VISITS = 1        # visits at a point (``p``)
    RETURNS = 2       # the accounts month's returns taken by account ``u`` (NULL: unknown)


def _point_key() -> Any:
    """``point_id + 0``: the same value, but SQLite then counts from the covering index
    instead of walking ix_loans_point_lent_at for its order (and reading every row)."""
    return (Loan.point_id + literal_column("0")).label("p")


def _kind(kind: RowKind) -> Any:
    return literal_column(str(int(kind))).label("kind")


def _month_index(i: int) -> Any:
    return literal_column(str(i)).label("month_index")


def _per_point_rows(live: tuple[int, ...], by_point: bool, accounts: bool, visits: bool) -> Any:
    """The UNION ALL of the per-point (and per-account) counts: one index range per month."""
    pid: Any = bindparam("pid")
    point = [Loan.point_id == pid] if by_point else []
    parts = []
    for i in live:
        per_account = accounts and i == 0  # the first month also per account, from the same pass
        lent = [in_range(Loan.lent_at, bindparam(f"s{i}"), bindparam(f"e{i}")), counted(), *point]
        parts.append(
            select(_kind(RowKind.LOANS), _month_index(i), _point_key(),
                   (Loan.lent_by_id if per_account else literal_column("NULL")).label("u"),
                   func.count().label("n"))
            .where(*lent).group_by(*((text("p"), Loan.lent_by_id) if per_account else (text("p"),))))
    if visits:  # per local day and point (as ``visit_counts`` does for whole days), then summed
        for i in live:
            per_day = visits_by_day(bindparam(f"da{i}"), bindparam(f"db{i}"), pid if by_point else None).subquery(f"days{i}")
            parts.append(select(_kind(RowKind.VISITS), _month_index(i), per_day.c.p.label("p"),
                                literal_column("NULL").label("u"), func.sum(per_day.c.n).label("n"))
                         .group_by(per_day.c.p))
    if accounts and 0 in live:  # the first month's returns per account (which also give its total)
        back_point = [func.coalesce(Loan.return_point_id, Loan.point_id) == pid] if by_point else []
        parts.append(select(_kind(RowKind.RETURNS), _month_index(0), literal_column("NULL").label("p"),
                            Loan.returned_by_id.label("u"), func.count().label("n"))
                     .where(in_range(Loan.returned_at, bindparam("s0"), bindparam("e0")), *returned(),
                            *back_point)
                     .group_by(Loan.returned_by_id))
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _month_scalars(i: int, by_point: bool, accounts: bool, late_by_due: bool | None) -> list[Any]:
    """Month ``i``'s figures that are one number each, as labelled scalar subqueries, each on its
    own index: distinct borrowers, returns (normal and implicit, at the point; the accounts
    month counts them from its per-account rows instead), new borrowers, and the parts of
    "overdue at the month's end" (``overdue_parts``)."""
    pid: Any = bindparam("pid")
    point = [Loan.point_id == pid] if by_point else []
    back_point = [func.coalesce(Loan.return_point_id, Loan.point_id) == pid] if by_point else []
    new = [Borrower.home_point_id == pid] if by_point else []
    start: Any = bindparam(f"s{i}")
    end: Any = bindparam(f"e{i}")
    lent = [in_range(Loan.lent_at, start, end), counted(), *point]
    columns = {
        "distinct_borrowers": select(func.count(distinct(Loan.borrower_id))).where(*lent).scalar_subquery(),
        "returns": null() if accounts and i == 0 else select(func.count()).select_from(Loan).where(
            in_range(Loan.returned_at, start, end), *returned(), *back_point).scalar_subquery(),
        "new_borrowers": select(func.count()).select_from(Borrower).where(
            in_range(Borrower.created_at, start, end), *new).scalar_subquery(),
    }
    columns.update({f"overdue_{name}": q for name, q in
                    overdue_parts(bindparam(f"at{i}"), point, late_by_due).items()})
    return [q.label(f"{name}_{i}") for name, q in columns.items()]


@lru_cache(maxsize=32)
def month_statement(live: tuple[int, ...], by_point: bool, accounts: bool,
                    late_by_due: tuple[bool | None, ...], visits: bool = False) -> Any:
    """The statement of ``month_figures`` for these months (indexes into its list) with or
    without a point filter, built once: the months' bounds, the instants at which overdue
    loans are counted and the point are parameters (``s0``, ``e0``, ``at0`` …, ``pid``).
    Building and keying these SQL expressions anew cost a few ms a report.

    Its rows are the per-point counts (``_per_point_rows``), each also carrying every month's
    scalar figures (``_month_scalars``; ``late_by_due``: for each month, which index SQLite
    reads its late returns from)."""
    rows = _per_point_rows(live, by_point, accounts, visits).subquery("per_point")
    columns = [c for k, i in enumerate(live) for c in _month_scalars(i, by_point, accounts, late_by_due[k])]
    # One statement: the per-point rows, each carrying the other figures (uncorrelated scalar
    # subqueries, computed once), joined to a one-row anchor so they come back with no loans too.
    anchor = select(literal_column("1").label("one")).subquery("anchor")
    return select(rows.c.kind, rows.c.month_index, rows.c.p, rows.c.u, rows.c.n, *columns).select_from(
        anchor.outerjoin(rows, true()))


def _add_count(counts: dict[int, int], key: int, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _params(live: list[tuple[int, datetime, datetime, datetime]], point_id: int | None, tz: ZoneInfo) -> dict[str, Any]:
    """The statement's parameters: each month's bounds, the instant its overdue loans are counted
    at, and its whole local days for visits (a cut month's last day: ``_add_cut_day_visits``)."""
    params: dict[str, Any] = {"pid": point_id}
    for i, start, end, at in live:
        params.update({f"s{i}": start, f"e{i}": end, f"at{i}": at, f"da{i}": rules.local_day(start, tz),
                       f"db{i}": rules.local_day(end, tz) - timedelta(days=1)})
    return params


def _add_cut_day_visits(session: Session, figures: list[MonthFigures], live: list[tuple[int, datetime, datetime]],
                        tz: ZoneInfo, point_id: int | None) -> None:
    """The visits of the last, cut day of each month counted up to a moment (``until``): the
    statement counts whole days only."""
    for i, start, end in live:
        day_start = rules.local_midnight(rules.local_day(end, tz), tz)
        if figures[i].until is None or not start <= day_start < end:
            continue
        for (_day, p), n in visit_counts(session, day_start, end, tz, point_id).items():
            loans_at, visits_at = figures[i].points.get(p, (0, 0))
            figures[i].points[p] = (loans_at, visits_at + n)
            figures[i].visits += n


def month_figures(
    session: Session, months: list[Month], now: datetime, tz: ZoneInfo, metric: str,
    point_id: int | None, accounts: bool = False, until: Sequence[datetime | None] = (),
) -> list[MonthFigures]:
    """The headline figures of some months in one statement (``month_statement``); with
    ``accounts`` the first month's loans and returns per account too (``MonthFigures.lent_by``,
    ``returned_by``). ``until``: for each month, the moment it is counted up to (None: the
    whole month), overdue loans counted at that moment. Visits (one child, one point, one local
    day) only when they are the organisation's metric. Paper tallies are not read here
    (``paper_tallies``)."""
    figures = [MonthFigures(month=m, metric=metric) for m in months]
    live = []  # (index, start, end, the instant overdue loans are counted at) of months begun
    for i, f in enumerate(figures):
        start, end = rules.month_bounds(f.month, tz)
        cut = until[i] if i < len(until) else None
        if cut is not None and cut < end:
            end = f.until = max(cut, start)
        if start <= now:
            live.append((i, start, end, min(end, now)))
    if not live:
        return figures
    stmt = month_statement(tuple(i for i, *_ in live), point_id is not None, accounts,
                           late_by_due_for(session, [at for *_, at in live], now), metric == "visits")
    result = session.execute(stmt, _params(live, point_id, tz)).mappings().all()
    loans: dict[int, dict[int, int]] = {i: {} for i, *_ in live}
    visits: dict[int, dict[int, int]] = {i: {} for i, *_ in live}
    returns: dict[int | None, int] = {}
    for row in result:
        if row["kind"] is None:  # no loans at all in these months: the anchor's row
            continue
        kind, month, n = RowKind(int(row["kind"])), int(row["month_index"]), int(row["n"])
        if kind is RowKind.RETURNS:
            returns[row["u"]] = n
        elif kind is RowKind.VISITS:
            visits[month][int(row["p"])] = n
        else:
            _add_count(loans[month], int(row["p"]), n)
            if row["u"] is not None:
                _add_count(figures[month].lent_by, int(row["u"]), n)
    scalars = result[0]  # the same on every row
    for i, *_bounds in live:
        f = figures[i]
        f.points = {p: (n, visits[i].get(p, 0)) for p, n in loans[i].items()}
        f.loans = sum(loans[i].values())
        f.visits = sum(visits[i].values())
        f.distinct_borrowers = int(scalars[f"distinct_borrowers_{i}"] or 0)
        f.returns = int(scalars[f"returns_{i}"] or 0)  # (the accounts month: from its rows, below)
        f.new_borrowers = int(scalars[f"new_borrowers_{i}"] or 0)
        f.overdue_at_end = sum(int(scalars[f"overdue_{name}_{i}"] or 0)
                               for name in OVERDUE_PARTS)
    if metric == "visits":
        _add_cut_day_visits(session, figures, [(i, start, end) for i, start, end, _at in live], tz, point_id)
    if accounts and live[0][0] == 0:
        figures[0].returns = sum(returns.values())
        figures[0].returned_by = {int(u): n for u, n in returns.items() if u is not None}
    return figures
