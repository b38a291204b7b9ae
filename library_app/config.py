"""Configuration: defaults → instance/config.py → LIBRARY_* environment → test overrides."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "ORG_NAME": "故事会点借阅",
    "TIMEZONE": "Asia/Shanghai",
    "PUBLIC_BASE_URL": "",
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "LANGUAGES": ["zh_CN", "en"],
    "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_CHECK_DEFAULT": False,  # checked in a before_request hook, bearer tokens exempt
    "WTF_CSRF_TIME_LIMIT": None,
    "API_TOKEN_HOURS": 24 * 30,
    # Login throttling (domain/accounts.py), counted in the database. Per account: free failures,
    # then these waits in seconds (the last repeats), forgotten after the minutes given.
    "LOGIN_ACCOUNT_FREE_FAILURES": 5,
    "LOGIN_ACCOUNT_DELAYS": (15, 30, 60),
    "LOGIN_ACCOUNT_FORGET_MINUTES": 15,
    # Per address: (failures, per seconds) windows, loose enough for a shared Wi-Fi or carrier.
    "LOGIN_ADDRESS_LIMITS": ((60, 60), (600, 3600)),
    "RATELIMIT_ENABLED": True,  # False turns login throttling off (benchmarks)
    # Invitations (邀请): a link lives this many hours; per address, (unknown links, per seconds)
    # windows before opening or accepting links waits (tokens are 256 bits: this only makes
    # scanning for them expensive).
    "INVITE_HOURS": 72,
    "INVITE_ADDRESS_LIMITS": ((20, 60), (100, 3600)),
    # Self-service kiosks: per address, (wrong enrol codes, per seconds) before enrolling waits
    # (a librarian mistyping a code a few times still gets in).
    "KIOSK_ENROL_ADDRESS_LIMITS": ((5, 600), (20, 86400)),
    # Browser sessions, held on the server: signed out after this long without a request, and
    # after this long in all, whatever happens.
    "SESSION_IDLE_MINUTES": 180,
    "SESSION_MAX_HOURS": 12,
    "CJK_FONT_PATH": "",
    "SHOW_SCHOOL_FIELDS": False,
    # Behind a reverse proxy (nginx, Caddy): how many proxies to trust for X-Forwarded-For/-Proto/
    # -Host/-Prefix. 0 = none (the app is reached directly).
    "TRUST_PROXY": 0,
    "LOGO_MAX_BYTES": 1024 * 1024,
    # ISBN lookup (套录): sources when the settings page has none (a JSON list), and the seconds
    # the whole lookup may take
    "LOOKUP_SOURCES": "",
    "LOOKUP_TIMEOUT": 6,
}

# Environment variables read as LIBRARY_<NAME> (or the bare name for SECRET_KEY).
ENV_KEYS = [
    "DATABASE_URL",
    "PUBLIC_BASE_URL",
    "TIMEZONE",
    "ORG_NAME",
    "CJK_FONT_PATH",
    "SECRET_KEY",
    "SESSION_COOKIE_SECURE",
    "TRUST_PROXY",
    "LOOKUP_SOURCES",
    "LOOKUP_TIMEOUT",
    "INVITE_HOURS",
]


def load_config(app: Any, test_config: dict[str, Any] | None = None) -> None:
    app.config.from_mapping(DEFAULTS)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config["DATABASE_URL"] = "sqlite:///" + str(instance / "library.sqlite3")
    app.config.from_pyfile("config.py", silent=True)
    for key in ENV_KEYS:
        value = os.environ.get("LIBRARY_" + key)
        if value is None and key == "SECRET_KEY":
            value = os.environ.get("SECRET_KEY")
        if value is not None:
            if key == "SESSION_COOKIE_SECURE":
                app.config[key] = value.lower() in {"1", "true", "yes"}
            else:
                app.config[key] = value
    if test_config:
        app.config.update(test_config)
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)


def _instance_secret(instance: Path) -> str:
    """A random secret kept in instance/secret_key; never a built-in default."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    try:
        path.chmod(0o600)
    except OSError:  # pragma: no cover - Windows
        pass
    return key
