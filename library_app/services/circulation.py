"""Circulation: loans, returns, renewals and undo, from scans online and offline syncs.

``apply_events`` is the hot path behind ``POST /api/v1/circulation/events``: a batch of client
events, each applied once (its UUID is stored in ``circulation_events`` in the same
transaction as its effect), in the order they happened. It reads only the columns it needs
with Core statements (no ORM objects, no lazy loads) and flushes nothing it does not write.

Concurrency: on SQLite the caller runs the batch in one ``BEGIN IMMEDIATE`` transaction, so
writers are serialised. On PostgreSQL a batch first locks ``FOR UPDATE`` every copy it names and
then every borrower whose card it names, each set in id order (so two batches never wait for
each other in a circle, and two loans to one child on different copies take turns at the limit
check); only then does it look up which of its event ids are already stored, so a batch racing
its own retry finds the other's events and answers ``duplicate``. Each event then runs in a
real SAVEPOINT: an insert that still hits the unique event id (an event on no known copy) or
the one-open-loan-per-copy index rolls back that event alone, and it is decided again on fresh
data. A deadlock or serialization victim is retried whole by ``circulation.txn.write``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from library_app.domain import events as ev_rules
from library_app.domain import loans as rules_mod
from library_app.domain.errors import RuleBroken
from library_app.domain.events import Event
from library_app.domain.loans import (
    REVIEW_REASONS,
    CardState,
    CopyState,
    LoanRules,
    OpenLoan,
    date_in_words,
    due_in_words,
)
from library_app.domain.offline_cache import mask_name
from library_app.domain.reports import local_day
from library_app.domain.settings import LibrarySettings, validated

# stocktake hook (issue 18): see _return and _loan
from library_app.domain.stocktake import found_again
from library_app.models import (
    AuditLog,
    Borrower,
    Card,
    CirculationEvent,
    Copy,
    Loan,
    LoanRenewal,
    Point,
    ReviewItem,
    Setting,
    Title,
    User,
    user_points,
)
from library_app.services import kiosk as kiosk_service  # KIOSK (issue 17)

RETRIES = 3

# ---------------------------------------------------------------- prebuilt statements
# The hot path's SQL, built once from the tables (plain Core, not ORM-enabled): SQLAlchemy then
# compiles each statement once and reuses it, instead of building, keying and ORM-compiling
# ten statements per scan.
def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_points, _copies, _titles = _table(Point), _table(Copy), _table(Title)
_loans, _borrowers, _cards = _table(Loan), _table(Borrower), _table(Card)
_events, _audit, _reviews = _table(CirculationEvent), _table(AuditLog), _table(ReviewItem)
_renewals = _table(LoanRenewal)

# Everything one scan reads, in one row: the point (and whether the actor works there), the copy
# with its title and its open loan (and that borrower's name), and for a loan the card with its
# child and the child's open-loan count. Each part is a LEFT JOIN on a unique code, anchored on a
# one-row select, so a part that does not exist comes back as NULLs instead of losing the row.
_anchor = select(literal_column("1").label("one")).subquery("scan")
_loan_borrower, _card_borrower = _borrowers.alias("loan_borrower"), _borrowers.alias("card_borrower")
_counted = _loans.alias("counted")
_SCAN = (
    select(
        _points.c.id, _points.c.active,
        select(user_points.c.point_id).where(user_points.c.user_id == bindparam("b_user"),
                                             user_points.c.point_id == _points.c.id).exists(),
        _copies.c.id, _copies.c.code, _copies.c.status, _copies.c.title_id, _titles.c.title,
        _copies.c.created_at, _copies.c.current_point_id,
        _loans.c.id, _loans.c.borrower_id, _loans.c.lent_at, _loans.c.due_at, _loans.c.renewals,
        _loans.c.point_id, _loan_borrower.c.name,
        _cards.c.id, _cards.c.code, _cards.c.status, _cards.c.bound_at, _cards.c.borrower_id,
        _card_borrower.c.name, _card_borrower.c.status,
        select(func.count(_counted.c.id)).where(_counted.c.borrower_id == _cards.c.borrower_id,
                                                _counted.c.returned_at.is_(None)).scalar_subquery(),
    )
    .select_from(
        _anchor
        .outerjoin(_points, _points.c.code == bindparam("b_point"))
        .outerjoin(_copies, _copies.c.code == bindparam("b_copy"))
        .outerjoin(_titles, _titles.c.id == _copies.c.title_id)
        .outerjoin(_loans, and_(_loans.c.copy_id == _copies.c.id, _loans.c.returned_at.is_(None)))
        .outerjoin(_loan_borrower, _loan_borrower.c.id == _loans.c.borrower_id)
        .outerjoin(_cards, _cards.c.code == bindparam("b_card"))
        .outerjoin(_card_borrower, _card_borrower.c.id == _cards.c.borrower_id)
    )
)
_OWN_CHILD = select(user_points.c.point_id).where(
    user_points.c.user_id == bindparam("b_user"),
    user_points.c.point_id == select(_borrowers.c.home_point_id)
    .where(_borrowers.c.id == bindparam("b_borrower")).scalar_subquery(),
).exists().select()
_COPY_LOCK = select(_copies.c.id).where(_copies.c.code == bindparam("b_code")).with_for_update()
# A batch's rows, locked up front in one order (copies, then borrowers; each by id).
_COPY_LOCKS = (select(_copies.c.id).where(_copies.c.code.in_(bindparam("b_codes", expanding=True)))
               .order_by(_copies.c.id).with_for_update())
_BORROWER_LOCKS = (select(_borrowers.c.id)
                   .where(_borrowers.c.id.in_(select(_cards.c.borrower_id)
                                              .where(_cards.c.code.in_(bindparam("b_cards", expanding=True)))))
                   .order_by(_borrowers.c.id).with_for_update())
# What tells a wrong device clock before a batch is ordered: when each copy was registered and
# each card bound.
_COPY_BORN = select(_copies.c.code, _copies.c.created_at).where(_copies.c.code.in_(bindparam("b_codes", expanding=True)))
_CARD_BOUND = select(_cards.c.code, _cards.c.bound_at).where(_cards.c.code.in_(bindparam("b_cards", expanding=True)))
_KNOWN_COLUMNS = (_events.c.event_id, _events.c.payload_hash, _events.c.status, _events.c.code,
                  _events.c.message, _events.c.loan_id)
_KNOWN = select(*_KNOWN_COLUMNS).where(_events.c.event_id.in_(bindparam("b_ids", expanding=True)))
_KNOWN_ONE = select(*_KNOWN_COLUMNS).where(_events.c.event_id == bindparam("b_id"))  # an online scan
_NEXT_LENT = select(func.min(_loans.c.lent_at)).where(_loans.c.copy_id == bindparam("b_copy"),
                                                       _loans.c.lent_at > bindparam("b_at"))
_INSERT_LOAN = insert(_loans).returning(_loans.c.id)
_INSERT_EVENT = insert(_events)
_INSERT_AUDIT = insert(_audit)
_INSERT_REVIEW = insert(_reviews)
_CLOSE_LOAN = update(_loans).where(_loans.c.id == bindparam("b_loan"), _loans.c.returned_at.is_(None)).values(
    returned_at=bindparam("b_at"), return_point_id=bindparam("b_point"), returned_by_id=bindparam("b_by"),
    return_kind=bindparam("b_kind"), return_event_id=bindparam("b_event"))
_COPY_STATE = update(_copies).where(_copies.c.id == bindparam("b_copy")).values(
    status=bindparam("b_status"), current_point_id=bindparam("b_point"))
_COPY_HERE = update(_copies).where(_copies.c.id == bindparam("b_copy")).values(current_point_id=bindparam("b_point"))
_RENEW = update(_loans).where(_loans.c.id == bindparam("b_loan")).values(
    due_at=bindparam("b_due"), renewals=bindparam("b_renewals"))
_INSERT_RENEWAL = insert(_renewals)


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
        r: Any = self.conn.execute(_SCAN, {"b_user": self.actor_id, "b_point": event.point,
                                           "b_copy": event.copy, "b_card": event.card}).one()
        return Scan(
            point=(r[0], bool(r[1]), bool(r[2])) if r[0] is not None else None,
            copy=CopyRow(*r[3:10]) if r[3] is not None else None,
            # The previous holder is another child: her name is never given in full (issue 13.9).
            open_loan=(OpenLoan(id=r[10], borrower_id=r[11], lent_at=r[12], due_at=r[13], renewals=r[14],
                                point_id=r[15], borrower_name=mask_name(r[16])) if r[10] is not None else None),
            card=(CardRow(r[17], r[18], r[19], r[20], r[21], self.card_name(r[21], r[22]), r[23] or "active",
                          int(r[24] or 0))
                  if r[17] is not None else None),
        )

    def card_name(self, borrower_id: int | None, name: str | None) -> str:
        """The card's child as the answer names her: in full to staff and to a story mother of
        the child's point, else masked (data scope, services.scope)."""
        if borrower_id is None or self.role in ("admin", "librarian"):
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


