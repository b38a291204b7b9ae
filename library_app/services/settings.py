"""Settings stored in the database (one row per key), with app config as the starting values.

``get_settings(session, config)`` is cheap enough for the hot path: one small SELECT.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
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


def get_settings(session: Session, config: dict[str, Any] | None = None) -> LibrarySettings:
    """Stored settings over the configured ones (config gives org name, time zone, base URL)."""
    stored = {row.key: row.value.get("v") for row in session.scalars(select(Setting))}
    return validated(from_config(config), stored) if stored else from_config(config)


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
