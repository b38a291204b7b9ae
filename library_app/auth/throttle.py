"""The one login throttle of the page login and the token endpoint (``services.login_throttle``):
call ``attempt`` before checking a password and ``passed`` after a correct one."""

from __future__ import annotations

from flask import current_app, request

from library_app.db import commit_now, get_session
from library_app.services import login_throttle
from library_app.web import utcnow


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def attempt(username: str) -> int:
    """0 when this attempt may check its password (it is counted as a failure until ``passed``),
    else the seconds to wait. Commits at once (``db.commit_now``), so other requests and processes
    see the count, and it stays whatever the answer."""
    if not _enabled():
        return 0
    policy = login_throttle.policy_from_config(current_app.config)
    wait = login_throttle.reserve(get_session(), username, request.remote_addr or "", utcnow(), policy)
    commit_now("a login attempt is counted before its password is checked")
    return wait


def passed(username: str) -> None:
    """The password was right: the account's count starts again (the caller commits)."""
    if not _enabled():
        return
    policy = login_throttle.policy_from_config(current_app.config)
    login_throttle.succeeded(get_session(), username, request.remote_addr or "", utcnow(), policy)
