"""Circulation API: one endpoint for online scans and offline syncs (shared/spec/api.md).

``POST /circulation/events`` is the busiest request of the app. The signed-in user is loaded
as one plain row on a connection of its own (``access.lean_actor``, ``db.read_alone``), and the
events are applied in the short write transaction of ``circulation.txn.write``, which on
SQLite groups the writes that queue at the same moment into one commit; the settings are read
there, once per group (``services.settings.settings_in``). The request has no session of its
own unless the signed-in session's last-seen time is due a touch.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from library_app.access import (
    CIRCULATION,
    kiosk_route,
    lean_actor,
    personal_data,
    roles,
    writes,
)
from library_app.circulation import txn
from library_app.db import commit_now, get_session
from library_app.domain.codes import parse_code
from library_app.domain.events import MAX_BATCH
from library_app.services import circulation as service
from library_app.services import kiosk as kiosk_service
from library_app.services.errors import Invalid
from library_app.services.settings import settings_in
from library_app.web import current_settings, json_error, utcnow

from . import bp
from .util import json_body


@bp.post("/circulation/events")
@roles(*CIRCULATION)
@kiosk_route  # a self-service kiosk lends and returns here too (services.kiosk.check_kiosk_event)
@lean_actor
def circulation_events():
    data = json_body()
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise Invalid("请求需要 events 列表，至少一个事件。")
    if len(events) > MAX_BATCH:
        raise Invalid(f"一次最多发送 {MAX_BATCH} 个事件，请分批同步。")
    actor = current_user._get_current_object()
    config, ip = current_app.config, request.remote_addr or ""
    # A touch of the signed-in session or kiosk (rare) is the only thing in the request's own
    # session; the settings are read in the write's transaction, once per group.
    commit_now("the reads end before txn.write waits its turn")
    outcome = txn.write(lambda db, now: service.apply_events(db, actor, now, events, settings_in(db, config), ip=ip))
    if kiosk_service.kiosk_of(actor) is not None:  # a kiosk is told given names only
        outcome.results = kiosk_service.redact_results(outcome.results)
    if outcome.reused_ids:
        # Same id, different payload (trust.md): 422. The other events were applied and their
        # results are here too, so a client never loses them.
        response, status = json_error(
            422, "event_id_reused",
            "有事件编号被重复用于不同的内容，这些事件已被拒绝；其他事件已处理。", ids=outcome.reused_ids)
        body = response.get_json()
        body["results"] = outcome.results
        return jsonify(body), status
    return jsonify(results=outcome.results)


@bp.post("/circulation/undo")
@roles(*CIRCULATION)
def circulation_undo():
    data = json_body()
    db = get_session()
    settings = current_settings()
    result = service.undo_event(db, current_user, utcnow(), str(data.get("event_id") or ""), settings,
                                ip=request.remote_addr or "")
    return jsonify(result)


@bp.get("/circulation/cards/<code>")
@roles(*CIRCULATION)
@writes
@personal_data
def circulation_card(code: str):
    """The card's child through the data scope (services.scope): own children in full, the view
    logged; another point's child masked."""
    db = get_session()
    parsed = parse_code(code, expect="card")
    body = service.card_summary(db, current_user, utcnow(), parsed.code, current_settings(),
                                ip=request.remote_addr or "")
    return jsonify(body)


@bp.get("/circulation/copies/<code>")
@roles(*CIRCULATION)
@writes
@personal_data
def circulation_copy(code: str):
    db = get_session()
    parsed = parse_code(code, expect="copy")
    body = service.copy_summary(db, current_user, utcnow(), parsed.code, current_settings(),
                                ip=request.remote_addr or "")
    return jsonify(body)
