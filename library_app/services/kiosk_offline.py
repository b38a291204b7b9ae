"""What a self-service kiosk keeps to lend with no connection (product.md: "works offline").

``offline_cache`` is the kiosk's own point only, and of its children only those allowed
self-service, each as: card code, given name (domain.kiosk.given_name, as /kiosk/cards says
it), how many books she has out, and whether an overdue book blocks her; plus the point's
copies as code and title. Nothing else about a child (no surname, guardian, phone, birth
year, which books she has) leaves the server this way (trust.md, children's data). The device
refreshes it while online and forgets it OFFLINE_CACHE_HOURS after fetching it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from library_app.domain import kiosk as rules
from library_app.domain.settings import LibrarySettings
from library_app.models import AuditLog, Borrower, Card, Copy, Loan, Title

from .kiosk import KioskPrincipal


def offline_cache(session: Session, principal: KioskPrincipal, now: datetime,
                  settings: LibrarySettings, ip: str = "") -> dict[str, Any]:
    """The snapshot for this kiosk's point (see the module's docstring); its download is logged."""
    point_id = principal.point_id
    children = session.execute(
        select(Card.code, Borrower.id, Borrower.name)
        .join(Borrower, Borrower.id == Card.borrower_id)
        .where(Card.status == "active", Borrower.status == "active", Borrower.self_service.is_(True),
               Borrower.anonymised_at.is_(None), Borrower.home_point_id == point_id)
        .order_by(Card.code)
    ).all()
    ids = sorted({row.id for row in children})
    counts: dict[int, tuple[int, int]] = {}
    if ids:
        counts = {
            r[0]: (int(r[1]), int(r[2] or 0)) for r in session.execute(
                select(Loan.borrower_id, func.count(Loan.id), func.sum(case((Loan.due_at < now, 1), else_=0)))
                .where(Loan.returned_at.is_(None), Loan.borrower_id.in_(ids))
                .group_by(Loan.borrower_id))
        }
    cards = []
    for row in children:
        out, overdue = counts.get(row.id, (0, 0))
        cards.append({"code": row.code, "name": rules.given_name(row.name or ""), "open_loans": out,
                      "blocked": bool(settings.kiosk_overdue_blocks and overdue > 0)})
    copies = [
        {"code": r.code, "title": r.title} for r in session.execute(
            select(Copy.code, Title.title).join(Title, Title.id == Copy.title_id)
            .where(or_(Copy.current_point_id == point_id, Copy.home_point_id == point_id),
                   Copy.status != "withdrawn")
            .order_by(Copy.code))
    ]
    # A download of children's names is a view of their data (trust.md): one line per download.
    session.add(AuditLog(at=now, actor_id=None, action="kiosk.offline_cache", target_type="kiosk",
                         target_id=str(principal.kiosk_id), point_id=point_id, ip=ip,
                         details={"cards": len(cards), "copies": len(copies)}))
    session.flush()
    return {
        "point": principal.point_code,
        "generated_at": now.isoformat(),
        "expires_at": (now + timedelta(hours=rules.OFFLINE_CACHE_HOURS)).isoformat(),
        "loan_limit": settings.loan_limit,
        "cards": cards,
        "copies": copies,
    }
