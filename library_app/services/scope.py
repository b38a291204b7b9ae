"""Which children a user may see, and how much: the one rule every read path asks (trust.md:
"data scope on every path to a child ... and each view is logged").

- ``see(...)``: one child reached by a code or an id (a card scanned, a copy's holder, a one-tap
  page). Returns the name to show: full for staff and for a story mother's own children (and
  the view is logged as ``borrower.view`` with ``via``); masked (王*明, no id, no card, no
  point) for a child of another point; nothing for a viewer.
- ``visible_borrowers(actor)``: the SQL condition for lists (search, overdue, loans): only
  children the actor may see in full.

The rule itself is ``domain.reach.borrower_visibility`` (no Flask, no SQLAlchemy): staff see
everyone; a story mother sees in full the children who live at one of her points, any other
child only masked (she may still take back, or lend to, a visiting child); a viewer no one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from library_app.domain import reach
from library_app.domain.offline_cache import mask_name
from library_app.domain.reach import borrower_visibility
from library_app.domain.roles import is_point_bound, is_staff
from library_app.models import Borrower, Point, User, user_points

from . import audit

FULL, MASKED, NONE = "full", "masked", "none"


@dataclass(frozen=True)
class Seen:
    level: str  # "full" | "masked" | "none"
    name: str  # what may be shown: the name, 王*明, or ""

    @property
    def full(self) -> bool:
        return self.level == FULL


def level(actor: User, home_point: str | None) -> str:
    return borrower_visibility(actor.role, actor.point_codes(), home_point or "")


def see(session: Session, actor: User, now: datetime, *, borrower_id: int, name: str | None,
        home_point: str | None, home_point_id: int | None = None, via: str, ip: str = "") -> Seen:
    """How much of this child the actor may see here; a full view is logged (who, when, which
    child, through which path)."""
    seen = level(actor, home_point)
    if seen == FULL:
        audit.record(session, actor, now, "borrower.view", "borrower", borrower_id,
                     point_id=home_point_id, ip=ip, via=via)
        return Seen(FULL, name or "")
    if seen == MASKED:
        return Seen(MASKED, mask_name(name))
    return Seen(NONE, "")


def visible_borrowers(actor: User, home_point_id: Any = None) -> Any:
    """A WHERE condition: the children (by ``home_point_id``, default ``Borrower.home_point_id``)
    the actor may see in full. Staff: every child; a story mother: her points'; others: none."""
    column = Borrower.home_point_id if home_point_id is None else home_point_id
    if is_staff(actor.role):
        return true()
    if not is_point_bound(actor.role):
        return column.is_(None) & column.is_not(None)
    return column.in_(her_point_ids(actor))


def her_point_ids(actor: Any) -> Any:
    """A subquery: the ids of the points the actor is assigned to (for ``IN``)."""
    return select(user_points.c.point_id).where(user_points.c.user_id == actor.id)


def point_code_of(session: Session, point_id: int | None) -> str:
    if point_id is None:
        return ""
    return session.scalar(select(Point.code).where(Point.id == point_id)) or ""


def see_holder(session: Session, actor: User, now: datetime, loan: Any, *, via: str,
               ip: str = "") -> Seen | None:
    """``see`` for the child of an ORM ``Loan`` (a copy's page or API answer); None if no child."""
    borrower = loan.borrower if loan is not None else None
    if borrower is None:
        return None
    return see(session, actor, now, borrower_id=borrower.id, name=borrower.name,
               home_point=borrower.home_point.code, home_point_id=borrower.home_point_id,
               via=via, ip=ip)


def assigned_point_codes(session: Session, actor: Any) -> list[str]:
    """The codes of the actor's points, read by id (works for the lean ``Actor`` too)."""
    return list(session.scalars(
        select(Point.code).join(user_points, user_points.c.point_id == Point.id)
        .where(user_points.c.user_id == actor.id).order_by(Point.code)))


def report_point(session: Session, actor: Any, requested: str | None) -> str | None:
    """The point a report may show this actor (``domain.reach.report_point``)."""
    own = assigned_point_codes(session, actor) if is_point_bound(actor.role) else []
    return reach.report_point(actor.role, own, requested)


def report_points(session: Session, actor: Any) -> list[Point]:
    """The points a report may be asked for (its point picker): every one, active or not, or a
    point lead's own."""
    points = list(session.scalars(select(Point).order_by(Point.code)))
    if is_point_bound(actor.role):
        own = set(assigned_point_codes(session, actor))
        points = [p for p in points if p.code in own]
    return points
