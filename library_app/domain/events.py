"""Circulation events as clients send them: validation, identity, order and clock sanity.

An event is ``{"id": uuid, "type": "loan|return|renew", "copy", "card" (loan only), "point",
"at": ISO 8601 with offset (the device's time)}``. The id makes retries safe; the payload
hash tells a retry (same payload) from a client bug (same id, different payload).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .codes import parse_code
from .errors import RuleBroken

EVENT_TYPES = ("loan", "return", "renew")
MAX_BATCH = 500
# A device clock ahead of the server by more than this is wrong, not just a bit fast.
FUTURE_TOLERANCE = timedelta(minutes=5)
# An event that reaches the server this long after it happened was recorded offline.
OFFLINE_AFTER = timedelta(minutes=2)
# Small clock differences between phones and server are normal.
CLOCK_SLACK = timedelta(minutes=5)
# The oldest an honest offline event can be when it reaches the server: a phone keeps its
# answered events 30 days (static/js/outbox.js), and a reading point offline for a whole term
# break syncs within about two months. A device time older than this is a clock that was reset
# (2001-01-01, 1970-01-01 …), not a phone that was offline.
MAX_DEVICE_AGE = timedelta(days=60)


class InvalidEvent(RuleBroken):
    code = "invalid_event"
    message = "事件格式不对。"


class BadEventId(InvalidEvent):
    code = "invalid_event_id"
    message = "事件缺少有效的编号（UUID）。"


class BadTime(InvalidEvent):
    code = "bad_time"
    message = "事件时间格式不对，需要 ISO 8601，例如 2026-11-29T10:15:00+08:00。"


class EventIdReused(RuleBroken):
    code = "event_id_reused"
    message = "同一个事件编号已用于内容不同的另一个事件，已拒绝：请刷新页面后重新扫描。"
    status = 422


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    copy: str
    card: str | None
    point: str
    at: datetime  # aware, UTC: the time the event is ordered and recorded by
    payload_hash: str
    offline: bool | None = None  # the client's own word, when it gives it
    raw_copy: str = ""
    raw_card: str = ""
    device_at: str = ""  # the device's time as it read (ISO 8601), kept for a librarian
    device_time: datetime | None = None  # the same, parsed (UTC); ``at`` once settled may differ
    clock: str | None = None  # why the device's time was not used (``device_clock``), or None
    # a loan of a copy on loan to another borrower: "" closes that loan and lends (the implicit
    # return); "return_only" (an online scan, the story mother not asked yet) only closes it
    if_on_loan_elsewhere: str = ""


def event_id(raw: Any) -> str:
    """The event's UUID in canonical form, or BadEventId."""
    if not isinstance(raw, dict):
        raise BadEventId("每个事件必须是一个 JSON 对象。")
    value = raw.get("id")
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadEventId() from exc


def payload_hash(raw: dict[str, Any]) -> str:
    """SHA-256 of what the event says (not how it travelled)."""
    keys = ("type", "copy", "card", "point", "at")
    canonical = {k: (str(raw.get(k)).strip() if raw.get(k) is not None else None) for k in keys}
    if raw.get("if_on_loan_elsewhere") is not None:  # only when given: older events keep their hash
        canonical["if_on_loan_elsewhere"] = str(raw.get("if_on_loan_elsewhere")).strip()
    canonical["type"] = (canonical["type"] or "").lower()
    canonical["point"] = (canonical["point"] or "").upper()
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


# Stand-ins, in UTC, for a device time that is a valid ISO 8601 text but outside what a
# datetime in UTC can hold (0001-01-01T00:00:00 read at +08:00 is in year 0).
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def parse_time(value: Any, tz: ZoneInfo) -> datetime:
    """ISO 8601 → an aware datetime in UTC; a time without offset is the organisation's local time.

    Not a time at all → ``BadTime``. A real date and time beyond the ends of the calendar once
    moved to UTC (year 1 at +08:00, 9999-12-31T23:59 at −05:00) comes back as the earliest or
    latest time there is, so that ``device_clock`` calls it impossible instead of arithmetic
    on it overflowing.
    """
    if not isinstance(value, str) or not value.strip():
        raise BadTime("事件缺少时间（at），需要 ISO 8601 格式，例如 2026-11-29T10:15:00+08:00。")
    text = value.strip()
    if len(text) > 64:
        raise BadTime()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadTime() from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if when.year < 2 else _LATEST


