"""API routes for the reports area (see shared/spec/api.md)."""

from __future__ import annotations

from . import bp  # noqa: F401
