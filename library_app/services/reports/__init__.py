"""Reports: the year against its target and the monthly report, counted in SQL.

The counting rules live in ``domain/reports.py`` (with a plain-Python version of them that
tests compare with these queries). Here they become SQL that stays fast on a million loans:

- ``queries``: what every report shares (which loans count, buckets by month or day, visits
  per local day, paper tallies, points and targets);
- ``year``: the year report; ``month``: the monthly report, whose headline figures come from
  one statement (``month_figures``), its titles from another (``titles``), and its "overdue at
  the month's end" from ``overdue``;
- ``home``: the home page's counters; ``targets``: entering targets and paper tallies;
- ``export``: the month report as rows of cells for CSV and XLSX.

The names below are the package's public interface: import them from here.
"""

from __future__ import annotations

from .export import ROLE_NAMES, month_rows
from .home import point_counters, year_counter
from .month import MonthReport, PointRow, StaffRow, month_report
from .month_figures import MonthFigures
from .overdue import overdue_at
from .queries import (
    counts_by_bucket,
    loans_and_visits_by_bucket,
    point_by_code,
    recompute_lent_days,
    visit_counts,
    year_target,
)
from .targets import list_tallies, record_tally, set_target
from .titles import NO_VALUE, TOP_TITLES, Row
from .year import MonthCount, PointCount, YearReport, loans_to_same_moment_last_year, year_report

__all__ = [
    "NO_VALUE", "ROLE_NAMES", "TOP_TITLES", "MonthCount", "MonthFigures", "MonthReport", "PointCount",
    "PointRow", "Row", "StaffRow", "YearReport", "counts_by_bucket", "list_tallies",
    "loans_and_visits_by_bucket", "loans_to_same_moment_last_year", "month_report", "month_rows", "overdue_at", "point_by_code",
    "point_counters", "record_tally", "recompute_lent_days", "set_target", "visit_counts",
    "year_counter", "year_report", "year_target",
]