def _result(event_id: str, status: str, code: str, message: str,
            loan: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "status": status, "code": code, "message": message, "loan": loan, **extra}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _loan_json(b: _Batch, *, loan_id: int, copy: CopyRow, borrower: str, card: str | None,
               point: str, lent_at: datetime, due_at: datetime | None, renewals: int = 0,
               returned_at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": loan_id, "copy": copy.code, "title": copy.title,
        "borrower": {"name": borrower, "card": card}, "point": point,
        "lent_at": _iso(lent_at), "due_at": _iso(due_at),
        "due_text": due_in_words(due_at, b.now, b.tz) if returned_at is None else "",
        "renewals": renewals, "returned_at": _iso(returned_at),
    }


_SETTINGS = select(_table(Setting).c.key, _table(Setting).c.value)


def current_settings(session: Session, config: dict[str, Any] | None) -> LibrarySettings:
    """The settings as ``services.settings.get_settings`` gives them, read lean for the hot path:
    one prebuilt SELECT, and the validated result reused while the stored rows stay the same."""
    stored = tuple(sorted((k, json.dumps((v or {}).get("v"))) for k, v in session.connection().execute(_SETTINGS)))
    base = (config or {}).get("ORG_NAME"), (config or {}).get("TIMEZONE"), (config or {}).get("PUBLIC_BASE_URL"), \
        bool((config or {}).get("SHOW_SCHOOL_FIELDS", False))
    return _settings_for(stored, base)


