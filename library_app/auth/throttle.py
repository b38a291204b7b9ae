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


def address_attempt(scope: str, limits_key: str) -> int:
    """Another secret guessed from this address (e.g. a kiosk's enrol code, scope
    ``kiosk_enrol``; an invitation's link, ``invite``; limits in ``config[limits_key]``): 0 when
    it may be looked up (counted as a guess until ``address_known``), else the seconds to wait.
    Commits at once, so the count stays whatever the answer."""
    if not _enabled():
        return 0
    rules = login_throttle.address_rules_from_config(current_app.config, limits_key)
    wait = login_throttle.reserve_address(get_session(), scope, request.remote_addr or "", utcnow(), rules)
    commit_now("a guessed secret is counted before it is looked up")
    return wait


def address_known(scope: str, limits_key: str, *, commit: bool = False) -> None:
    """The guess was right: given back, in the caller's transaction, or at once with ``commit``
    (an invitation's link: what the request does next may roll back, the give-back stays)."""
    if not _enabled():
        return
    rules = login_throttle.address_rules_from_config(current_app.config, limits_key)
    login_throttle.give_back_address(get_session(), scope, request.remote_addr or "", utcnow(), rules)
    if commit:
        commit_now("a right guess is given back whatever the request does next")
