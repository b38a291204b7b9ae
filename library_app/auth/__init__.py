"""Sign-in: browser sessions (Flask-Login) and bearer tokens for the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, request

from library_app import request_state
from library_app.domain.accounts import SessionRule, needs_touch
from library_app.extensions import login_manager


def session_rule(config: Any) -> SessionRule:
    return SessionRule(idle=timedelta(minutes=int(config["SESSION_IDLE_MINUTES"])),
                       absolute=timedelta(hours=float(config["SESSION_MAX_HOURS"])))


def _touch(row_id: int, now: datetime) -> None:
    """Move the session's last-seen time on: in the request's own transaction when it writes
    (a second writer beside it would wait on SQLite's lock), else in a short one of its own."""
    from sqlalchemy.exc import OperationalError

    from library_app.db import get_engine, get_session, writer, writes_in_request
    from library_app.services import sessions

    if writes_in_request():
        sessions.touch(get_session().connection(), row_id, now)
        return
    try:
        with writer(get_engine()).begin() as conn:
            sessions.touch(conn, row_id, now)
    except OperationalError:  # busy or read-only: this request is still signed in
        current_app.logger.warning("could not record the session's last activity", exc_info=True)


def _load_kiosk(token: str) -> Any:
    """A self-service kiosk's token: a kiosk principal (not a user), which the access hook
    admits only on the routes marked for kiosks (access.kiosk_route). The principal is one
    plain row whatever the view, read on a connection of its own (``db.read_alone``)."""
    from library_app.db import read_alone
    from library_app.services import kiosk
    from library_app.web import utcnow

    now = utcnow()
    with read_alone() as conn:
        found = kiosk.principal_for_token(conn, token, now)
    if found is None:
        return None
    principal, due = found
    if due:
        _touch_with(lambda conn: kiosk.touch(conn, principal.kiosk_id, now))
    request_state.current().bearer_client = True  # no CSRF (security.csrf_check)
    return principal


def _touch_with(write: Any) -> None:
    """A small bookkeeping write: in the request's transaction when it writes, else in a short
    one of its own (failing quietly: the request itself is still allowed)."""
    from sqlalchemy.exc import OperationalError

    from library_app.db import get_engine, get_session, writer, writes_in_request

    if writes_in_request():
        write(get_session().connection())
        return
    try:
        with writer(get_engine()).begin() as conn:
            write(conn)
    except OperationalError:
        current_app.logger.warning("could not record the kiosk's last activity", exc_info=True)


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_bearer)
    login_manager.unauthorized_handler(unauthorized)


def load_user(user_id: str) -> Any:
    """Flask-Login's user loader: signed in only while the server-side session named in the cookie is alive."""
    from flask import session

    from library_app.db import get_session, read_alone
    from library_app.services import sessions
    from library_app.web import utcnow

    raw = session.get("_sid")
    if not user_id.isdigit() or not isinstance(raw, str):
        return None
    now, rule = utcnow(), session_rule(current_app.config)
    found: tuple[Any, int, datetime] | None
    if request_state.current().lean_actor:  # the scan hot path: one prebuilt SELECT, no ORM object
        with read_alone() as conn:
            found = sessions.live_actor(conn, int(user_id), raw, now, rule)
    else:
        found = sessions.live_user(get_session(), int(user_id), raw, now, rule)
    if found is None:
        return None
    user, row_id, last_seen = found
    if needs_touch(last_seen, now, rule):
        _touch(row_id, now)
    return user


def load_bearer(req: Any) -> Any:
    """Flask-Login's request loader: the user (or kiosk) of an ``Authorization: Bearer`` token
    that is live, else None."""
    header = req.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    from library_app.db import get_session, read_alone
    from library_app.domain.kiosk import TOKEN_PREFIX

    if header[7:].strip().startswith(TOKEN_PREFIX):
        return _load_kiosk(header[7:].strip())
    from library_app.services.users import Actor, User, actor_for_token, user_for_token
    from library_app.web import utcnow

    user: User | Actor | None
    if request_state.current().lean_actor:
        with read_alone() as conn:
            user = actor_for_token(conn, header[7:].strip(), utcnow())
    else:
        user = user_for_token(get_session(), header[7:].strip(), utcnow())
    if user is not None:
        request_state.current().bearer_client = True
    return user


def unauthorized() -> Any:
    """Not signed in: 401 for the API, else the login page (and back here after)."""
    from flask import abort, flash, redirect, url_for

    from library_app.access import is_api_request

    if is_api_request():
        abort(401)
    flash("请先登录。", "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
