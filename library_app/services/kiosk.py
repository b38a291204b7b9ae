"""Self-service kiosks: enrolment, the kiosk principal, card look-ups and the loan rules.

Services take (session, actor, now) and never commit. The circulation service calls
``check_kiosk_event`` once at the start of each event a kiosk sends; everything else a kiosk
does lives here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from library_app.domain import kiosk as rules
from library_app.domain.loans import LoanRules
from library_app.domain.roles import Role, is_staff
from library_app.domain.settings import LibrarySettings
from library_app.domain.statuses import BorrowerStatus, CardStatus
from library_app.models import (
    AuditLog,
    Borrower,
    Card,
    CirculationEvent,
    Kiosk,
    Loan,
    Point,
    User,
)
from library_app.services import audit
from library_app.services.errors import Forbidden, Invalid, NotFound
from library_app.services.kiosk_activity import activity, recent_refusals  # noqa: F401 (the views' names)

LAST_SEEN_EVERY = timedelta(minutes=1)
given_name = rules.given_name  # last_seen_at is written at most this often


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_enrol_code(raw: object) -> str:
    return "".join(ch for ch in str(raw or "").upper() if ch.isalnum())


# ---------------------------------------------------------------- the kiosk principal

@dataclass(frozen=True)
class KioskPrincipal:
    """A kiosk signed in by its token: not a user. Speaks Flask-Login's user protocol.

    ``role`` is the pseudo-role ``kiosk`` that the access hook accepts only on routes marked
    for kiosks (``access.kiosk_route``). ``id`` is None: nothing a kiosk does is recorded as a
    user's (actor_id, lent_by stay empty; the kiosk is recorded as the channel instead).
    """

    kiosk_id: int
    name: str
    point_id: int
    point_code: str
    point_name: str
    id: None = None
    role: str = rules.KIOSK_ROLE
    active: bool = True
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True

    @property
    def username(self) -> str:
        return f"kiosk:{self.kiosk_id}"

    @property
    def display_name(self) -> str:
        return self.name

    def get_id(self) -> str:
        return self.username


def kiosk_of(actor: object) -> KioskPrincipal | None:
    return actor if isinstance(actor, KioskPrincipal) else None


def principal_for_token(conn: Connection, token: str, now: datetime) -> tuple[KioskPrincipal, bool] | None:
    """The live kiosk holding this token (not revoked), or None; and whether its last-seen
    time is due to move on (``touch``, in a write transaction of the caller's choosing)."""
    if not token.startswith(rules.TOKEN_PREFIX):
        return None
    k, p = Kiosk.__table__.c, Point.__table__.c
    row = conn.execute(
        select(k.id, k.name, k.point_id, p.code, p.name, k.last_seen_at)
        .join_from(Kiosk.__table__, Point.__table__, p.id == k.point_id)
        .where(k.token_hash == _hash(token), k.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    due = row[5] is None or now - row[5] >= LAST_SEEN_EVERY
    return KioskPrincipal(kiosk_id=row[0], name=row[1], point_id=row[2], point_code=row[3], point_name=row[4]), due


def touch(conn: Connection, kiosk_id: int, now: datetime) -> None:
    k = Kiosk.__table__.c
    conn.execute(update(Kiosk.__table__).where(k.id == kiosk_id).values(last_seen_at=now))  # type: ignore[arg-type]


# ---------------------------------------------------------------- enrolment (staff)

def may_manage(actor: User, point: Point) -> bool:
    """Staff manage every point's kiosks, a point lead her own points'."""
    if is_staff(actor.role):
        return True
    if actor.role == Role.POINT_LEAD:
        return any(p.id == point.id for p in getattr(actor, "points", []))
    return False


def create_kiosk(session: Session, actor: User, now: datetime, *, name: object,
                 point_code: object) -> tuple[Kiosk, str]:
    """A kiosk waiting for its device, and the one-time code (shown once, stored hashed)."""
    label = str(name or "").strip()
    if not label:
        raise Invalid("请给这台自助借书机起个名字，例如“三灶点平板”。")
    if len(label) > 64:
        raise Invalid("名字最多 64 个字。")
    point = session.scalar(select(Point).where(Point.code == str(point_code or "").strip().upper()))
    if point is None:
        raise Invalid("请选择自助借书机所在的阅读点。")
    if not point.active:
        raise Invalid("这个阅读点已停用，不能放自助借书机。")
    if not may_manage(actor, point):
        raise Forbidden("您不能为这个阅读点登记自助借书机。")
    code = "".join(secrets.choice(rules.ENROL_CODE_ALPHABET) for _ in range(rules.ENROL_CODE_LENGTH))
    kiosk = Kiosk(name=label, point_id=point.id, created_by_id=actor.id, created_at=now,
                  enrol_code_hash=_hash(code), enrol_expires_at=now + timedelta(minutes=rules.ENROL_CODE_MINUTES))
    session.add(kiosk)
    session.flush()
    audit.record(session, actor, now, "kiosk.create", "kiosk", kiosk.id, point_id=point.id)
    return kiosk, code


def new_enrol_code(session: Session, actor: User, now: datetime, kiosk: Kiosk) -> str:
    """A fresh code for a kiosk not yet enrolled (the first one expired or was lost)."""
    if kiosk.revoked_at is not None or kiosk.enrolled_at is not None:
        raise Invalid("这台自助借书机已经登记或已停用，不能再发登记码。")
    code = "".join(secrets.choice(rules.ENROL_CODE_ALPHABET) for _ in range(rules.ENROL_CODE_LENGTH))
    kiosk.enrol_code_hash = _hash(code)
    kiosk.enrol_expires_at = now + timedelta(minutes=rules.ENROL_CODE_MINUTES)
    session.flush()
    audit.record(session, actor, now, "kiosk.new_code", "kiosk", kiosk.id, point_id=kiosk.point_id)
    return code


def enrol(session: Session, now: datetime, raw_code: object, ip: str = "") -> tuple[Kiosk, str]:
    """Trade a live one-time code for the kiosk's token, once."""
    code = normalise_enrol_code(raw_code)
    kiosk = session.scalar(select(Kiosk).where(Kiosk.enrol_code_hash == _hash(code))) if code else None
    if kiosk is None or not rules.enrol_code_live(expires_at=kiosk.enrol_expires_at, used=kiosk.enrolled_at is not None,
                                                  revoked=kiosk.revoked_at is not None, now=now):
        raise rules.EnrolCodeInvalid()
    token = rules.TOKEN_PREFIX + secrets.token_urlsafe(32)
    # Single use under races too: only the request that still finds the code clears it.
    done = session.execute(  # type: ignore[attr-defined]
        update(Kiosk).where(Kiosk.id == kiosk.id, Kiosk.enrol_code_hash == _hash(code), Kiosk.enrolled_at.is_(None))
        .values(enrol_code_hash=None, enrol_expires_at=None, token_hash=_hash(token), enrolled_at=now,
                last_seen_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise rules.EnrolCodeInvalid()
    session.expire(kiosk)
    session.add(AuditLog(at=now, actor_id=None, action="kiosk.enrol", target_type="kiosk",
                         target_id=str(kiosk.id), point_id=kiosk.point_id, ip=ip, details={}))
    session.flush()
    return kiosk, token


def revoke(session: Session, actor: User, now: datetime, kiosk: Kiosk) -> None:
    if not may_manage(actor, kiosk.point):
        raise Forbidden("您不能停用这个阅读点的自助借书机。")
    if kiosk.revoked_at is None:
        kiosk.revoked_at = now
        kiosk.enrol_code_hash = None
        kiosk.token_hash = None
        session.flush()
        audit.record(session, actor, now, "kiosk.revoke", "kiosk", kiosk.id, point_id=kiosk.point_id)


def long_unused(kiosk: Kiosk, now: datetime) -> bool:
    """Enrolled, not revoked, and not seen for 30 days (domain.kiosk.LONG_UNUSED): flagged."""
    return rules.long_unused(enrolled_at=kiosk.enrolled_at, last_seen_at=kiosk.last_seen_at,
                             revoked=kiosk.revoked_at is not None, now=now)


def get_kiosk(session: Session, kiosk_id: int) -> Kiosk:
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise NotFound("找不到这台自助借书机。")
    return kiosk


def list_kiosks(session: Session, actor: User) -> list[Kiosk]:
    kiosks = list(session.scalars(select(Kiosk).order_by(Kiosk.revoked_at.is_not(None), Kiosk.id)))
    return [k for k in kiosks if may_manage(actor, k.point)]


def set_self_service(session: Session, actor: User, now: datetime, borrower: Borrower, value: object) -> None:
    """Allow (or stop) a child borrowing alone at a kiosk of her point."""
    if not isinstance(value, bool):
        raise Invalid("self_service 只能是 true 或 false。")
    if borrower.anonymised_at is not None:
        raise Invalid("这位小读者的资料已匿名化，不能修改。")
    if borrower.self_service != value:
        borrower.self_service = value
        session.flush()
        audit.record(session, actor, now, "borrower.self_service", "borrower", borrower.id,
                     point_id=borrower.home_point_id, new=value)


# ---------------------------------------------------------------- the child at the kiosk

def _tries(kiosk: Kiosk) -> rules.CardTries | None:
    if kiosk.card_tries_started_at is None:
        return None
    return rules.CardTries(kiosk.card_tries, kiosk.card_tries_started_at, kiosk.card_blocked_until)


def card_for_kiosk(session: Session, principal: KioskPrincipal, now: datetime, code: str,
                   settings: LibrarySettings, ip: str = "") -> dict[str, Any]:
    """What the kiosk may show of a card's child: given name, her books, how many more.

    Unknown, revoked or unbound cards count towards the kiosk's slow-down and raise NotFound;
    once slowed, every look-up waits (``TooManyTries``) until the wait is over. The caller
    commits in both cases (the count must stay).
    """
    from library_app.services.circulation import open_loans_of

    kiosk = session.get(Kiosk, principal.kiosk_id, with_for_update=True)
    assert kiosk is not None
    rules.check_not_blocked(_tries(kiosk), now)
    row = session.execute(
        select(Card.status, Borrower.id, Borrower.name, Borrower.status, Borrower.home_point_id,
               Borrower.self_service)
        .join(Borrower, Borrower.id == Card.borrower_id)
        .where(Card.code == code)
    ).first()
    if row is None or row[0] != CardStatus.ACTIVE or row[3] != BorrowerStatus.ACTIVE:
        tries = rules.after_unknown_card(_tries(kiosk), now)
        kiosk.card_tries, kiosk.card_tries_started_at = tries.count, tries.started_at
        kiosk.card_blocked_until = tries.blocked_until
        session.flush()
        raise NotFound("认不出这张卡，请再扫一次，或找老师帮忙。")
    _status, borrower_id, name, _bstatus, home_point_id, self_service = row
    rules.check_child_here(kiosk_point_id=principal.point_id, home_point_id=home_point_id)
    loan_rules = LoanRules.from_settings(settings)
    loans = open_loans_of(session, borrower_id, now, loan_rules)
    overdue = sum(1 for x in loans if x["overdue"])
    blocked = not self_service or (settings.kiosk_overdue_blocks and overdue > 0)
    can_borrow = 0 if blocked else max(0, loan_rules.loan_limit - len(loans))
    refusal = None
    try:
        rules.check_self_service_loan(self_service=bool(self_service), overdue_count=overdue,
                                      overdue_blocks=settings.kiosk_overdue_blocks)
    except rules.RuleBroken as exc:
        refusal = {"code": exc.code, "message": exc.message}
    # Each view of a child's data is logged (trust.md), with the kiosk as the one who looked.
    session.add(AuditLog(at=now, actor_id=None, action="kiosk.card_view", target_type="borrower",
                         target_id=str(borrower_id), point_id=principal.point_id, ip=ip,
                         details={"kiosk": principal.kiosk_id}))
    session.flush()
    return {
        "display_name": rules.given_name(name or ""),
        "loans": [{"title": x["title"], "due_at": x["due_at"], "copy": x["copy"],
                   "overdue": bool(x["overdue"])} for x in loans],
        "can_borrow": can_borrow,
        "refusal": refusal,
    }


def check_kiosk_event(conn: Connection, principal: KioskPrincipal, *, event_type: str,
                      event_point_id: int | None, card_code: str | None, now: datetime,
                      settings: LibrarySettings, offline: bool = False) -> list[str]:
    """The kiosk's rules for one event, before the circulation service applies it.

    Called by services.circulation._apply in place of its point check when a kiosk sends the
    event: its own point only, loans and returns only; a loan only for a child of this point
    who may self-serve and (if the setting says so) has no overdue book. A loan the kiosk
    recorded offline (the child has gone home with the book) that breaks one of the two
    self-service rules is not refused: the reasons to send it for review are returned.
    """
    rules.check_kiosk_event(event_type=event_type, kiosk_point_id=principal.point_id,
                            event_point_id=event_point_id)
    if event_type != "loan" or not card_code:
        return []
    b, c, ln = Borrower.__table__.c, Card.__table__.c, Loan.__table__.c
    row = conn.execute(
        select(b.home_point_id, b.self_service, b.id)
        .select_from(Card.__table__.join(Borrower.__table__, b.id == c.borrower_id))
        .where(c.code == card_code)
    ).first()
    if row is None:
        return []  # the circulation service refuses the unknown card itself
    rules.check_child_here(kiosk_point_id=principal.point_id, home_point_id=row[0])
    overdue = 0
    if settings.kiosk_overdue_blocks:
        overdue = conn.execute(
            select(func.count(ln.id)).where(ln.borrower_id == row[2], ln.returned_at.is_(None),
                                            ln.due_at < now)
        ).scalar_one()
    if offline:
        return rules.offline_loan_review(self_service=bool(row[1]), overdue_count=overdue,
                                         overdue_blocks=settings.kiosk_overdue_blocks)
    rules.check_self_service_loan(self_service=bool(row[1]), overdue_count=overdue,
                                  overdue_blocks=settings.kiosk_overdue_blocks)
    return []


def redact_results(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Event answers as a kiosk may receive them. The child who lends is named by her given
    name already (services.circulation _Batch.card_name); no other child is named at all: an
    implicit return's previous borrower becomes 别人, a returned book's borrower 小读者."""
    out = []
    for result in results:
        r = dict(result)
        message = str(r.get("message") or "")
        previous = r.get("previous")
        if isinstance(previous, dict):
            name = (previous.get("borrower") or {}).get("name") or ""
            if name:
                message = message.replace(name, "别人")
            r["previous"] = {**previous, "borrower": {"name": "别人"}}
        loan = r.get("loan")
        if isinstance(loan, dict) and isinstance(loan.get("borrower"), dict) and not loan["borrower"].get("card"):
            name = loan["borrower"].get("name") or ""
            if name:
                message = message.replace(name, "小读者")
            r["loan"] = {**loan, "borrower": {**loan["borrower"], "name": ""}}
        r["message"] = message
        out.append(r)
    return out


def undo(session: Session, principal: KioskPrincipal, now: datetime, event_id: str,
         settings: LibrarySettings, ip: str = "") -> dict[str, Any]:
    """The screen's 10-second undo: a loan this kiosk made, within the undo window."""
    from library_app.services.circulation import undo_event

    event = session.scalar(select(CirculationEvent).where(CirculationEvent.event_id == str(event_id or "")))
    if event is None or event.kiosk_id != principal.kiosk_id:
        raise NotFound("找不到这次借书。")
    if event.type != "loan":
        raise Invalid("自助借书机只能撤销刚借的书。")
    # The kiosk's events have no user (actor_id None) and neither has the principal, so the
    # circulation service's "her own event" rule holds for this kiosk's own loans only; the
    # kiosk_id check above is what keeps it to this kiosk.
    return undo_event(session, principal, now, event.event_id, settings, ip=ip)  # type: ignore[arg-type]
