"""The home page's counters: today's and this month's count at a story mother's points, and
the organisation's year against its target."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from library_app.domain import reports as rules
from library_app.domain.reports import YearProgress
from library_app.domain.settings import LibrarySettings

from .queries import counts_by_bucket, paper_tallies, year_target
from .year import year_counts


def point_counters(
    session: Session, now: datetime, settings: LibrarySettings, point_ids: list[int],
) -> tuple[int, int]:
    """Today's and this month's count (the org's metric) at the given points."""
    tz = ZoneInfo(settings.timezone)
    if not point_ids:
        return 0, 0
    month = rules.current_month(now, tz)
    m_start, m_end = rules.month_bounds(month, tz)
    day_start = rules.local_midnight(now.astimezone(tz).date(), tz)
    edges = [m_start, day_start, m_end] if day_start > m_start else [m_start, m_end]
    by = counts_by_bucket(session, edges, settings.count_metric, tz)
    total_month = sum(n for (_b, p), n in by.items() if p in point_ids)
    total_today = sum(n for (b, p), n in by.items() if p in point_ids and b == len(edges) - 2)
    total_month += sum(paper_tallies(session, [month]).get((str(month), p), 0) for p in point_ids)
    return total_today, total_month


def year_counter(session: Session, now: datetime, settings: LibrarySettings) -> YearProgress:
    """The organisation's count for the current year against its target (home page)."""
    tz = ZoneInfo(settings.timezone)
    year = rules.current_month(now, tz).year
    counts = year_counts(session, year, settings.count_metric, tz)
    return rules.year_progress(year, year_target(session, year, settings), counts.total, now, tz)
