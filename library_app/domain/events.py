"""Circulation events as clients send them: validation, identity, order and clock sanity.

An event is ``{"id": uuid, "type": "loan|return|renew", "copy", "card" (loan only), "point",
"at": ISO 8601 with offset (the device's time)}``. The id makes retries safe; the payload
hash tells a retry (same payload) from a client bug (same id, different payload).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
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


class InvalidEvent(RuleBroken):
    code = "invalid_event"
    message = "事件格式不对。"


class BadEventId(InvalidEvent):
    code = "invalid_event_id"
    message = "事件缺少有效的编号（UUID）。"


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
    at: datetime  # aware
    payload_hash: str
    offline: bool | None = None  # the client's own word, when it gives it
    raw_copy: str = ""
    raw_card: str = ""
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


def parse_time(value: Any, tz: ZoneInfo) -> datetime:
    """ISO 8601; a time without offset is read as the organisation's local time."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent("事件缺少时间（at），需要 ISO 8601 格式，例如 2026-11-29T10:15:00+08:00。")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEvent("事件时间格式不对，需要 ISO 8601，例如 2026-11-29T10:15:00+08:00。") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when


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
    return Event(id=eid, type=kind, copy=copy, card=card, point=point, at=at,
                 payload_hash=payload_hash(raw), offline=offline if isinstance(offline, bool) else None,
                 raw_copy=raw_copy, raw_card=raw_card, if_on_loan_elsewhere=elsewhere or "")


def apply_order(events: list[tuple[int, Event]]) -> list[tuple[int, Event]]:
    """Events in the order they happened (device time), per point; ties keep the order sent."""
    return sorted(events, key=lambda pair: (pair[1].at, pair[0]))


def is_offline(event: Event, received_at: datetime) -> bool:
    if event.offline is not None:
        return event.offline
    return received_at - event.at > OFFLINE_AFTER


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
