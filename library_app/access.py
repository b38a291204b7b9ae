"""Who may use each route. Every view declares it; one hook enforces it on the server.

    @bp.get("/titles")
    @roles("admin", "librarian")
    def titles(): ...

    @public   # login page, health check, static files

An endpoint that declares nothing is refused for everyone (and a test walks the URL map
so that this never ships). Anonymous users get a redirect to the login page (pages) or
401 (API); a signed-in role not listed gets 403, and the refusal is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, request
from flask_login import current_user

from library_app import request_state
from library_app.domain.roles import ALL_ROLES, CIRCULATION, LIBRARIANS, REPORT_READERS, STAFF

# the role groups are re-exported for the routes' declarations (``@roles(*STAFF)``)
__all__ = ["ALL_ROLES", "CIRCULATION", "LIBRARIANS", "REPORT_READERS", "STAFF", "allowed_roles", "enforce_access",
           "init_app", "is_api_request", "is_kiosk_route", "is_public", "kiosk_route", "lean_actor",
           "personal_data", "public", "roles", "writes"]

F = TypeVar("F", bound=Callable[..., Any])
KIOSK_ROLE = "kiosk"  # a self-service kiosk's token (not a user): only @kiosk_route routes


def roles(*allowed: str) -> Callable[[F], F]:
    unknown = set(allowed) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def mark(view: F) -> F:
        view._allowed_roles = frozenset(allowed)  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    view._public = True  # type: ignore[attr-defined]
    return view


# What a view declares about its request, copied into ``request_state.RequestState`` by the
# access hook (``_declare``) before anything reads the database: which session ``db.get_session``
# gives it, how the signed-in user is loaded, how the answer may be cached.

def writes(view: F) -> F:
    """A GET view that writes (e.g. records who viewed a child's data): take the write lock."""
    view._writes = True  # type: ignore[attr-defined]
    return view


def lean_actor(view: F) -> F:
    """A busy view that needs only the signed-in user's id, name and role: the user is read as
    one plain row (``services.users.Actor``), not as an ORM object with its relations, on a
    connection of its own (``db.read_alone``) instead of the request's session."""
    view._lean_actor = True  # type: ignore[attr-defined]
    return view


def personal_data(view: F) -> F:
    """The answer shows a child's data: ``Cache-Control: no-store`` (security.headers)."""
    view._personal_data = True  # type: ignore[attr-defined]
    return view


def _declare(view: Callable[..., Any]) -> None:
    state = request_state.current()
    state.writes = bool(getattr(view, "_writes", False))
    state.lean_actor = bool(getattr(view, "_lean_actor", False))
    state.personal_data = bool(getattr(view, "_personal_data", False))


def kiosk_route(view: F) -> F:
    """A route a self-service kiosk's token may use (its own endpoints only). Every other
    route refuses a kiosk, public ones included; user roles still come from ``@roles``."""
    view._kiosk = True  # type: ignore[attr-defined]
    if not hasattr(view, "_allowed_roles"):  # kiosk-only: no user role (an outer @roles adds some)
        view._allowed_roles = frozenset()  # type: ignore[attr-defined]
    return view


def is_kiosk_route(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, "_kiosk", False))


def _refuse_kiosk(view: Callable[..., Any]) -> None:
    """A kiosk principal (role ``kiosk``, see services.kiosk) outside its own routes: 403."""
    if is_kiosk_route(view):
        return
    current_app.logger.warning("403 %s %s kiosk=%s", request.method, request.path,
                               current_user.username)
    abort(403)


def allowed_roles(view: Callable[..., Any]) -> frozenset[str] | None:
    return getattr(view, "_allowed_roles", None)


def is_public(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, "_public", False))


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def enforce_access() -> None:
    """before_request hook: the single place where route access is decided."""
    if request.endpoint is None:
        return  # 404/405 handled by Flask
    view = current_app.view_functions.get(request.endpoint)
    if view is None:
        return
    _declare(view)
    if request.endpoint == "static":
        return
    if is_public(view):
        if request.authorization is not None and getattr(current_user, "role", None) == KIOSK_ROLE:
            _refuse_kiosk(view)
        return
    allowed = allowed_roles(view)
    if not current_user.is_authenticated:
        if is_api_request():
            abort(401)
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if current_user.role == KIOSK_ROLE:
        _refuse_kiosk(view)
        return None
    if allowed is None or current_user.role not in allowed:
        current_app.logger.warning(
            "403 %s %s user=%s role=%s", request.method, request.path,
            current_user.username, current_user.role,
        )
        abort(403)
    return None


def init_app(app: Flask) -> None:
    app.before_request(enforce_access)
