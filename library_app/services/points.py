"""Reading points."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain.roles import is_point_bound
from library_app.models import Point, User

from . import audit
from .errors import Conflict, Invalid, NotFound

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")


def list_points(session: Session, active_only: bool = False) -> list[Point]:
    q = select(Point).order_by(Point.code)
    if active_only:
        q = q.where(Point.active.is_(True))
    return list(session.scalars(q))


def working_points(session: Session, actor: User) -> list[Point]:
    """The active points where this user works: her own (a story mother, a point lead), every
    one for staff."""
    if is_point_bound(actor.role):
        return [p for p in actor.points if p.active]
    return list_points(session, active_only=True)


def get_point(session: Session, code: str) -> Point:
    point = session.scalar(select(Point).where(Point.code == (code or "").strip().upper()))
    if point is None:
        raise NotFound(f"没有编号为 {code} 的阅读点。")
    return point


def create_point(
    session: Session, actor: User, now: datetime, *, code: str, name: str, address: str = ""
) -> Point:
    code = (code or "").strip().upper()
    name = (name or "").strip()
    if not _CODE_RE.match(code):
        raise Invalid("阅读点编号应为字母开头的 2-16 位字母或数字，例如 P01。")
    if not name:
        raise Invalid("请填写阅读点名称。")
    if session.scalar(select(Point.id).where(Point.code == code)):
        raise Conflict(f"阅读点编号 {code} 已存在。")
    point = Point(code=code, name=name[:100], address=(address or "").strip()[:200], active=True)
    session.add(point)
    session.flush()
    audit.record(session, actor, now, "point.create", "point", point.code)
    return point


def update_point(
    session: Session, actor: User, now: datetime, point: Point, *, name: str, address: str,
    active: bool,
) -> Point:
    name = (name or "").strip()
    if not name:
        raise Invalid("请填写阅读点名称。")
    point.name = name[:100]
    point.address = (address or "").strip()[:200]
    point.active = active
    session.flush()
    audit.record(session, actor, now, "point.update", "point", point.code, active=active)
    return point


def people_by_point(session: Session, roles: tuple[str, ...] = ("point_lead", "story_mother")
                    ) -> dict[int, dict[str, list[User]]]:
    """{point id: {role: active users}}: who leads each point and who serves there."""
    from library_app.models import user_points

    found: dict[int, dict[str, list[User]]] = {}
    rows = session.execute(
        select(user_points.c.point_id, User).join(User, User.id == user_points.c.user_id)
        .where(User.role.in_(roles), User.active.is_(True))
        .order_by(User.display_name, User.username))
    for point_id, user in rows:
        found.setdefault(point_id, {}).setdefault(user.role, []).append(user)
    return found
