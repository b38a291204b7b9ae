"""A point's first page for its lead (issue 20): today's loans, the overdue count, the month's
activities and the point's story mothers, for the points she leads. Counts only, and names of
the volunteers who work there: no child is named here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from library_app.domain.reports import current_month, local_midnight, month_bounds
from library_app.domain.roles import Role
from library_app.models import Activity, Loan, Point, User, user_points


@dataclass(frozen=True)
class StoryMother:
    name: str
    username: str
    active: bool


@dataclass(frozen=True)
class PointOverview:
    point: Point
    loans_today: int
    overdue: int
    activities_month: int
    attendance_month: int
    last_activity: datetime | None
    story_mothers: list[StoryMother]


def overview(session: Session, points: list[Point], now: datetime, tz: ZoneInfo) -> list[PointOverview]:
    """One overview per point (in code order)."""
    today = now.astimezone(tz).date()
    day_start, day_end = local_midnight(today, tz), local_midnight(today + timedelta(days=1), tz)
    month_start, month_end = month_bounds(current_month(now, tz), tz)
    ids = [p.id for p in points]
    if not ids:
        return []
    live = (Loan.undone_at.is_(None),)
    lent = dict(session.execute(
        select(Loan.point_id, func.count()).where(Loan.point_id.in_(ids), Loan.lent_at >= day_start,
                                                  Loan.lent_at < day_end, *live)
        .group_by(Loan.point_id)).all())
    late = dict(session.execute(
        select(Loan.point_id, func.count()).where(Loan.point_id.in_(ids), Loan.returned_at.is_(None),
                                                  Loan.due_at < now, *live)
        .group_by(Loan.point_id)).all())
    held = {p: (int(n), int(a or 0)) for p, n, a in session.execute(
        select(Activity.point_id, func.count(), func.sum(Activity.attendance))
        .where(Activity.point_id.in_(ids), Activity.started_at >= month_start,
               Activity.started_at < month_end)
        .group_by(Activity.point_id)).all()}
    last = dict(session.execute(
        select(Activity.point_id, func.max(Activity.started_at)).where(Activity.point_id.in_(ids))
        .group_by(Activity.point_id)).all())
    mothers: dict[int, list[StoryMother]] = {}
    for pid, name, username, active in session.execute(
            select(user_points.c.point_id, User.display_name, User.username, User.active)
            .join(User, User.id == user_points.c.user_id)
            .where(user_points.c.point_id.in_(ids), User.role == Role.STORY_MOTHER)
            .order_by(User.active.desc(), User.display_name, User.username)):
        mothers.setdefault(pid, []).append(StoryMother(name or username, username, bool(active)))
    return [PointOverview(p, int(lent.get(p.id, 0)), int(late.get(p.id, 0)), *held.get(p.id, (0, 0)),
                          last.get(p.id), mothers.get(p.id, [])) for p in points]
