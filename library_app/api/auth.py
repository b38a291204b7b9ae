from __future__ import annotations

from flask import current_app, jsonify

from library_app.access import public
from library_app.auth import throttle
from library_app.db import get_session
from library_app.domain.accounts import wait_message
from library_app.security import csrf_exempt
from library_app.services import audit, users
from library_app.web import json_error, utcnow

from . import bp
from .util import json_body


@bp.post("/auth/token")
@public
@csrf_exempt
def token():
    data = json_body()
    db = get_session()
    name = str(data.get("username") or "")
    wait = throttle.attempt(name)  # the same count as the page login's
    if wait:
        response, status = json_error(429, "too_many_requests", wait_message(wait), retry_after=wait)
        response.headers["Retry-After"] = str(wait)
        return response, status
    user = users.authenticate(db, name, str(data.get("password") or ""))
    if user is None:
        return json_error(401, "bad_credentials", "用户名或密码不正确。")
    throttle.passed(name)
    now = utcnow()
    raw, row = users.issue_token(db, user, now, current_app.config["API_TOKEN_HOURS"])
    audit.record(db, user, now, "auth.token", "user", user.id)
    return jsonify(
        token=raw,
        expires_at=row.expires_at.isoformat(),
        user={"username": user.username, "role": user.role, "points": user.point_codes()},
    )
