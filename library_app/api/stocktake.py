"""Stocktake API (shared/spec/api.md "Stocktake").

Scans are the busy request (several phones at once): like circulation events they run in the
short write transaction of ``circulation.txn.write`` (group commit on SQLite, retried deadlock
victims on PostgreSQL), with the signed-in user read as one plain row outside it.
"""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from library_app.access import CIRCULATION, LIBRARIANS, lean_actor, roles
from library_app.circulation import txn
from library_app.db import commit_now, get_session
from library_app.services import stocktake as service

from . import bp
from .util import json_body


@bp.post("/stocktakes")
@roles(*LIBRARIANS)
def stocktake_open():
    from library_app.web import utcnow

    data = json_body()
    stocktake = service.open_stocktake(get_session(), current_user, utcnow(), str(data.get("point") or ""),
                                       ip=request.remote_addr or "")
    body = {"id": stocktake.id, "point": str(data.get("point") or "").strip().upper(), "status": stocktake.status,
            "expected": stocktake.expected}
    return jsonify(body), 201


@bp.post("/stocktakes/<int:stocktake_id>/scans")
@roles(*CIRCULATION)
@lean_actor  # the user on a connection of its own; the scans go through txn.write
def stocktake_scans(stocktake_id: int):
    data = json_body()
    scans = data.get("scans")
    actor = current_user._get_current_object()
    commit_now("the reads end before txn.write waits its turn")
    results = txn.write(lambda db, now: service.record_scans(db, actor, now, stocktake_id, scans))
    return jsonify(results=results)


@bp.get("/stocktakes/<int:stocktake_id>")
@roles(*CIRCULATION)
def stocktake_get(stocktake_id: int):
    db = get_session()
    service.check_view(db, current_user, service.get_stocktake(db, stocktake_id))
    return jsonify(service.summary(db, stocktake_id))


@bp.post("/stocktakes/<int:stocktake_id>/close")
@roles(*LIBRARIANS)
def stocktake_close(stocktake_id: int):
    from library_app.web import utcnow

    body = service.close_stocktake(get_session(), current_user, utcnow(), stocktake_id,
                                   ip=request.remote_addr or "")
    return jsonify(body)
