from __future__ import annotations

from flask import Blueprint

bp = Blueprint("borrowers", __name__)
