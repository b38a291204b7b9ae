"""Report arithmetic: months and years in the organisation's time zone, pace and forecast,
the counting rules, and spreadsheet-safe cells. No Flask, no database.

Counting rules (借阅人次):
- A loan counts once, in the local month of ``lent_at``. Renewals and returns (normal or the
  implicit return when a book on loan is lent to another child) never add a loan: a renewal
  changes the same row, an implicit return closes the old loan and the new loan is its own row.
- An undone loan (``undone_at`` set) never counts.
- Imported past loans count like any other loan, in the local month of their time.
- With the "visits" metric, one child at one point on one local day is one visit, however many
  books; a loan without a known borrower (some imports) is a visit of its own.
- Monthly tallies from paper records are added to the month and point they were entered for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .errors import RuleBroken

FIRST_YEAR = 2000
LAST_YEAR = 2100
METRICS = ("loans", "visits")
METRIC_NAMES = {"loans": "借出次数", "visits": "到访人次"}


class InvalidMonth(RuleBroken):
    code = "invalid_month"
    message = "月份格式应为 YYYY-MM，例如 2026-10。"
    status = 400


class InvalidYear(RuleBroken):
    code = "invalid_year"
    message = "年份应为四位数字，例如 2026。"
    status = 400


# ---------------------------------------------------------------- months and years


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    def shift(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    def previous(self) -> Month:
        return self.shift(-1)

    def same_month_last_year(self) -> Month:
        return Month(self.year - 1, self.month)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def days(self) -> int:
        nxt = self.shift(1)
        return (nxt.first_day() - self.first_day()).days


def parse_year(text: str | int) -> int:
    raw = str(text).strip()
    if not re.fullmatch(r"\d{4}", raw):
        raise InvalidYear()
    year = int(raw)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidYear(f"年份需在 {FIRST_YEAR} 到 {LAST_YEAR} 之间。")
    return year


def parse_month(text: str) -> Month:
    """'2026-10' (also '2026-1' and '2026/10') → Month; anything else is refused in Chinese."""
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})", (text or "").strip())
    if not m:
        raise InvalidMonth()
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise InvalidMonth("月份需在 1 到 12 之间，例如 2026-10。")
    parse_year(year)
    return Month(year, month)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def month_bounds(month: Month, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local month as UTC instants."""
    return local_midnight(month.first_day(), tz), local_midnight(month.shift(1).first_day(), tz)


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return local_midnight(date(year, 1, 1), tz), local_midnight(date(year + 1, 1, 1), tz)


def year_month_edges(year: int, tz: ZoneInfo) -> list[datetime]:
    """13 UTC instants: the start of each local month of ``year`` and the start of the next year."""
    return [local_midnight(date(year, m, 1), tz) for m in range(1, 13)] + [
        local_midnight(date(year + 1, 1, 1), tz)
    ]


def month_of(instant: datetime, tz: ZoneInfo) -> Month:
    """The local month an aware instant belongs to."""
    local = instant.astimezone(tz)
    return Month(local.year, local.month)


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def current_month(now: datetime, tz: ZoneInfo) -> Month:
    return month_of(now, tz)


def same_moment_in(month: Month, now: datetime, tz: ZoneInfo) -> datetime:
    """The local moment of ``month`` that matches ``now`` in its own month: the same day and
    time (a day the month lacks: its end). A month still running is compared with another
    month up to this moment (上月同期, 去年同期), not with the whole of it."""
    local = now.astimezone(tz)
    if local.day > month.days():
        return month_bounds(month, tz)[1]
    moment = datetime(month.year, month.month, local.day, local.hour, local.minute, local.second,
                      local.microsecond, tzinfo=tz)
    return min(moment.astimezone(UTC), month_bounds(month, tz)[1])


# ---------------------------------------------------------------- counting rules (reference)


@dataclass(frozen=True)
class LoanFact:
    """What the counting rules look at in one loan row."""

    lent_at: datetime
    point: str
    borrower: int | None = None
    undone: bool = False
    loan_id: int = 0


def counts(loan: LoanFact) -> bool:
    """Undone loans never count; everything else that was lent does (imports included)."""
    return not loan.undone


def count_by_month(
    loans: Iterable[LoanFact], tz: ZoneInfo, metric: str = "loans"
) -> dict[tuple[str, str], int]:
    """The rules written plainly: {(YYYY-MM, point): count}. The SQL in services/reports/
    must agree with this on any set of loans (tests compare them)."""
    result: dict[tuple[str, str], int] = {}
    seen: set[tuple[Any, str, date]] = set()
    for loan in loans:
        if not counts(loan):
            continue
        key = (str(month_of(loan.lent_at, tz)), loan.point)
        if metric == "visits":
            who: Any = loan.borrower if loan.borrower is not None else ("loan", loan.loan_id)
            visit = (who, loan.point, local_day(loan.lent_at, tz))
            if visit in seen:
                continue
            seen.add(visit)
        result[key] = result.get(key, 0) + 1
    return result


