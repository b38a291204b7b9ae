"""The installable scan screen: web app manifest and service worker (served from the root scope)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("offline", __name__)