@lru_cache(maxsize=32)
def _settings_for(stored: tuple[tuple[str, str], ...], base: tuple[Any, ...]) -> LibrarySettings:
    from library_app.services.settings import (
        from_config,  # the same starting values as get_settings
    )

    org_name, timezone, public_base_url, school = base
    start = from_config({"ORG_NAME": org_name, "TIMEZONE": timezone, "PUBLIC_BASE_URL": public_base_url,
                          "SHOW_SCHOOL_FIELDS": school})
    return validated(start, {k: json.loads(v) for k, v in stored}) if stored else start


# ---------------------------------------------------------------- the batch

def apply_events(session: Session, actor: User, now: datetime, raw_events: list[Any],
                 settings: LibrarySettings, ip: str = "") -> BatchOutcome:
    """Apply a batch of client events; one result per event, in the order sent.

    Flushes (executes) but never commits: the caller commits once.
    """
    b = _Batch(session, actor, now, settings, ip)
    results: list[dict[str, Any] | None] = [None] * len(raw_events)
    outcome = BatchOutcome(results=[])
    ids: dict[int, str] = {}
    parsed: dict[int, Event | RuleBroken] = {}
    for i, raw in enumerate(raw_events):
        try:
            ids[i] = ev_rules.event_id(raw)
        except RuleBroken as exc:
            results[i] = _result(str(raw.get("id") if isinstance(raw, dict) else ""), "rejected",
                                 exc.code, exc.message)
            continue
        try:  # each event answers for itself: a malformed one is rejected, the others go on
            parsed[i] = ev_rules.settle_clock(ev_rules.parse_event(raw, b.tz), now)
        except RuleBroken as exc:
            parsed[i] = exc
    if b.pg:  # before reading which ids are known: a racing twin of this batch has committed by then
        b.lock([e for e in parsed.values() if isinstance(e, Event)])
    _settle_for_order(b, parsed)
    known = _known_events(b, list(set(ids.values())))
    seen: dict[str, str] = {}
    todo: list[tuple[int, Event]] = []
    for i, eid in ids.items():
        raw = raw_events[i]
        digest = ev_rules.payload_hash(raw)
        previous = known.get(eid)
        earlier_hash = previous["payload_hash"] if previous else seen.get(eid)
        if earlier_hash is not None:
            if earlier_hash != digest:
                results[i] = _reused(eid, outcome)
            elif previous:
                results[i] = _duplicate(b, eid, previous)
            else:
                results[i] = _result(eid, "duplicate", "duplicate", "这次扫描已经记录过了。")
            continue
        seen[eid] = digest
        event = parsed[i]
        if isinstance(event, Event):
            todo.append((i, event))
            continue
        exc = event

        def rejected(exc: RuleBroken = exc, eid: str = eid, raw: Any = raw, digest: str = digest) -> dict[str, Any]:
            b.store(None, event_id=eid, status="rejected", code=exc.code, message=exc.message,
                    raw=raw, payload_hash=digest)
            return _result(eid, "rejected", exc.code, exc.message)

        results[i] = _once(b, eid, digest, rejected)
    for i, event in ev_rules.apply_order(todo):
        results[i] = _once(b, event.id, event.payload_hash, lambda event=event: _apply(b, event))
    outcome.results = [r for r in results if r is not None]
    return outcome


def _settle_for_order(b: _Batch, parsed: dict[int, Event | RuleBroken]) -> None:
    """A batch of several events is ordered by their times: first settle each device time
    against its copy's registration and its card's binding, so that a clock known to be wrong
    (a return "in 2001" of a book registered last week) does not put an event first."""
    events = {i: e for i, e in parsed.items() if isinstance(e, Event)}
    if len(events) < 2:
        return  # one event: no order to get wrong (its scan settles it)
    copies = sorted({e.copy for e in events.values()})
    cards = sorted({e.card for e in events.values() if e.card})
    born = dict(b.conn.execute(_COPY_BORN, {"b_codes": copies}).all())
    bound = dict(b.conn.execute(_CARD_BOUND, {"b_cards": cards}).all()) if cards else {}
    for i, e in events.items():
        parsed[i] = ev_rules.settle_clock(e, b.now, copy_created_at=born.get(e.copy),
                                          card_bound_at=bound.get(e.card) if e.card else None)


def _reused(eid: str, outcome: BatchOutcome) -> dict[str, Any]:
    outcome.reused_ids.append(eid)
    err = ev_rules.EventIdReused()
    return _result(eid, "rejected", err.code, err.message)


