"""Cataloguing from an ISBN: ``GET /api/v1/lookup/isbn/{isbn}`` (staff), see shared/spec/api.md."""

from __future__ import annotations

from flask import current_app, jsonify
from flask_login import current_user

from library_app.access import LIBRARIANS, roles
from library_app.db import get_session
from library_app.services import lookup as service
from library_app.web import utcnow

from . import bp


@bp.get("/lookup/isbn/<path:isbn>")
@roles(*LIBRARIANS)
def lookup_isbn(isbn: str):
    db = get_session()
    result = service.lookup_isbn(
        db, current_user, utcnow(), isbn, service.configured_sources(db, current_app.config),
        timeout=service.configured_timeout(current_app.config),
    )
    return jsonify(result.as_json())