def device_clock(at: datetime, now: datetime, *, card_bound_at: datetime | None = None,
                 copy_created_at: datetime | None = None) -> str | None:
    """Whether a device time can be when an event happened, judged against the server's ``now``
    (and, when known, the card's binding and the copy's registration).

    ``None``: plausible. Otherwise the most telling reason it cannot be: ``clock_future``
    (more than ``FUTURE_TOLERANCE`` ahead of the server: nothing happens in the future),
    ``clock_before_card`` / ``clock_before_copy`` (see ``clock_problem``), ``clock_past``
    (older than ``MAX_DEVICE_AGE``: no honest offline event waits that long, the phone's clock
    was reset). The limits themselves are plausible: exactly five minutes ahead, or exactly
    sixty days old.
    """
    reason = clock_problem(at, now, card_bound_at=card_bound_at, copy_created_at=copy_created_at)
    if reason is None and at < now - MAX_DEVICE_AGE:
        reason = "clock_past"
    return reason


def settle_clock(event: Event, now: datetime, *, card_bound_at: datetime | None = None,
                 copy_created_at: datetime | None = None) -> Event:
    """The event with the time it is ordered and recorded by.

    A plausible device time is kept. An impossible one says nothing about when, or in which
    order, things happened: the event takes the server's receive time ``now`` (so a batch's
    impossible events come after its plausible ones, in the order sent), keeps the device's
    reading in ``device_at`` / ``device_time`` for the librarian, and carries the reason in
    ``clock``, which sends it to review. Settling again with more facts (the card's binding,
    the copy's registration) can only find more wrong, never less.
    """
    device = event.device_time or event.at
    reason = device_clock(device, now, card_bound_at=card_bound_at, copy_created_at=copy_created_at)
    if reason is None:
        return event
    return replace(event, at=now, clock=reason)


def parse_event(raw: dict[str, Any], tz: ZoneInfo) -> Event:
    """Validate one event (after ``event_id`` succeeded). Code errors keep their own codes."""
    eid = event_id(raw)
    kind = str(raw.get("type") or "").strip().lower()
    if kind not in EVENT_TYPES:
        raise InvalidEvent("事件类型只能是 loan（借出）、return（归还）或 renew（续借）。")
    point = str(raw.get("point") or "").strip().upper()
    if not point:
        raise InvalidEvent("事件缺少阅读点（point）。")
    at = parse_time(raw.get("at"), tz)
    raw_copy = str(raw.get("copy") or "")
    if not raw_copy.strip():
        raise InvalidEvent("事件缺少图书编码（copy）。")
    copy = parse_code(raw_copy, expect="copy").code
    card: str | None = None
    raw_card = str(raw.get("card") or "")
    if kind == "loan":
        if not raw_card.strip():
            raise InvalidEvent("借出需要借阅证编码（card）：请先扫借阅证。")
        card = parse_code(raw_card, expect="card").code
    elsewhere = raw.get("if_on_loan_elsewhere")
    if elsewhere not in (None, "", "return_only") or (elsewhere and kind != "loan"):
        raise InvalidEvent("if_on_loan_elsewhere 只能用于借出，取值只能是 return_only（只归还，不借出）。")
    offline = raw.get("offline")
    device_at = at.isoformat() if _EARLIEST < at < _LATEST else str(raw.get("at")).strip()
    return Event(id=eid, type=kind, copy=copy, card=card, point=point, at=at,
                 payload_hash=payload_hash(raw), offline=offline if isinstance(offline, bool) else None,
                 raw_copy=raw_copy, raw_card=raw_card, device_at=device_at, device_time=at,
                 if_on_loan_elsewhere=elsewhere or "")


def apply_order(events: list[tuple[int, Event]]) -> list[tuple[int, Event]]:
    """Events in the order they happened (``at``: the device's time once settled by
    ``settle_clock``); ties keep the order sent."""
    return sorted(events, key=lambda pair: (pair[1].at, pair[0]))


def is_offline(event: Event, received_at: datetime) -> bool:
    """The client's word, else whether the device's own reading is minutes old: a phone whose
    clock reads 2001 recorded the event offline (even though it is settled at the server's
    time), so what is unsafe about it goes to review instead of being refused."""
    if event.offline is not None:
        return event.offline
    return received_at - (event.device_time or event.at) > OFFLINE_AFTER


def clock_problem(at: datetime, received_at: datetime, *, card_bound_at: datetime | None = None,
                  copy_created_at: datetime | None = None) -> str | None:
    """Why a device time cannot be true, or None.

    Ahead of the server by minutes, or before the card was bound or the copy existed: the
    phone's clock is wrong, and the event must not rewrite history at that time.
    """
    if at > received_at + FUTURE_TOLERANCE:
        return "clock_future"
    if card_bound_at is not None and at < card_bound_at - CLOCK_SLACK:
        return "clock_before_card"
    if copy_created_at is not None and at < copy_created_at - CLOCK_SLACK:
        return "clock_before_copy"
    return None
