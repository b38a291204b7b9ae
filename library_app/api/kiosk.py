"""Self-service corner API (shared/spec/api.md "Self-service corner").

Staff: create (with a one-time enrol code), list and revoke kiosks. The device: trade the code
for its token (no login), then with that token look up a card and undo its own last loan;
lending and returning go through ``POST /circulation/events`` (also marked for kiosks).
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from library_app.access import LIBRARIANS, kiosk_route, personal_data, public, roles, writes
from library_app.auth import throttle
from library_app.db import commit_now, get_session
from library_app.domain import kiosk as rules
from library_app.domain.accounts import wait_message
from library_app.domain.codes import parse_code
from library_app.domain.errors import RuleBroken
from library_app.security import csrf_exempt
from library_app.services import kiosk as service
from library_app.services import kiosk_offline
from library_app.services.errors import NotFound
from library_app.web import current_settings, json_error, utcnow

from . import bp
from .util import json_body


def _iso(value):
    return value.isoformat() if value is not None else None


def kiosk_json(k, now):
    return {"id": k.id, "name": k.name, "point": k.point.code, "state": k.state,
            "created_at": _iso(k.created_at), "enrolled_at": _iso(k.enrolled_at),
            "revoked_at": _iso(k.revoked_at), "last_seen_at": _iso(k.last_seen_at),
            "long_unused": service.long_unused(k, now)}


@bp.post("/kiosks")
@roles(*LIBRARIANS)
def create_kiosk():
    data = json_body()
    kiosk, code = service.create_kiosk(get_session(), current_user, utcnow(), name=data.get("name"),
                                       point_code=data.get("point"))
    return jsonify(id=kiosk.id, enrol_code=code, expires_at=_iso(kiosk.enrol_expires_at)), 201


@bp.get("/kiosks")
@roles(*LIBRARIANS)
def list_kiosks():
    now = utcnow()
    return jsonify(kiosks=[kiosk_json(k, now) for k in service.list_kiosks(get_session(), current_user)])


@bp.delete("/kiosks/<int:kiosk_id>")
@roles(*LIBRARIANS)
def revoke_kiosk(kiosk_id: int):
    db = get_session()
    service.revoke(db, current_user, utcnow(), service.get_kiosk(db, kiosk_id))
    return "", 204


@bp.post("/kiosk/enrol")
@public
@kiosk_route
@csrf_exempt
def enrol_kiosk():
    data = json_body()
    # Each try counts against this address until it succeeds (KIOSK_ENROL_ADDRESS_LIMITS): a few
    # wrong codes, then 429. Counted and committed before the code is looked up.
    wait = throttle.address_attempt("kiosk_enrol", "KIOSK_ENROL_ADDRESS_LIMITS")
    if wait:
        response, status = json_error(429, "too_many_requests",
                                      wait_message(wait) + "请向图书管理员核对登记码。")
        response.headers["Retry-After"] = str(wait)
        return response, status
    db = get_session()
    kiosk, token = service.enrol(db, utcnow(), data.get("enrol_code"), ip=request.remote_addr or "")
    throttle.address_known("kiosk_enrol", "KIOSK_ENROL_ADDRESS_LIMITS")  # a right code: no guess
    return jsonify(token=token, point=kiosk.point.code, point_name=kiosk.point.name, name=kiosk.name)


@bp.get("/kiosk/me")
@kiosk_route
def kiosk_me():
    """The signed-in kiosk: the screen asks on start and so learns when it has been revoked."""
    p = current_user
    return jsonify(name=p.name, point=p.point_code, point_name=p.point_name,
                   idle_seconds=current_app.config.get("KIOSK_IDLE_SECONDS", 60),
                   undo_seconds=current_app.config.get("KIOSK_UNDO_SECONDS", 10))


@bp.get("/kiosk/cards/<code>")
@kiosk_route
@writes  # counts unknown cards and logs the view of a child's data
@personal_data
def kiosk_card(code: str):
    db = get_session()
    now = utcnow()
    try:
        card_code = parse_code(code, expect="card").code
    except RuleBroken:
        card_code = ""  # counted as an unknown card like any other
    try:
        body = service.card_for_kiosk(db, current_user, now, card_code,
                                      current_settings(), ip=request.remote_addr or "")
    except rules.TooManyTries as exc:  # a 429: nothing of it is saved
        response, status = json_error(exc.status, exc.code, exc.message, **exc.details)
        response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return response, status
    except NotFound:
        commit_now("the count of unknown cards stays, though the answer is 404")
        raise
    return jsonify(body)


@bp.get("/kiosk/offline-cache")
@kiosk_route
@writes  # logs the download (children's given names)
@personal_data
def kiosk_offline_cache():
    """This kiosk's point only: its self-service children (given names) and copies (titles)."""
    db = get_session()
    body = kiosk_offline.offline_cache(db, current_user, utcnow(), current_settings(),
                                       ip=request.remote_addr or "")
    return jsonify(body)


@bp.post("/kiosk/undo")
@kiosk_route
def kiosk_undo():
    data = json_body()
    db = get_session()
    result = service.undo(db, current_user, utcnow(), str(data.get("event_id") or ""),
                          current_settings(), ip=request.remote_addr or "")
    return jsonify(result)
