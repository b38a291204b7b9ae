"""What one request's events share (``_Batch``): the actor, the time, the rules, the locks a
batch takes up front on PostgreSQL, the one SELECT a scan reads with, and the rows it writes for
every event (the stored event, the audit line, the review item)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from library_app.domain.events import Event
from library_app.domain.loans import REVIEW_REASONS, CardState, CopyState, LoanRules, OpenLoan
from library_app.domain.offline_cache import mask_name
from library_app.domain.roles import STAFF
from library_app.domain.settings import LibrarySettings
from library_app.domain.statuses import BorrowerStatus
from library_app.models import User
from library_app.services import kiosk as kiosk_service  # KIOSK (issue 17)

from .statements import (
    _BORROWER_LOCKS,
    _COPY_LOCK,
    _COPY_LOCKS,
    _INSERT_AUDIT,
    _INSERT_EVENT,
    _INSERT_REVIEW,
    _OWN_CHILD,
    _SCAN,
)


@dataclass
class BatchOutcome:
    results: list[dict[str, Any]]
    reused_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CopyRow:
    id: int
    code: str
    status: str
    title_id: int
    title: str
    created_at: datetime
    current_point_id: int

    def state(self) -> CopyState:
        return CopyState(code=self.code, status=self.status, title=self.title)


@dataclass(frozen=True)
class CardRow:
    id: int
    code: str
    status: str
    bound_at: datetime | None
    borrower_id: int | None
    borrower_name: str
    borrower_status: str
    open_count: int

    def state(self) -> CardState:
        return CardState(code=self.code, status=self.status, borrower_id=self.borrower_id,
                         borrower_status=self.borrower_status, borrower_name=self.borrower_name)


@dataclass(frozen=True)
class Scan:
    point: tuple[int, bool, bool] | None  # id, active, the actor works there
    copy: CopyRow | None
    open_loan: OpenLoan | None
    card: CardRow | None


class _Batch:
    """What one request's events share: actor, time, rules, and small caches."""

    def __init__(self, session: Session, actor: User, now: datetime, settings: LibrarySettings,
                 ip: str = "") -> None:
        self.session = session
        self.conn = session.connection()
        self.actor_id = actor.id
        self.role = actor.role
        self.now = now
        self.rules = LoanRules.from_settings(settings)
        self.tz = self.rules.tz
        self.ip = ip
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.own_children: dict[int, bool] = {}
        self.locked: set[str] = set()  # copy codes this transaction holds locked (PostgreSQL)
        # KIOSK (issue 17): a self-service kiosk's events; actor.id is None for a kiosk, and the
        # kiosk is recorded as the channel (channel/kiosk_id on loans and events) instead.
        self.kiosk = kiosk_service.kiosk_of(actor)
        self.channel = {"channel": "kiosk" if self.kiosk else "staff",
                        "kiosk_id": self.kiosk.kiosk_id if self.kiosk else None}
        self.settings = settings

    # ---- locks
    def lock(self, events: list[Event]) -> None:
        """PostgreSQL: lock the batch's copies, then its borrowers, each in id order.

        Until this transaction ends, another request on one of these copies or children waits
        here, before it reads anything, and then reads what this one wrote.
        """
        copies = sorted({e.copy for e in events})
        cards = sorted({e.card for e in events if e.card})
        if len(copies) == 1:  # an online scan: the prepared one-row lock (an IN is rendered per call)
            self.conn.execute(_COPY_LOCK, {"b_code": copies[0]}).all()
        elif copies:
            self.conn.execute(_COPY_LOCKS, {"b_codes": copies}).all()
        self.locked.update(copies)
        if cards:
            self.conn.execute(_BORROWER_LOCKS, {"b_cards": cards}).all()

    # ---- reads
    def scan(self, event: Event) -> Scan:
        """The point, the copy with its open loan, and (for a loan) the card: one SELECT."""
        if self.pg and event.copy not in self.locked:  # the SELECT below sees what the lock holder wrote
            self.conn.execute(_COPY_LOCK, {"b_code": event.copy})
        r = self.conn.execute(_SCAN, {"b_user": self.actor_id, "b_point": event.point,
                                      "b_copy": event.copy, "b_card": event.card}).one()
        if r.card_borrower_id is not None:  # read with the scan: ``card_name`` needs no query of its own
            self.own_children.setdefault(r.card_borrower_id, bool(r.card_child_here))
        return Scan(
            point=(r.point_id, bool(r.point_active), bool(r.works_here)) if r.point_id is not None else None,
            copy=(CopyRow(id=r.copy_id, code=r.copy_code, status=r.copy_status, title_id=r.title_id,
                          title=r.title, created_at=r.copy_created_at, current_point_id=r.copy_point_id)
                  if r.copy_id is not None else None),
            # The previous holder is another child: her name is never given in full (issue 13.9).
            open_loan=(OpenLoan(id=r.loan_id, borrower_id=r.loan_borrower_id, lent_at=r.lent_at, due_at=r.due_at,
                                renewals=r.renewals, point_id=r.loan_point_id,
                                borrower_name=mask_name(r.loan_borrower_name))
                       if r.loan_id is not None else None),
            card=(CardRow(id=r.card_id, code=r.card_code, status=r.card_status, bound_at=r.bound_at,
                          borrower_id=r.card_borrower_id,
                          borrower_name=self.card_name(r.card_borrower_id, r.card_borrower_name),
                          borrower_status=r.card_borrower_status or BorrowerStatus.ACTIVE, open_count=int(r.card_open_count or 0))
                  if r.card_id is not None else None),
        )

    def card_name(self, borrower_id: int | None, name: str | None) -> str:
        """The card's child as the answer names her: in full to staff and to a story mother of
        the child's point, else masked (data scope, services.scope)."""
        if borrower_id is None or self.role in STAFF:
            return name or ""
        if self.kiosk is not None:  # KIOSK (issue 17): its own point's children only; given name
            return kiosk_service.given_name(name or "")
        mine = self.own_children.get(borrower_id)
        if mine is None:
            mine = self.own_children[borrower_id] = bool(self.conn.execute(_OWN_CHILD, {
                "b_user": self.actor_id, "b_borrower": borrower_id}).scalar())
        return (name or "") if mine else mask_name(name)

    # ---- writes
    def audit(self, action: str, target_id: object, point_id: int | None, **details: Any) -> None:
        self.conn.execute(_INSERT_AUDIT, {
            "at": self.now, "actor_id": self.actor_id, "action": action, "target_type": "loan",
            "target_id": str(target_id), "point_id": point_id, "ip": self.ip, "details": details,
        })

    def store(self, event: Event | None, *, event_id: str, status: str, code: str, message: str,
              point_id: int | None = None, loan_id: int | None = None, raw: dict[str, Any] | None = None,
              payload_hash: str = "") -> None:
        values: dict[str, Any] = {
            "event_id": event_id, "status": status, "code": code, "message": message,
            "point_id": point_id, "loan_id": loan_id, "actor_id": self.actor_id,
            "received_at": self.now, **self.channel,  # KIOSK (issue 17)
        }
        if event is not None:
            values.update(type=event.type, payload_hash=event.payload_hash, copy_code=event.copy,
                          card_code=event.card or "", occurred_at=event.at)
        else:
            raw = raw or {}
            values.update(type=str(raw.get("type") or "")[:8], payload_hash=payload_hash,
                          copy_code=str(raw.get("copy") or "")[:64],
                          card_code=str(raw.get("card") or "")[:64], occurred_at=self.now)
        self.conn.execute(_INSERT_EVENT, values)

    def review(self, event: Event, reasons: list[str], loan_id: int | None, point_id: int,
               **details: Any) -> str:
        message = "；".join(REVIEW_REASONS.get(r, r) for r in reasons)
        self.conn.execute(_INSERT_REVIEW, {
            "event_id": event.id, "loan_id": loan_id, "point_id": point_id, "reason": reasons[0][:32],
            "message": message, "created_at": self.now, "resolution": "",
            "details": {"reasons": reasons, "type": event.type, "copy": event.copy, "card": event.card,
                        "device_at": event.device_at or event.at.isoformat(), "received_at": self.now.isoformat(),
                        **details},
        })
        return message