def _known_events(b: _Batch, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    if len(ids) == 1:  # the statement is prepared once; an expanding IN is rendered per call
        rows = b.conn.execute(_KNOWN_ONE, {"b_id": ids[0]}).all()
    else:
        rows = b.conn.execute(_KNOWN, {"b_ids": ids}).all()
    return {r[0]: {"payload_hash": r[1], "status": r[2], "code": r[3], "message": r[4], "loan_id": r[5]}
            for r in rows}


def _duplicate(b: _Batch, eid: str, previous: dict[str, Any]) -> dict[str, Any]:
    """The same event again: nothing changes; say what happened the first time."""
    return _result(eid, "duplicate", previous["code"] or "duplicate",
                   previous["message"] or "这次扫描已经记录过了。", None,
                   original_status=previous["status"])


def _once(b: _Batch, event_id: str, digest: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one event's work; on PostgreSQL in a SAVEPOINT of its own.

    If another request stored the same event id meanwhile (a twin batch, an event on no
    lockable copy) or won a race for the copy's one open loan, only this event's writes are
    undone, and it is answered from what the other request wrote, or decided again.
    """
    if not b.pg:
        return work()
    for attempt in range(RETRIES):
        savepoint = b.conn.begin_nested()  # on the connection the statements run on: a real SAVEPOINT
        try:
            result = work()
            savepoint.commit()
            return result
        except IntegrityError:
            savepoint.rollback()
            known = _known_events(b, [event_id])
            if event_id in known:
                if known[event_id]["payload_hash"] != digest:
                    err = ev_rules.EventIdReused()
                    return _result(event_id, "rejected", err.code, err.message)
                return _duplicate(b, event_id, known[event_id])
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _apply(b: _Batch, event: Event) -> dict[str, Any]:
    scan = b.scan(event)
    point = scan.point
    try:
        if b.kiosk is not None:  # KIOSK (issue 17): its own point, and its loan rules
            kiosk_service.check_kiosk_event(b.conn, b.kiosk, event_type=event.type,
                                            event_point_id=point[0] if point else None,
                                            card_code=event.card, now=b.now, settings=b.settings)
        rules_mod.check_point(role=b.role, point_id=point[0] if point else None,
                              point_active=point[1] if point else False,
                              my_point_ids=(frozenset({point[0]}) if point and (point[2] or b.kiosk)
                                            else frozenset()),  # KIOSK: its point, checked above
                              point_code=event.point)
    except RuleBroken as exc:
        b.store(event, event_id=event.id, status="rejected", code=exc.code, message=exc.message)
        return _result(event.id, "rejected", exc.code, exc.message)
    assert point is not None
    point_id = point[0]
    try:
        if event.type == "loan":
            return _loan(b, event, point_id, scan)
        if event.type == "return":
            return _return(b, event, point_id, scan)
        return _renew(b, event, point_id, scan)
    except RuleBroken as exc:
        b.store(event, event_id=event.id, status="rejected", code=exc.code, message=exc.message,
                point_id=point_id)
        return _result(event.id, "rejected", exc.code, exc.message)


def _when(b: _Batch, event: Event, clock: str | None, open_loan: OpenLoan | None) -> tuple[datetime, bool]:
    """The time to record and whether the event was offline.

    Online, the server's clock is the truth (phones differ by minutes), and what happens
    now cannot precede the copy's current loan (a request that waited for the lock behind
    another one comes after it); offline, the device's time is when it happened; a clock
    that cannot be right is replaced by the time the server received the event (and the
    event goes to review).
    """
    offline = ev_rules.is_offline(event, b.now)
    if clock is not None or not offline:
        if open_loan is not None and open_loan.lent_at > b.now and not offline:
            return open_loan.lent_at, offline
        return b.now, offline
    return event.at, offline


def _settled(b: _Batch, event: Event, *, card_bound_at: datetime | None = None,
             copy_created_at: datetime | None = None) -> Event:
    """The event settled again with what the scan read: a device time before the card was
    bound or the copy registered is not believed either (recorded at the server's time)."""
    return ev_rules.settle_clock(event, b.now, card_bound_at=card_bound_at, copy_created_at=copy_created_at)


def _finish(b: _Batch, event: Event, point_id: int, *, status: str, code: str, message: str,
            loan_id: int | None, reasons: list[str], loan: dict[str, Any] | None,
            **extra: Any) -> dict[str, Any]:
    if reasons:
        status = "review"
        message += " 已交给图书管理员复核：" + b.review(event, reasons, loan_id, point_id) + "。"
        code = code if code not in ("lent", "returned") else reasons[0]
    b.store(event, event_id=event.id, status=status, code=code, message=message, point_id=point_id,
            loan_id=loan_id)
    return _result(event.id, status, code, message, loan, **extra)


def _loan(b: _Batch, event: Event, point_id: int, scan: Scan) -> dict[str, Any]:
    assert event.card is not None
    copy = scan.copy
    if copy is None:
        raise rules_mod.UnknownCopy()
    card = scan.card
    if card is None:
        raise rules_mod.UnknownCard()
    open_loan = scan.open_loan
    if (event.if_on_loan_elsewhere == "return_only" and open_loan is not None
            and open_loan.borrower_id != card.borrower_id and not ev_rules.is_offline(event, b.now)):
        # Scanned online with another child current: the book was handed back, so it is returned
        # now and lent only when the story mother taps "借给…" (product.md, Scanning).
        returned = _return(b, replace(event, type="return", card=None), point_id, scan)
        if returned["code"] == "returned":
            returned["code"] = "returned_not_lent"
        return returned
    event = _settled(b, event, card_bound_at=card.bound_at, copy_created_at=copy.created_at)
    clock = event.clock
    at, offline = _when(b, event, clock, open_loan)
    plan = rules_mod.plan_loan(copy=copy.state(), card=card.state(), open_loan=open_loan,
                               open_count=card.open_count, at=at, point_id=point_id, rules=b.rules,
                               offline=offline)
    reasons = list(plan.review) + ([clock] if clock else [])
    name = card.borrower_name
    if plan.action == "already_lent":
        assert open_loan is not None
        message = f"《{copy.title}》已经借给了{name}，不用再借。"
        loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=name, card=card.code,
                          point=event.point, lent_at=open_loan.lent_at, due_at=open_loan.due_at,
                          renewals=open_loan.renewals)
        b.store(event, event_id=event.id, status="duplicate", code="already_lent", message=message,
                point_id=point_id, loan_id=open_loan.id)
        return _result(event.id, "duplicate", "already_lent", message, loan,
                       borrower=_borrower_json(b, name, card.open_count))

    c = b.conn
    if plan.action == "backdate":
        assert open_loan is not None
        ended = c.execute(_NEXT_LENT, {"b_copy": copy.id, "b_at": at}).scalar() or open_loan.lent_at
        due = rules_mod.due_date(at, b.rules)
        loan_id = c.execute(_INSERT_LOAN, _loan_row(b, copy, card, point_id, at, due, event.id,
                                                    returned_at=ended, return_kind="implicit")).scalar_one()
        b.audit("circulation.loan", loan_id, point_id, event=event.id, copy=copy.code, card=card.code,
                backdated=True)
        message = (f"《{copy.title}》借给{name}的记录已补上；这本书后来又借给了{open_loan.borrower_name or '别人'}，"
                   "所以这次借阅记为已结束。")
        loan = _loan_json(b, loan_id=loan_id, copy=copy, borrower=name, card=card.code,
                          point=event.point, lent_at=at, due_at=due, returned_at=ended)
        return _finish(b, event, point_id, status="review", code="loan_before_later_loan",
                       message=message, loan_id=loan_id, reasons=reasons, loan=loan)

    code = "lent"
    previous: dict[str, Any] | None = None
    if plan.close_open:
        assert open_loan is not None
        c.execute(_CLOSE_LOAN, {"b_loan": open_loan.id, "b_at": at, "b_point": point_id, "b_by": b.actor_id,
                                "b_kind": "implicit", "b_event": event.id})
        b.audit("circulation.implicit_return", open_loan.id, point_id, event=event.id, copy=copy.code)
        code = "implicit_return"
        previous = {"id": open_loan.id, "borrower": {"name": open_loan.borrower_name}}
    loan_id = c.execute(_INSERT_LOAN, _loan_row(b, copy, card, point_id, at, plan.due_at, event.id)).scalar_one()
    c.execute(_COPY_STATE, {"b_copy": copy.id, "b_status": "on_loan", "b_point": point_id})
    b.audit("circulation.loan", loan_id, point_id, event=event.id, copy=copy.code, card=card.code)
    words = due_in_words(plan.due_at, b.now, b.tz)
    if previous is not None:
        message = (f"《{copy.title}》原来借给了{previous['borrower']['name'] or '别人'}，已先为其归还，"
                   f"现在借给{name}。应还日期：{words}。")
    else:
        message = f"《{copy.title}》已借给{name}。应还日期：{words}。"
    if plan.found:
        message += " 这本书原登记为遗失，现已找到。"
    if found_again(copy.status):  # stocktake hook (issue 18): lent, so no longer missing (now on_loan)
        message += " 这本书盘点时登记为缺失，现已找到。"
    loan = _loan_json(b, loan_id=loan_id, copy=copy, borrower=name, card=card.code, point=event.point,
                      lent_at=at, due_at=plan.due_at)
    return _finish(b, event, point_id, status="applied", code=code, message=message, loan_id=loan_id,
                   reasons=reasons, loan=loan, previous=previous,
                   borrower=_borrower_json(b, name, card.open_count + 1))


def _loan_row(b: _Batch, copy: CopyRow, card: CardRow, point_id: int, at: datetime, due: datetime | None,
              event_id: str, returned_at: datetime | None = None, return_kind: str = "") -> dict[str, Any]:
    return {
        "copy_id": copy.id, "title_id": copy.title_id, "borrower_id": card.borrower_id, "card_id": card.id,
        "point_id": point_id, "lent_by_id": b.actor_id, "lent_at": at, "lent_day": local_day(at, b.tz),
        "due_at": due, "renewals": 0,
        "returned_at": returned_at, "return_kind": return_kind, "event_id": event_id, "source": "scan",
        "outcome": "", **b.channel,  # KIOSK (issue 17)
    }


def _borrower_json(b: _Batch, name: str, open_count: int) -> dict[str, Any]:
    return {"name": name, "open_loans": open_count, "limit": b.rules.loan_limit,
            "remaining": rules_mod.remaining(open_count, b.rules)}


def _return(b: _Batch, event: Event, point_id: int, scan: Scan) -> dict[str, Any]:
    copy = scan.copy
    if copy is None:
        raise rules_mod.UnknownCopy()
    event = _settled(b, event, copy_created_at=copy.created_at)
    clock = event.clock
    open_loan = scan.open_loan
    at, _offline = _when(b, event, clock, open_loan)
    plan = rules_mod.plan_return(copy=copy.state(), open_loan=open_loan, at=at)
    reasons = list(plan.review) + ([clock] if clock else [])
    c = b.conn
    if plan.action == "not_on_loan":
        back = found_again(copy.status)  # stocktake hook (issue 18): a copy marked missing (缺失) is back
        if plan.set_available or back:
            c.execute(_COPY_STATE, {"b_copy": copy.id, "b_status": "available", "b_point": point_id})
        else:
            c.execute(_COPY_HERE, {"b_copy": copy.id, "b_point": point_id})
        message = f"《{copy.title}》没有借出，不用归还。要借出请先扫借阅证。"
        if plan.found:
            message = f"《{copy.title}》原登记为遗失，现已找到，已放回在架。"
        if back:  # stocktake hook (issue 18)
            message = f"《{copy.title}》盘点时登记为缺失，现已找到，已恢复在馆可借。"
        if plan.set_available:
            b.audit("circulation.return", "", point_id, event=event.id, copy=copy.code, not_on_loan=True)
        return _finish(b, event, point_id, status="applied", code="not_on_loan", message=message,
                       loan_id=None, reasons=reasons, loan=None)
    assert open_loan is not None
    if plan.action == "crosses_later_loan":
        message = (f"《{copy.title}》在这次归还之后又借给了{open_loan.borrower_name or '别人'}，"
                   "这次归还没有关闭那次借阅。")
        loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=open_loan.borrower_name, card=None,
                          point=event.point, lent_at=open_loan.lent_at, due_at=open_loan.due_at,
                          renewals=open_loan.renewals)
        return _finish(b, event, point_id, status="review", code="return_crosses_loan", message=message,
                       loan_id=open_loan.id, reasons=reasons, loan=loan)
    c.execute(_CLOSE_LOAN, {"b_loan": open_loan.id, "b_at": at, "b_point": point_id, "b_by": b.actor_id,
                            "b_kind": "normal", "b_event": event.id})
    c.execute(_COPY_STATE, {"b_copy": copy.id, "b_status": "available", "b_point": point_id})
    b.audit("circulation.return", open_loan.id, point_id, event=event.id, copy=copy.code)
    late = rules_mod.days_overdue(open_loan.due_at, at, b.tz)
    name = open_loan.borrower_name or "小读者"
    message = f"《{copy.title}》已归还（{name}借的）。"
    if late:
        message += f" 逾期了 {late} 天。"
    loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=name, card=None, point=event.point,
                      lent_at=open_loan.lent_at, due_at=open_loan.due_at, renewals=open_loan.renewals,
                      returned_at=at)
    return _finish(b, event, point_id, status="applied", code="returned", message=message,
                   loan_id=open_loan.id, reasons=reasons, loan=loan, days_overdue=late)


