"""API routes for the offline scan screen: the phone's cache of codes, and a fresh CSRF token.

- ``GET /api/v1/circulation/offline-cache?point=P01`` (repeatable or comma-separated; none: all
  of a story mother's points, or every active point for staff) → codes, titles, masked names.
- ``GET /api/v1/circulation/offline-session`` → who is signed in and a CSRF token for this
  session: a page loaded from the phone's cache may hold a token from an older session.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from library_app.access import CIRCULATION, personal_data, roles
from library_app.db import get_session
from library_app.services.offline_cache import offline_snapshot
from library_app.web import utcnow

from . import bp


def _requested_points() -> list[str]:
    return [code for value in request.args.getlist("point") for code in value.split(",")]


@bp.get("/circulation/offline-cache")
@roles(*CIRCULATION)
@personal_data  # masked names still stay out of shared caches
def offline_cache():
    snapshot = offline_snapshot(
        get_session(), current_user, utcnow(), _requested_points(), current_app.config
    )
    return jsonify(snapshot)


@bp.get("/circulation/offline-session")
@roles(*CIRCULATION)
@personal_data
def offline_session():
    return jsonify(
        user={"username": current_user.username, "role": current_user.role,
              "points": current_user.point_codes()},
        csrf_token=generate_csrf(),
    )
