from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from library_app.access import ALL_ROLES, STAFF, roles
from library_app.db import get_session
from library_app.models import Point
from library_app.services import points as points_service
from library_app.web import utcnow

from . import bp
from .util import json_body


def point_json(p: Point) -> dict[str, object]:
    return {"code": p.code, "name": p.name, "address": p.address, "active": p.active}


@bp.get("/points")
@roles(*ALL_ROLES)
def list_points():
    return jsonify(points=[point_json(p) for p in points_service.list_points(get_session())])


@bp.post("/points")
@roles(*STAFF)
def create_point():
    data = json_body()
    point = points_service.create_point(
        get_session(), current_user, utcnow(), code=str(data.get("code") or ""),
        name=str(data.get("name") or ""), address=str(data.get("address") or ""),
    )
    return jsonify(point_json(point)), 201
