from __future__ import annotations

from flask import Blueprint

bp = Blueprint("circulation", __name__)
