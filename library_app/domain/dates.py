"""Dates and times that come in from people and files (query parameters, forms, imports):
parsed once, here, and held to a sane range, so a year-1 or year-9999 date is a Chinese 422
and never an OverflowError in time-zone arithmetic or the database driver (issue 13, item 8).

Event times from phones have their own rules (domain/events.py); they may use
:func:`check_range` for the same bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, tzinfo

from .errors import RuleBroken

MIN_YEAR = 2000
MAX_YEAR = 2100
DAY_FORMAT = "%Y-%m-%d"
LOCAL_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")


class BadDate(RuleBroken):
    code = "bad_date"
    message = "日期格式应为 2026-01-31。"


class DateOutOfRange(BadDate):
    code = "date_out_of_range"
    message = f"日期应在 {MIN_YEAR} 年到 {MAX_YEAR} 年之间。"


def check_range(value: date | datetime, what: str = "日期") -> None:
    """Refuse a date or time outside MIN_YEAR..MAX_YEAR (in any time zone)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise DateOutOfRange(f"{what}“{value.isoformat()}”不对：应在 {MIN_YEAR} 年到 {MAX_YEAR} 年之间。")


def parse_day(text: str, what: str = "日期") -> date:
    """``YYYY-MM-DD`` → a date within range; BadDate or DateOutOfRange otherwise."""
    try:
        day = datetime.strptime((text or "").strip(), DAY_FORMAT).date()
    except ValueError:
        raise BadDate(f"{what}格式应为 2026-01-31。") from None
    check_range(day, what)
    return day


def day_start(day: date, tz: tzinfo) -> datetime:
    """Midnight of a (checked) local day, as UTC."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def parse_local_time(text: str, tz: tzinfo, formats: Sequence[str] = LOCAL_TIME_FORMATS,
                     what: str = "时间") -> datetime:
    """A wall-clock time in ``tz`` (one of ``formats``) → UTC, within range."""
    for fmt in formats:
        try:
            naive = datetime.strptime((text or "").strip(), fmt)
        except ValueError:
            continue
        check_range(naive, what)
        return naive.replace(tzinfo=tz).astimezone(UTC)
    raise BadDate(f"{what}“{text}”格式不对，应为 YYYY-MM-DD HH:MM，例如 2025-03-08 15:30。")
