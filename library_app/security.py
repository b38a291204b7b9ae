"""CSRF for browser requests, security headers, and no-store on personal-data pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask.wrappers import Response
from flask_login import current_user

from .extensions import csrf

F = TypeVar("F", bound=Callable[..., Any])

CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; "
    "worker-src 'self' blob:; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def csrf_exempt(view: F) -> F:
    """For JSON endpoints used before any session exists (token login)."""
    view._csrf_exempt = True  # type: ignore[attr-defined]
    return view


def csrf_check() -> None:
    # Bearer-token API clients are not exposed to CSRF; browser sessions always are.
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "_csrf_exempt", False):
        return
    _ = current_user.is_authenticated  # loads a bearer user, if any
    if g.get("bearer_user_id"):
        return
    csrf.protect()


def headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if g.get("personal_data") or (
        response.mimetype == "text/html" and request.endpoint not in (None, "static")
    ):
        # Pages may show children's data; keep them out of shared caches and the back/forward cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(headers)
    # CSRF runs after the access check (registered later in the chain by create_app order).
    app.before_request(csrf_check)
