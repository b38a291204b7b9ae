"""``apply_events``: a batch of client events, each applied once, in the order they happened
(see the package's docstring for the locking and SAVEPOINT story)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from library_app.domain import events as ev_rules
from library_app.domain import loans as rules_mod
from library_app.domain.errors import RuleBroken
from library_app.domain.events import Event
from library_app.domain.settings import LibrarySettings
from library_app.models import User
from library_app.services import kiosk as kiosk_service  # KIOSK (issue 17)

from .actions import _loan, _renew, _result, _return
from .batch import BatchOutcome, _Batch
from .statements import _CARD_BOUND, _COPY_BORN, _KNOWN, _KNOWN_ONE

RETRIES = 3


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
        event = parsed[i]  # its hash was taken when it was parsed; a malformed one's is taken here
        digest = event.payload_hash if isinstance(event, Event) else ev_rules.payload_hash(raw)
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
        if isinstance(event, Event):
            todo.append((i, event))
            continue
        refused: RuleBroken = event

        def rejected(exc: RuleBroken = refused, eid: str = eid, raw: Any = raw, digest: str = digest) -> dict[str, Any]:
            b.store(None, event_id=eid, status="rejected", code=exc.code, message=exc.message,
                    raw=raw, payload_hash=digest)
            return _result(eid, "rejected", exc.code, exc.message)

        results[i] = _once(b, eid, digest, rejected)
    for i, event in ev_rules.apply_order(todo):
        results[i] = _once(b, event.id, event.payload_hash, partial(_apply, b, event))
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
    return {r.event_id: {"payload_hash": r.payload_hash, "status": r.status, "code": r.code,
                         "message": r.message, "loan_id": r.loan_id}
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
    kiosk_review: list[str] = []
    try:
        if b.kiosk is not None:  # KIOSK (issue 17): its own point, and its loan rules
            offline = ev_rules.is_offline(event, b.now)
            kiosk_review = kiosk_service.check_kiosk_event(
                b.conn, b.kiosk, event_type=event.type, event_point_id=point[0] if point else None,
                card_code=event.card, now=event.at if offline else b.now, settings=b.settings,
                offline=offline)
        rules_mod.check_point(role=b.role, point_id=point[0] if point else None,
                              point_active=point[1] if point else False,
                              my_point_ids=(frozenset({point[0]}) if point and (point[2] or b.kiosk)
                                            else frozenset()),  # KIOSK: its point, checked above
                              point_code=event.point)
    except RuleBroken as exc:
        return _refused(b, event, exc, point[0] if point else None, stored_point=None)
    assert point is not None
    point_id = point[0]
    try:
        if event.type == "loan":
            return _loan(b, event, point_id, scan, also_review=kiosk_review)
        if event.type == "return":
            return _return(b, event, point_id, scan)
        return _renew(b, event, point_id, scan)
    except RuleBroken as exc:
        return _refused(b, event, exc, point_id, stored_point=point_id)


def _refused(b: _Batch, event: Event, exc: RuleBroken, point_id: int | None, *,
             stored_point: int | None) -> dict[str, Any]:
    """A refused event, stored as such. KIOSK (issue 17): a loan a kiosk recorded offline has
    happened all the same (the child went home with the book and no one watched the screen at
    sync), so besides the refusal a review item asks a librarian to find the book."""
    message = exc.message
    if (b.kiosk is not None and event.type == "loan" and point_id is not None
            and ev_rules.is_offline(event, b.now)):
        message += " " + b.review(event, ["kiosk_refused"], None, point_id, refusal=exc.code,
                                  refusal_message=exc.message) + "。"
    b.store(event, event_id=event.id, status="rejected", code=exc.code, message=message,
            point_id=stored_point)
    return _result(event.id, "rejected", exc.code, message)