def _renew(b: _Batch, event: Event, point_id: int, scan: Scan) -> dict[str, Any]:
    copy = scan.copy
    if copy is None:
        raise rules_mod.UnknownCopy()
    event = _settled(b, event, copy_created_at=copy.created_at)
    clock = event.clock
    open_loan = scan.open_loan
    at, _offline = _when(b, event, clock, open_loan)
    plan = rules_mod.plan_renew(copy=copy.state(), open_loan=open_loan, at=at, rules=b.rules)
    assert open_loan is not None
    b.conn.execute(_RENEW, {"b_loan": open_loan.id, "b_due": plan.due_at, "b_renewals": plan.renewals})
    # the due date before it stays known: a past month's "overdue at its end" reads it
    b.conn.execute(_INSERT_RENEWAL, {"loan_id": open_loan.id, "renewed_at": at,
                                     "due_before": open_loan.due_at, "due_after": plan.due_at,
                                     "renewed_by_id": b.actor_id, "event_id": event.id})
    b.audit("circulation.renew", open_loan.id, point_id, event=event.id, copy=copy.code,
            old_due=_iso(open_loan.due_at), new_due=_iso(plan.due_at))
    message = f"《{copy.title}》已续借。应还日期：{due_in_words(plan.due_at, b.now, b.tz)}。"
    loan = _loan_json(b, loan_id=open_loan.id, copy=copy, borrower=open_loan.borrower_name, card=None,
                      point=event.point, lent_at=open_loan.lent_at, due_at=plan.due_at,
                      renewals=plan.renewals)
    return _finish(b, event, point_id, status="applied", code="renewed", message=message,
                   loan_id=open_loan.id, reasons=[clock] if clock else [], loan=loan)


