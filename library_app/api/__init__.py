"""The JSON API (/api/v1), the contract in shared/spec/api.md. One module per area."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import activities, auth, borrowers, catalog, circulation, lookup, offline, points, reports  # noqa: E402,F401
