"""The settings read lean for the scan API's hot path."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain.settings import LibrarySettings, validated
from library_app.models import Setting

from .statements import _table

_SETTINGS = select(_table(Setting).c.key, _table(Setting).c.value)


def current_settings(session: Session, config: dict[str, Any] | None) -> LibrarySettings:
    """The settings as ``services.settings.get_settings`` gives them, read lean for the hot path:
    one prebuilt SELECT, and the validated result reused while the stored rows stay the same."""
    stored = tuple(sorted((k, json.dumps((v or {}).get("v"))) for k, v in session.connection().execute(_SETTINGS)))
    base = (config or {}).get("ORG_NAME"), (config or {}).get("TIMEZONE"), (config or {}).get("PUBLIC_BASE_URL"), \
        bool((config or {}).get("SHOW_SCHOOL_FIELDS", False))
    return _settings_for(stored, base)


@lru_cache(maxsize=32)
def _settings_for(stored: tuple[tuple[str, str], ...], base: tuple[Any, ...]) -> LibrarySettings:
    from library_app.services.settings import (
        from_config,  # the same starting values as get_settings
    )

    org_name, timezone, public_base_url, school = base
    start = from_config({"ORG_NAME": org_name, "TIMEZONE": timezone, "PUBLIC_BASE_URL": public_base_url,
                          "SHOW_SCHOOL_FIELDS": school})
    return validated(start, {k: json.loads(v) for k, v in stored}) if stored else start

