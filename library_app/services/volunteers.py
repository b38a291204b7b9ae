"""Volunteers (志愿者): the register, and each person's service for a certificate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from library_app.domain.activities import (
    VolunteerInvalid,
    certificate_number,
    check_at_point,
    check_volunteer,
)
from library_app.domain.reports import local_midnight
from library_app.domain.roles import is_point_bound, is_staff
from library_app.models import Activity, ActivityVolunteer, Point, User, Volunteer

from . import audit
from .errors import NotFound
from .points import get_point


def own_points(actor: User) -> list[str]:
    return actor.point_codes()


def register_volunteer(
    session: Session, actor: User, now: datetime, *, name: object, kind: object, point_code: str,
    phone: object = "", username: object = None, consent: object = None,
    joined_on: date | None = None,
) -> Volunteer:
    """Add a volunteer at a point (a story mother at hers); a child volunteer needs consent."""
    clean, kind_code = check_volunteer(name, kind, consent)
    point = get_point(session, point_code or "")
    check_at_point(actor.role, own_points(actor), point.code)
    phone_text = "".join(str(phone or "").split())[:32]
    if phone_text and not phone_text.replace("+", "").replace("-", "").isdigit():
        raise VolunteerInvalid("电话号码只能包含数字。")
    user = None
    if username:
        user = session.scalar(select(User).where(func.lower(User.username) == str(username).strip().lower()))
        if user is None:
            raise VolunteerInvalid(f"没有用户名为 {username} 的账号。")
        if session.scalar(select(Volunteer.id).where(Volunteer.user_id == user.id)) is not None:
            raise VolunteerInvalid(f"账号 {user.username} 已登记为志愿者。")
    volunteer = Volunteer(
        name=clean, kind=kind_code, home_point_id=point.id, phone=phone_text,
        user_id=user.id if user else None,
        consent_at=now if kind_code == "child" else None,
        consent_by_id=actor.id if kind_code == "child" else None,
        joined_on=joined_on or now.date(), active=True, created_at=now,
    )
    session.add(volunteer)
    session.flush()
    audit.record(session, actor, now, "volunteer.create", "volunteer", volunteer.id,
                 point_id=point.id, kind=kind_code,
                 consent_by=actor.username if kind_code == "child" else None)
    return volunteer


def volunteer_for_user(session: Session, now: datetime, user: User, point: Point) -> Volunteer:
    """The volunteer record of a user account, made on first use (a story mother who serves)."""
    found = session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))
    if found is not None:
        return found
    volunteer = Volunteer(name=user.display_name or user.username,
                          kind="story_mother" if user.role == "story_mother" else "other",
                          home_point_id=point.id, user_id=user.id, joined_on=now.date(),
                          active=True, created_at=now)
    session.add(volunteer)
    session.flush()
    return volunteer


def list_volunteers(session: Session, actor: User, point_code: str = "") -> list[Volunteer]:
    if is_point_bound(actor.role) and not point_code:
        point_code = ""  # all of her points
    elif not is_staff(actor.role) or point_code:
        check_at_point(actor.role, own_points(actor), point_code.strip().upper())
    q = select(Volunteer).options(joinedload(Volunteer.home_point)).join(Point).order_by(
        Point.code, Volunteer.name)
    if point_code:
        q = q.where(Point.code == point_code.strip().upper())
    if is_point_bound(actor.role):
        q = q.where(Point.code.in_(own_points(actor)))
    return list(session.scalars(q))


def get_volunteer(session: Session, actor: User, volunteer_id: int) -> Volunteer:
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound("找不到这位志愿者。")
    check_at_point(actor.role, own_points(actor), volunteer.home_point.code)
    return volunteer


@dataclass
class Certificate:
    volunteer: Volunteer
    start: date
    end: date
    minutes: int
    sessions: int
    kinds: list[str]
    points: list[str]
    number: str
    issued: date

    @property
    def hours(self) -> str:
        from library_app.domain.activities import hours_text

        return hours_text(self.minutes)


def certificate(
    session: Session, actor: User, now: datetime, volunteer_id: int, start: date, end: date,
    tz: object, kinds: dict[str, str],
) -> Certificate:
    """The service of one person over [start, end] (local days): minutes, sessions, what."""
    from zoneinfo import ZoneInfo

    assert isinstance(tz, ZoneInfo)
    if end < start:
        raise VolunteerInvalid("结束日期不能早于开始日期。")
    volunteer = get_volunteer(session, actor, volunteer_id)
    lo = local_midnight(start, tz)
    hi = local_midnight(date.fromordinal(end.toordinal() + 1), tz)
    rows = session.execute(
        select(Activity.kind, Point.name, ActivityVolunteer.minutes)
        .join(Activity, Activity.id == ActivityVolunteer.activity_id)
        .join(Point, Point.id == Activity.point_id)
        .where(ActivityVolunteer.volunteer_id == volunteer.id,
               Activity.started_at >= lo, Activity.started_at < hi)
    ).all()
    issued = now.astimezone(tz).date()
    kind_names = sorted({kinds.get(k, k) for k, _p, _m in rows})
    audit.record(session, actor, now, "volunteer.certificate", "volunteer", volunteer.id,
                 point_id=volunteer.home_point_id, start=start.isoformat(), end=end.isoformat())
    return Certificate(
        volunteer=volunteer, start=start, end=end, minutes=sum(m for _k, _p, m in rows),
        sessions=len(rows), kinds=kind_names, points=sorted({p for _k, p, _m in rows}),
        number=certificate_number(volunteer.id, start.isoformat(), end.isoformat(), issued.isoformat()),
        issued=issued,
    )
