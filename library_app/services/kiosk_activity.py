"""What the kiosks did, for librarians: per kiosk since a time (loans, returns, refusals and
review items its events raised), and the latest refusals. Read by the loans and kiosks pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from library_app.models import CirculationEvent, Kiosk, Point, ReviewItem


def activity(session: Session, since: datetime, point_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Per kiosk since ``since``: loans, returns and refusals (events), and review items raised
    by its events (its offline loans that broke a rule or were refused at sync)."""
    e = CirculationEvent
    applied = e.status.in_(("applied", "review"))
    reviewed = aliased(CirculationEvent)
    reviews = (
        select(func.count(ReviewItem.id))
        .join(reviewed, reviewed.event_id == ReviewItem.event_id)
        .where(reviewed.kiosk_id == Kiosk.id, ReviewItem.created_at >= since)
        .correlate(Kiosk).scalar_subquery()
    )
    q = (
        select(Kiosk.id, Kiosk.name, Point.code, Point.name, Kiosk.revoked_at, Kiosk.last_seen_at,
               func.sum(case((and_(e.type == "loan", applied, e.undone_at.is_(None)), 1), else_=0)),
               func.sum(case((and_(e.type == "return", applied), 1), else_=0)),
               func.sum(case((e.status == "rejected", 1), else_=0)), reviews)
        .join(Point, Point.id == Kiosk.point_id)
        .outerjoin(e, and_(e.kiosk_id == Kiosk.id, e.received_at >= since))
        .group_by(Kiosk.id, Kiosk.name, Point.code, Point.name, Kiosk.revoked_at, Kiosk.last_seen_at)
        .order_by(Point.code, Kiosk.id)
    )
    if point_ids is not None:
        q = q.where(Kiosk.point_id.in_(point_ids))
    return [{"id": r[0], "name": r[1], "point": r[2], "point_name": r[3], "revoked": r[4] is not None,
             "last_seen_at": r[5], "loans": int(r[6] or 0), "returns": int(r[7] or 0),
             "refusals": int(r[8] or 0), "reviews": int(r[9] or 0)} for r in session.execute(q)]


def recent_refusals(session: Session, since: datetime, point_ids: list[int] | None = None,
                    limit: int = 20) -> list[dict[str, Any]]:
    e = CirculationEvent
    q = (
        select(e.received_at, e.type, e.code, e.message, Kiosk.name, Point.code)
        .join(Kiosk, Kiosk.id == e.kiosk_id).join(Point, Point.id == Kiosk.point_id)
        .where(e.status == "rejected", e.received_at >= since)
        .order_by(e.received_at.desc()).limit(limit)
    )
    if point_ids is not None:
        q = q.where(Kiosk.point_id.in_(point_ids))
    rows = session.execute(q).all()
    return [{"at": r[0], "type": r[1], "code": r[2], "message": r[3], "kiosk": r[4], "point": r[5]}
            for r in rows]