@dataclass(frozen=True)
class DueFact:
    """What "overdue at a moment" looks at in one loan: its latest due date and its renewals,
    each (when, the due date it replaced)."""

    lent_at: datetime
    due_at: datetime | None
    returned_at: datetime | None = None
    undone: bool = False
    renewals: tuple[tuple[datetime, datetime | None], ...] = ()


def due_in_force(loan: DueFact, at: datetime) -> datetime | None:
    """The due date that held at ``at``: the one replaced by the first renewal made at or after
    ``at``, else the latest. A renewal made later must not change what was overdue then."""
    later = sorted((when, before) for when, before in loan.renewals if when >= at)
    return later[0][1] if later else loan.due_at


def overdue_at(loans: Iterable[DueFact], at: datetime) -> int:
    """Loans out at ``at`` (lent before it, not back before it, not undone) whose due date in
    force then had passed. The rules written plainly; the SQL must agree (tests compare)."""
    count = 0
    for loan in loans:
        if loan.undone or loan.lent_at >= at:
            continue
        if loan.returned_at is not None and loan.returned_at < at:
            continue
        due = due_in_force(loan, at)
        if due is not None and due < at:
            count += 1
    return count


# ---------------------------------------------------------------- the year against its target


def monthly_targets(year: int, target: int) -> list[int]:
    """The target spread over the months by their number of days, summing exactly to ``target``."""
    days = [Month(year, m).days() for m in range(1, 13)]
    total = sum(days)
    cumulative = 0
    shares = []
    given = 0
    for d in days:
        cumulative += d
        upto = round(target * cumulative / total)
        shares.append(upto - given)
        given = upto
    return shares


@dataclass(frozen=True)
class YearProgress:
    year: int
    target: int
    count: int
    percent: float            # of the target, one decimal
    elapsed: float            # fraction of the year gone, 0..1
    expected_to_date: int     # where the count should be now at an even pace
    forecast: int             # the count at year end at the pace so far
    remaining: int            # still needed to reach the target
    months_left: int          # months still open, this one included
    needed_per_month: int     # what each remaining month needs (0 when none are left)
    state: str                # "past" | "current" | "future"

    @property
    def ahead(self) -> bool:
        return self.count >= self.expected_to_date

    @property
    def gap(self) -> int:
        """Ahead (+) or behind (−) the pace."""
        return self.count - self.expected_to_date


def year_progress(year: int, target: int, count: int, now: datetime, tz: ZoneInfo) -> YearProgress:
    start, end = year_bounds(year, tz)
    if now >= end:
        elapsed, state = 1.0, "past"
    elif now < start:
        elapsed, state = 0.0, "future"
    else:
        elapsed = (now - start).total_seconds() / (end - start).total_seconds()
        state = "current"
    percent = round(count * 100 / target, 1) if target > 0 else 0.0
    expected = round(target * elapsed)
    if state == "past":
        forecast = count
    elif elapsed <= 0:
        forecast = count
    else:
        forecast = round(count / elapsed)
    remaining = max(0, target - count)
    if state == "past":
        months_left = 0
    elif state == "future":
        months_left = 12
    else:
        months_left = 12 - now.astimezone(tz).month + 1
    needed = math.ceil(remaining / months_left) if months_left else 0
    return YearProgress(
        year=year, target=target, count=count, percent=percent, elapsed=elapsed,
        expected_to_date=expected, forecast=forecast, remaining=remaining,
        months_left=months_left, needed_per_month=needed, state=state,
    )


def same_moment_last_year(now: datetime, tz: ZoneInfo) -> datetime:
    """The same local date and time one year earlier (29 February → 28 February)."""
    local = now.astimezone(tz)
    try:
        earlier = local.replace(year=local.year - 1)
    except ValueError:
        earlier = local.replace(year=local.year - 1, day=28)
    naive = earlier.replace(tzinfo=None)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def prorated(total: int, start: datetime, end: datetime, cutoff: datetime) -> int:
    """The share of a month's paper tally up to ``cutoff`` (linear in time, whole loans)."""
    if cutoff >= end:
        return total
    if cutoff <= start:
        return 0
    return round(total * (cutoff - start).total_seconds() / (end - start).total_seconds())


@dataclass(frozen=True)
class Change:
    current: int
    other: int

    @property
    def delta(self) -> int:
        return self.current - self.other

    @property
    def percent(self) -> float | None:
        """Change in percent, or None when there is nothing to compare with."""
        if self.other == 0:
            return None
        return round((self.current - self.other) * 100 / self.other, 1)

    def words(self) -> str:
        """+12（+8.5%） / −3（−2.0%） / 持平; "—" when there is nothing to compare with (the other
        period has no count, e.g. before the system was used)."""
        if self.other == 0:
            return "—"
        if self.delta == 0:
            return "持平"
        sign = "+" if self.delta > 0 else "−"
        return f"{sign}{abs(self.delta)}（{sign}{abs(self.percent or 0):.1f}%）"


# ---------------------------------------------------------------- exports


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell that cannot run as a formula in Excel/WPS (OWASP CSV injection, ASVS 1.2.10):
    text beginning with = + - @ (or tab/CR) gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
