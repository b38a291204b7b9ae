from __future__ import annotations

from datetime import datetime
from typing import Any

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
