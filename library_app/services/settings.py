"""Settings stored in the database (one row per key), with app config as the starting values.

``get_settings(session, config)`` is the one way to read them, cheap enough for the scan API's
hot path: one prebuilt SELECT of the few rows, and the validated result reused for as long as the
rows and the config stay the same (``_settings_for``, a small per-process cache keyed by what was
read, so a change on the settings page takes effect on the next request of every process). A
request reads them once (``web.current_settings``).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from library_app.domain.settings import LibrarySettings, validated
from library_app.models import Setting, User

from . import audit


def from_config(config: dict[str, Any] | None) -> LibrarySettings:
    """The settings as configured (file and environment), before the settings page overrides them."""
    if not config:
        return LibrarySettings()
    return LibrarySettings(
        org_name=config.get("ORG_NAME") or LibrarySettings.org_name,
        timezone=config.get("TIMEZONE") or LibrarySettings.timezone,
        public_base_url=config.get("PUBLIC_BASE_URL") or "",
        show_school_fields=bool(config.get("SHOW_SCHOOL_FIELDS", False)),
    )


_table = cast(Table, Setting.__table__)
_SETTINGS = select(_table.c.key, _table.c.value)


def get_settings(session: Session, config: dict[str, Any] | None = None) -> LibrarySettings:
    """Stored settings over the configured ones (config gives org name, time zone, base URL)."""
    stored = tuple(sorted((k, json.dumps((v or {}).get("v"))) for k, v in session.connection().execute(_SETTINGS)))
    c = config or {}
    base = (c.get("ORG_NAME"), c.get("TIMEZONE"), c.get("PUBLIC_BASE_URL"), bool(c.get("SHOW_SCHOOL_FIELDS", False)))
    return _settings_for(stored, base)


def settings_in(session: Session, config: dict[str, Any] | None = None) -> LibrarySettings:
    """``get_settings``, read once per ``session``: for the group writer, whose one transaction
    applies the writes of several requests (``circulation.txn``), so a group of loans reads the
    settings once, in the transaction that uses them."""
    cached = session.info.get("library_settings")
    if cached is None:
        cached = session.info["library_settings"] = get_settings(session, config)
    return cast(LibrarySettings, cached)


@lru_cache(maxsize=32)
def _settings_for(stored: tuple[tuple[str, str], ...], base: tuple[Any, ...]) -> LibrarySettings:
    """The validated settings for these stored rows (key, JSON value) over this config."""
    org_name, timezone, public_base_url, school = base
    start = from_config({"ORG_NAME": org_name, "TIMEZONE": timezone, "PUBLIC_BASE_URL": public_base_url,
                         "SHOW_SCHOOL_FIELDS": school})
    return validated(start, {k: json.loads(v) for k, v in stored}) if stored else start


def update_settings(
    session: Session, actor: User, now: datetime, changes: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> LibrarySettings:
    current = get_settings(session, config)
    new = validated(current, changes)
    for key, value in new.as_dict().items():
        if getattr(current, key) == value and key not in changes:
            continue
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value={"v": value}, updated_at=now))
        else:
            row.value = {"v": value}
            row.updated_at = now
    session.flush()
    if new.timezone != current.timezone:
        # visits are counted by each loan's local day, stored with the loan in the old zone
        from zoneinfo import ZoneInfo

        from .reports import recompute_lent_days

        recompute_lent_days(session, ZoneInfo(new.timezone))
    audit.record(session, actor, now, "settings.update", "settings", "", changes=changes)
    return new