# ---------------------------------------------------------------- undo

def undo_event(session: Session, actor: User, now: datetime, event_id: str,
               settings: LibrarySettings, ip: str = "") -> dict[str, Any]:
    """Undo a loan or return (a story mother's own, within the undo window). Flushes only."""
    from library_app.services.errors import NotFound

    rules = LoanRules.from_settings(settings)
    try:
        eid = ev_rules.event_id({"id": event_id})
    except RuleBroken as exc:
        raise NotFound("找不到这次操作。") from exc
    event = session.scalar(select(CirculationEvent).where(CirculationEvent.event_id == eid))
    if event is None:
        raise NotFound("找不到这次操作：它可能还在手机上等待同步。")
    rules_mod.check_undo(event_type=event.type, event_status=event.status, event_actor_id=event.actor_id,
                         received_at=event.received_at, undone_at=event.undone_at, actor_id=actor.id,
                         role=actor.role, now=now, rules=rules)
    if event.type == "loan":
        message = _undo_loan(session, event, now)
    else:
        message = _undo_return(session, event, now)
    event.undone_at = now
    for item in session.scalars(select(ReviewItem).where(ReviewItem.event_id == eid,
                                                         ReviewItem.resolved_at.is_(None))):
        item.resolved_at = now
        item.resolved_by_id = actor.id
        item.resolution = "操作已撤销"
    session.flush()
    session.add(AuditLog(at=now, actor_id=actor.id, action="circulation.undo", target_type="loan",
                         target_id=str(event.loan_id or ""), point_id=event.point_id, ip=ip,
                         details={"event": eid, "type": event.type}))
    session.flush()
    return {"event_id": eid, "undone": True, "message": message}


