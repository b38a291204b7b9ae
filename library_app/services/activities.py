"""Reading activities (故事会、读书会 …): record once by the client's id (also offline), correct,
list. Services take (session, actor, now), flush and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from library_app.domain.activities import (
    ActivityInput,
    ActivityInvalid,
    CorrectionClosed,
    check_activity,
    check_at_point,
    default_volunteer_minutes,
    may_correct,
    parse_kinds,
)
from library_app.domain.codes import parse_code
from library_app.domain.errors import InvalidCode
from library_app.domain.reports import local_midnight
from library_app.domain.roles import is_point_bound
from library_app.domain.settings import LibrarySettings
from library_app.models import (
    Activity,
    ActivityCard,
    ActivityTitle,
    ActivityVolunteer,
    Card,
    Copy,
    Point,
    User,
    Volunteer,
)

from . import audit
from .errors import NotFound
from .points import get_point
from .volunteers import volunteer_for_user


class IdConflict(ActivityInvalid):
    code = "id_conflict"
    message = "这个活动编号已用于另一条不同的活动记录，未保存。请刷新页面后重新填写。"
    status = 422


@dataclass
class Recorded:
    activity: Activity
    status: str  # applied | duplicate


def _find(session: Session, client_id: str) -> Activity | None:
    return session.scalar(select(Activity).where(Activity.client_id == client_id))


def _fill(session: Session, now: datetime, activity: Activity, data: ActivityInput, point: Point,
          prep_minutes: int) -> None:
    """Write the activity's fields and its cards, titles and volunteers from ``data``."""
    activity.point_id = point.id
    activity.kind = data.kind
    activity.started_at = data.started_at
    activity.minutes = data.minutes
    activity.children = data.children or 0
    activity.attendance = data.attendance
    activity.adults = data.adults
    activity.note = data.note
    activity.content_hash = data.fingerprint()
    activity.updated_at = now
    if activity.id is not None:  # a correction: old rows out first (unique per activity)
        activity.cards, activity.titles, activity.volunteers = [], [], []
        session.flush()
    owners = dict(session.execute(
        select(Card.code, Card.borrower_id).where(Card.code.in_(data.cards))).all()) if data.cards else {}
    activity.cards = [ActivityCard(card_code=c, borrower_id=owners.get(c)) for c in data.cards]
    titles = []
    for text in data.titles:
        copy = None
        try:
            parsed = parse_code(text)
        except InvalidCode:
            parsed = None
        if parsed is not None and parsed.kind == "copy":
            copy = session.scalar(select(Copy).where(Copy.code == parsed.code))
        titles.append(ActivityTitle(copy_id=copy.id if copy else None,
                                    text=(copy.title.title if copy else text)[:200]))
    activity.titles = titles
    shares: dict[int, int] = {}
    default = default_volunteer_minutes(data.minutes, prep_minutes)
    for share in data.volunteers:
        if share.volunteer is not None:
            volunteer = session.get(Volunteer, share.volunteer)
            if volunteer is None:
                raise ActivityInvalid(f"没有编号为 {share.volunteer} 的志愿者。")
        else:
            user = session.scalar(select(User).where(User.username == share.username))
            if user is None:
                raise ActivityInvalid(f"没有用户名为 {share.username} 的账号。")
            volunteer = volunteer_for_user(session, now, user, point)
        shares[volunteer.id] = share.minutes if share.minutes is not None else default
    activity.volunteers = [ActivityVolunteer(volunteer_id=v, minutes=m) for v, m in shares.items()]


def _kinds(settings: LibrarySettings) -> dict[str, str]:
    return parse_kinds(settings.activity_kinds)


def record_activity(
    session: Session, actor: User, now: datetime, data: dict[str, Any], settings: LibrarySettings,
) -> Recorded:
    """Record an activity exactly once by its client id: the same id and content again is a
    duplicate (nothing changes), the same id with other content is refused (422)."""
    checked = check_activity(data, _kinds(settings), now)
    point = get_point(session, checked.point)
    check_at_point(actor.role, actor.point_codes(), point.code)
    existing = _find(session, checked.id)
    if existing is not None:
        return _same_or_conflict(existing, checked)
    activity = Activity(client_id=checked.id, recorded_by_id=actor.id, created_at=now)
    try:
        with session.begin_nested():  # a retry racing the first send: the loser reads the winner
            session.add(activity)
            _fill(session, now, activity, checked, point, settings.volunteer_prep_minutes)
            session.flush()
    except IntegrityError:
        winner = _find(session, checked.id)
        if winner is None:
            raise
        return _same_or_conflict(winner, checked)
    audit.record(session, actor, now, "activity.create", "activity", checked.id, point_id=point.id,
                 kind=checked.kind, attendance=checked.attendance, minutes=checked.minutes)
    return Recorded(activity, "applied")


def _same_or_conflict(existing: Activity, checked: ActivityInput) -> Recorded:
    if existing.content_hash != checked.fingerprint():
        raise IdConflict()
    return Recorded(existing, "duplicate")


def get_activity(session: Session, actor: User, client_id: str) -> Activity:
    activity = _find(session, str(client_id))
    if activity is None:
        raise NotFound("找不到这条活动记录。")
    check_at_point(actor.role, actor.point_codes(), activity.point.code)
    return activity


def correct_activity(
    session: Session, actor: User, now: datetime, client_id: str, data: dict[str, Any],
    settings: LibrarySettings,
) -> Activity:
    """Replace an activity's content: a story mother her own within 24 hours, staff any time."""
    activity = get_activity(session, actor, client_id)
    if not may_correct(actor.role, activity.recorded_by_id == actor.id, activity.created_at, now):
        raise CorrectionClosed()
    checked = check_activity({**data, "id": activity.client_id}, _kinds(settings), now)
    point = get_point(session, checked.point)
    check_at_point(actor.role, actor.point_codes(), point.code)
    before = summary(activity)
    _fill(session, now, activity, checked, point, settings.volunteer_prep_minutes)
    session.flush()
    audit.record(session, actor, now, "activity.update", "activity", activity.client_id,
                 point_id=point.id, before=before, after=summary(activity))
    return activity


def summary(activity: Activity) -> dict[str, Any]:
    return {"kind": activity.kind, "started_at": activity.started_at.isoformat(),
            "minutes": activity.minutes, "children": activity.children,
            "attendance": activity.attendance, "adults": activity.adults,
            "cards": len(activity.cards), "volunteers": len(activity.volunteers)}


def list_activities(
    session: Session, actor: User, tz: ZoneInfo, *, point_code: str = "",
    start: date | None = None, end: date | None = None, limit: int = 500,
) -> list[Activity]:
    """Activities, newest first, at a point and within local days [start, end]; a story mother
    sees her points' only."""
    q = select(Activity).join(Point, Point.id == Activity.point_id).options(
        selectinload(Activity.cards), selectinload(Activity.titles),
        selectinload(Activity.volunteers).selectinload(ActivityVolunteer.volunteer),
    )
    if point_code:
        check_at_point(actor.role, actor.point_codes(), point_code.strip().upper())
        q = q.where(Point.code == point_code.strip().upper())
    elif is_point_bound(actor.role):
        q = q.where(Point.code.in_(actor.point_codes()))
    if start is not None:
        q = q.where(Activity.started_at >= local_midnight(start, tz))
    if end is not None:
        q = q.where(Activity.started_at < local_midnight(end + timedelta(days=1), tz))
    return list(session.scalars(q.order_by(Activity.started_at.desc(), Activity.id.desc()).limit(limit)))
