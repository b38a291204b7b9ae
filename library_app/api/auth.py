from __future__ import annotations

from flask import current_app, jsonify

from library_app.access import public
from library_app.db import commit, get_session
from library_app.extensions import limiter
from library_app.security import csrf_exempt
from library_app.services import audit, users
from library_app.web import json_error, utcnow

from . import bp
from .util import json_body


def _username() -> str:
    from flask import request

    data = request.get_json(silent=True)
    name = data.get("username") if isinstance(data, dict) else None
    return str(name or "-").strip().lower()


def _failed(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 401


def _limits() -> str:
    return current_app.config["LOGIN_LIMITS"]


@bp.post("/auth/token")
@public
@csrf_exempt
@limiter.limit(_limits, key_func=_username, deduct_when=_failed, scope="token-user")
@limiter.limit(_limits, deduct_when=_failed, scope="token-ip")
def token():  # type: ignore[no-untyped-def]
    data = json_body()
    db = get_session()
    user = users.authenticate(db, str(data.get("username") or ""), str(data.get("password") or ""))
    if user is None:
        return json_error(401, "bad_credentials", "用户名或密码不正确。")
    now = utcnow()
    raw, row = users.issue_token(db, user, now, current_app.config["API_TOKEN_HOURS"])
    audit.record(db, user, now, "auth.token", "user", user.id)
    commit()
    return jsonify(
        token=raw,
        expires_at=row.expires_at.isoformat(),
        user={"username": user.username, "role": user.role, "points": user.point_codes()},
    )
