"""API routes for the offline scan screen (cache of codes for a story mother's points)."""

from __future__ import annotations

from . import bp  # noqa: F401
