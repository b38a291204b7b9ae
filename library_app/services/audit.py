from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from library_app.models import AuditLog, User


def record(
    session: Session,
    actor: User | None,
    now: datetime,
    action: str,
    target_type: str = "",
    target_id: object = "",
    point_id: int | None = None,
    ip: str = "",
    **details: Any,
) -> AuditLog:
    """Add one audit line (who, what, when, which thing) to the session."""
    entry = AuditLog(
        at=now,
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        point_id=point_id,
        ip=ip,
        details=details,
    )
    session.add(entry)
    return entry


def search(
    session: Session, *, action: str = "", username: str = "", page: int = 1, per_page: int = 50,
) -> tuple[list[AuditLog], int]:
    """Audit lines, newest first, filtered by action (exact, or a prefix ending in '.') and by
    the actor's login name or display name; returns (lines of the page, total count)."""
    query = select(AuditLog)
    if action:
        query = query.where(
            AuditLog.action.startswith(action) if action.endswith(".") else AuditLog.action == action
        )
    if username:
        query = query.join(User, User.id == AuditLog.actor_id).where(
            or_(func.lower(User.username) == username.strip().lower(),
                User.display_name == username.strip())
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .offset((max(page, 1) - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), int(total)


def actions(session: Session) -> list[str]:
    """The actions that occur in the log, for the filter."""
    return list(session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))
