"""Invitations API (shared/spec/api.md "Community-run points").

- ``POST /invites`` ``{"role","points"}`` → 201 ``{"id","token","url","full_url","expires_at"}``
  (the token is shown this once; only its hash is kept).
- ``GET /invites`` → ``{"invites":[...]}``: every one for an admin or a librarian, a point
  lead's own and her points'.
- ``DELETE /invites/{id}`` → 204: revoked by id (the list never has the token to name it by).
- ``POST /invites/{token}/accept`` ``{"username","password","display_name"}``, no login → 201
  ``{"username","role","points"}``; unknown 404, used, expired or revoked 410, weak password
  422, name taken 409; unknown links from one address are throttled (429) like logins.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask_login import current_user

from library_app.access import public, roles
from library_app.auth import throttle
from library_app.db import get_session
from library_app.domain.accounts import wait_message
from library_app.domain.invites import STATE_NAMES
from library_app.domain.roles import INVITERS
from library_app.models import Invitation
from library_app.security import csrf_exempt
from library_app.services import invites as service
from library_app.web import current_settings, json_error, utcnow

from . import bp
from .util import json_body


def _iso(value):
    return value.isoformat() if value is not None else None


def join_url(token: str) -> tuple[str, str]:
    """The link's path (``/join/<token>``) and the full address a phone opens: on the public
    base URL when one is set (the QR is scanned by WeChat on another phone), else this host."""
    path = f"/join/{token}"
    base = (current_settings().public_base_url or request.host_url).rstrip("/")
    return path, base + path


def invite_json(i: Invitation, now) -> dict[str, Any]:
    state = i.state(now)
    return {"id": i.id, "role": i.role, "points": i.point_codes(), "state": state.value,
            "state_name": STATE_NAMES[state], "created_by": i.created_by.username,
            "created_at": _iso(i.created_at), "expires_at": _iso(i.expires_at), "used_at": _iso(i.used_at),
            "used_by": i.used_by.username if i.used_by else None, "revoked_at": _iso(i.revoked_at),
            "revoked_by": i.revoked_by.username if i.revoked_by else None}


@bp.post("/invites")
@roles(*INVITERS)
def create_invite():
    data = json_body()
    points = data.get("points") or []
    if not isinstance(points, list):
        points = [points]
    invitation, token = service.create_invitation(
        get_session(), current_user, utcnow(), role=data.get("role"), point_codes=points,
        hours=int(current_app.config.get("INVITE_HOURS", 72)))
    path, full = join_url(token)
    return jsonify(id=invitation.id, token=token, url=path, full_url=full, role=invitation.role,
                   points=invitation.point_codes(), expires_at=_iso(invitation.expires_at)), 201


@bp.get("/invites")
@roles(*INVITERS)
def list_invites():
    now = utcnow()
    return jsonify(invites=[invite_json(i, now) for i in service.list_invitations(get_session(), current_user)])


@bp.delete("/invites/<int:invite_id>")
@roles(*INVITERS)
def revoke_invite(invite_id: int):
    db = get_session()
    service.revoke_invitation(db, current_user, utcnow(), service.get_invitation(db, current_user, invite_id))
    return "", 204


@bp.post("/invites/<token>/accept")
@public
@csrf_exempt
def accept_invite(token: str):
    data = json_body()
    wait = throttle.address_attempt("invite", "INVITE_ADDRESS_LIMITS")
    if wait:
        response, status = json_error(429, "too_many_requests", wait_message(wait))
        response.headers["Retry-After"] = str(wait)
        return response, status
    db = get_session()
    if service.find_invitation(db, token) is not None:
        throttle.address_known("invite", "INVITE_ADDRESS_LIMITS", commit=True)
    user = service.accept_invitation(db, utcnow(), token, username=data.get("username"),
                                     password=data.get("password"), display_name=data.get("display_name"),
                                     ip=request.remote_addr or "")
    return jsonify(username=user.username, role=user.role, points=user.point_codes()), 201
