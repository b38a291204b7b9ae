"""What managers enter for the reports: the year's target and a point's monthly paper tally
(loans counted on paper before the app, or while it was not used). Flush only."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain import reports as rules
from library_app.domain.settings import LibrarySettings
from library_app.models import MonthlyTally, Point, User, YearTarget

from .. import audit
from ..errors import Invalid
from .queries import point_by_code


def set_target(session: Session, actor: User | None, now: datetime, year: int, target: Any) -> YearTarget:
    """Set the year's target (admin)."""
    try:
        value = int(target)
    except (TypeError, ValueError) as exc:
        raise Invalid("年度目标需要是正整数，例如 12000。") from exc
    if isinstance(target, bool) or value < 1 or value > 10_000_000:
        raise Invalid("年度目标需要是 1 到 10,000,000 之间的整数。")
    row = session.get(YearTarget, year)
    old = row.target if row is not None else None
    if row is None:
        row = YearTarget(year=year, target=value)
        session.add(row)
    row.target = value
    row.set_by_id = actor.id if actor is not None else None
    row.set_at = now
    session.flush()
    audit.record(session, actor, now, "report.target", "year_target", year, old=old, new=value)
    return row


def record_tally(
    session: Session, actor: User | None, now: datetime, point_code: Any, month_text: Any,
    loans: Any, settings: LibrarySettings,
) -> tuple[MonthlyTally, bool]:
    """Enter (or correct) a month's loans from paper records at a point. → (tally, created)."""
    if not isinstance(point_code, str) or not point_code.strip():
        raise Invalid("请选择阅读点。")
    point = point_by_code(session, point_code)
    assert point is not None
    if not isinstance(month_text, str):
        raise rules.InvalidMonth()
    month = rules.parse_month(month_text)
    tz = ZoneInfo(settings.timezone)
    if month > rules.current_month(now, tz):
        raise Invalid("不能为尚未到来的月份录入纸质记录。")
    if isinstance(loans, bool):
        raise Invalid("借阅人次需要是 0 或正整数。")
    try:
        value = int(loans)
    except (TypeError, ValueError) as exc:
        raise Invalid("借阅人次需要是 0 或正整数。") from exc
    if value < 0 or value > 1_000_000 or (isinstance(loans, float) and not loans.is_integer()):
        raise Invalid("借阅人次需要是 0 到 1,000,000 之间的整数。")
    row = session.scalar(select(MonthlyTally).where(
        MonthlyTally.point_id == point.id, MonthlyTally.month == str(month)))
    created = row is None
    old = None if row is None else row.loans
    if row is None:
        row = MonthlyTally(point_id=point.id, month=str(month), loans=value)
        session.add(row)
    row.loans = value
    row.entered_by_id = actor.id if actor is not None else None
    row.entered_at = now
    session.flush()
    audit.record(session, actor, now, "report.tally", "monthly_tally", f"{point.code}/{month}",
                 point_id=point.id, old=old, new=value)
    return row, created


def list_tallies(session: Session, year: int | None = None) -> list[MonthlyTally]:
    stmt = select(MonthlyTally).join(Point).order_by(MonthlyTally.month.desc(), Point.code)
    if year is not None:
        stmt = stmt.where(MonthlyTally.month.like(f"{year:04d}-%"))
    return list(session.scalars(stmt))