def _undo_loan(session: Session, event: CirculationEvent, now: datetime) -> str:
    loan = session.get(Loan, event.loan_id) if event.loan_id else None
    if loan is None or loan.event_id != event.event_id:
        raise rules_mod.NothingToUndo("这次扫描没有产生新的借阅，不需要撤销。")
    if loan.returned_at is not None or loan.undone_at is not None:
        raise rules_mod.UndoBlocked()
    copy = session.get(Copy, loan.copy_id) if loan.copy_id else None
    loan.returned_at = now
    loan.return_kind = "undo"
    loan.undone_at = now
    session.flush()  # close it before reopening the one it closed: one open loan per copy
    previous = session.scalar(select(Loan).where(Loan.return_event_id == event.event_id,
                                                 Loan.return_kind == "implicit"))
    title = session.scalar(select(Title.title).where(Title.id == loan.title_id)) or ""
    if previous is not None:
        _reopen(previous)
        session.flush()
        if copy is not None:
            copy.status = "on_loan"
        return f"已撤销：《{title}》的这次借出不算数，原来的借阅已恢复。"
    if copy is not None:
        copy.status = "available"
    return f"已撤销：《{title}》的这次借出不算数。"


def _undo_return(session: Session, event: CirculationEvent, now: datetime) -> str:
    loan = session.scalar(select(Loan).where(Loan.return_event_id == event.event_id,
                                             Loan.return_kind == "normal"))
    if loan is None:
        raise rules_mod.NothingToUndo("这次归还没有关闭任何借阅，不需要撤销。")
    if loan.copy_id is not None and session.scalar(
        select(Loan.id).where(Loan.copy_id == loan.copy_id, Loan.returned_at.is_(None))
    ):
        raise rules_mod.UndoBlocked()
    _reopen(loan)
    session.flush()
    copy = session.get(Copy, loan.copy_id) if loan.copy_id else None
    if copy is not None:
        copy.status = "on_loan"
    title = session.scalar(select(Title.title).where(Title.id == loan.title_id)) or ""
    return f"已撤销：《{title}》的归还不算数，仍在借出中。"


def _reopen(loan: Loan) -> None:
    loan.returned_at = None
    loan.return_point_id = None
    loan.returned_by_id = None
    loan.return_kind = ""
    loan.return_event_id = None


# ---------------------------------------------------------------- look-ups for the scan screen

def card_summary(session: Session, actor: User, now: datetime, code: str, settings: LibrarySettings,
                 ip: str = "") -> dict[str, Any]:
    """A card as the scan screen shows it: the child, open loans, how many more allowed.

    Refusals that a lend would meet (revoked, unbound, suspended) come back in ``refusal``.
    Data scope (``services.scope``): a child the actor may see in full is shown and the view
    logged; a child of another point comes back masked (王*明, no id, no home point, open loans
    as copy codes and due dates without titles), so a visiting child can still borrow.
    """
    from . import scope

    rules = LoanRules.from_settings(settings)
    row = session.execute(
        select(Card.code, Card.status, Borrower.id, Borrower.name, Borrower.status, Point.code, Point.id)
        .outerjoin(Borrower, Borrower.id == Card.borrower_id)
        .outerjoin(Point, Point.id == Borrower.home_point_id)
        .where(Card.code == code)
    ).first()
    if row is None:
        raise rules_mod.UnknownCard()
    card_code, status, borrower_id, name, borrower_status, home, home_id = row
    seen = None
    if borrower_id is not None and status != "revoked":
        seen = scope.see(session, actor, now, borrower_id=borrower_id, name=name, home_point=home,
                         home_point_id=home_id, via="scan", ip=ip)
        name = seen.name
    refusal: dict[str, str] | None = None
    try:
        rules_mod.check_card(CardState(code=card_code, status=status, borrower_id=borrower_id,
                                       borrower_status=borrower_status or "active", borrower_name=name or ""),
                             rules_mod.Verdict(offline=False))
    except RuleBroken as exc:
        refusal = {"code": exc.code, "message": exc.message}
    loans = open_loans_of(session, borrower_id, now, rules) if borrower_id and status != "revoked" else []
    borrower: dict[str, Any] | None = None
    if seen is not None and seen.full:
        borrower = {"id": borrower_id, "name": name, "point": home, "status": borrower_status}
    elif seen is not None and seen.level == scope.MASKED:
        borrower = {"id": None, "name": name, "point": None, "status": borrower_status, "masked": True}
        loans = [{**loan, "id": None, "title": ""} for loan in loans]
    body: dict[str, Any] = {
        "code": card_code, "status": status, "borrower": borrower,
        "loans": loans, "open_loans": len(loans), "limit": rules.loan_limit,
        "remaining": rules_mod.remaining(len(loans), rules), "refusal": refusal,
    }
    if refusal is None and len(loans) >= rules.loan_limit:
        body["refusal"] = {"code": "limit_reached",
                           "message": f"{name}已借 {len(loans)} 本，达到上限 {rules.loan_limit} 本：请先归还一本再借。"}
    return body


def open_loans_of(session: Session, borrower_id: int, now: datetime, rules: LoanRules) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Loan.id, Copy.code, Title.title, Loan.lent_at, Loan.due_at, Loan.renewals)
        .join(Copy, Copy.id == Loan.copy_id).join(Title, Title.id == Copy.title_id)
        .where(Loan.borrower_id == borrower_id, Loan.returned_at.is_(None))
        .order_by(Loan.lent_at)
    ).all()
    return [{
        "id": r[0], "copy": r[1], "title": r[2], "lent_at": _iso(r[3]), "due_at": _iso(r[4]),
        "due_text": due_in_words(r[4], now, rules.tz), "renewals": r[5],
        "overdue": rules_mod.days_overdue(r[4], now, rules.tz),
        "can_renew": r[5] < rules.max_renewals,
    } for r in rows]


