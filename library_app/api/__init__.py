"""The JSON API (/api/v1), the contract in shared/spec/api.md. One module per area."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import (  # noqa: E402,F401
    activities,
    auth,
    borrowers,
    catalog,
    circulation,
    invites,
    kiosk,
    lookup,
    offline,
    points,
    reports,
    stocktake,
)