def copy_summary(session: Session, actor: User, now: datetime, code: str, settings: LibrarySettings,
                 ip: str = "") -> dict[str, Any]:
    """A copy as the scan screen shows it, with its open loan. The holder is shown through
    ``services.scope``: in full (and logged) to staff and to a story mother of the child's point;
    else masked, without the card."""
    from . import scope

    rules = LoanRules.from_settings(settings)
    row = session.execute(
        select(Copy.id, Copy.code, Copy.status, Title.title, Point.code)
        .join(Title, Title.id == Copy.title_id).join(Point, Point.id == Copy.current_point_id)
        .where(Copy.code == code)
    ).first()
    if row is None:
        raise rules_mod.UnknownCopy()
    home = _points.alias("home")
    loan = session.execute(
        select(Loan.id, Borrower.name, Card.code, Loan.lent_at, Loan.due_at, Borrower.id,
               home.c.code, home.c.id)
        .outerjoin(Borrower, Borrower.id == Loan.borrower_id).outerjoin(Card, Card.id == Loan.card_id)
        .outerjoin(home, home.c.id == Borrower.home_point_id)
        .where(Loan.copy_id == row[0], Loan.returned_at.is_(None))
    ).first()
    holder: dict[str, Any] | None = None
    if loan is not None and loan[5] is not None:
        seen = scope.see(session, actor, now, borrower_id=loan[5], name=loan[1], home_point=loan[6],
                         home_point_id=loan[7], via="scan_copy", ip=ip)
        if seen.level != scope.NONE:
            holder = {"name": seen.name, "card": loan[2] if seen.full else None}
            if not seen.full:
                holder["masked"] = True
    return {
        "code": row[1], "status": row[2], "title": row[3], "point": row[4],
        "loan": None if loan is None else {
            "id": loan[0], "borrower": holder, "lent_at": _iso(loan[3]),
            "due_at": _iso(loan[4]), "due_text": due_in_words(loan[4], now, rules.tz),
        },
    }


# ---------------------------------------------------------------- librarian corrections

def mark_loan_outcome(session: Session, actor: User, now: datetime, loan_id: int, outcome: str,
                      ip: str = "") -> Loan:
    """Close an open loan because its copy is lost (not back) or damaged (back, not lendable)."""
    from library_app.services.errors import Invalid, NotFound

    if outcome not in ("lost", "damaged"):
        raise Invalid("只能标记为遗失或损坏。")
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound("找不到这条借阅记录。")
    if loan.returned_at is not None:
        raise Invalid("这条借阅已经结束，不能再标记。")
    loan.returned_at = now
    loan.returned_by_id = actor.id
    loan.return_kind = "lost" if outcome == "lost" else "normal"
    loan.outcome = outcome
    if loan.copy_id is not None:
        session.execute(update(Copy).where(Copy.id == loan.copy_id).values(status=outcome))
    session.flush()
    session.add(AuditLog(at=now, actor_id=actor.id, action=f"circulation.mark_{outcome}",
                         target_type="loan", target_id=str(loan.id), point_id=loan.point_id, ip=ip,
                         details={"copy_id": loan.copy_id}))
    session.flush()
    return loan


REVIEW_ACTIONS = {"accept": "确认无误", "return_now": "按现在归还", "cancel_loan": "撤销这次借出"}


def resolve_review(session: Session, actor: User, now: datetime, item_id: int, action: str,
                   note: str = "", ip: str = "") -> ReviewItem:
    """Close a review item: accept what was applied, or correct the loan it is about."""
    from library_app.services.errors import Invalid, NotFound

    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound("找不到这条待复核记录。")
    if item.resolved_at is not None:
        raise Invalid("这条记录已经处理过了。")
    if action not in REVIEW_ACTIONS:
        raise Invalid("请选择一种处理方式。")
    loan = session.get(Loan, item.loan_id) if item.loan_id else None
    if action in ("return_now", "cancel_loan"):
        if loan is None or loan.returned_at is not None:
            raise Invalid("这条借阅已经结束，只能“确认无误”。")
        loan.returned_at = now
        loan.returned_by_id = actor.id
        loan.return_kind = "normal" if action == "return_now" else "undo"
        if action == "cancel_loan":
            loan.undone_at = now
        if loan.copy_id is not None:
            session.execute(update(Copy).where(Copy.id == loan.copy_id).values(status="available"))
    item.resolved_at = now
    item.resolved_by_id = actor.id
    item.resolution = REVIEW_ACTIONS[action] + (f"：{note.strip()[:500]}" if note.strip() else "")
    session.flush()
    session.add(AuditLog(at=now, actor_id=actor.id, action="circulation.review", target_type="review",
                         target_id=str(item.id), point_id=item.point_id, ip=ip,
                         details={"action": action, "loan_id": item.loan_id, "event": item.event_id}))
    session.flush()
    return item


def overdue_filter(now: datetime) -> Any:
    return and_(Loan.returned_at.is_(None), Loan.due_at < now)


__all__ = ["apply_events", "undo_event", "card_summary", "copy_summary", "mark_loan_outcome",
           "resolve_review", "date_in_words"]
