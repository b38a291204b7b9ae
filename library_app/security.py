"""CSRF for browser requests, security headers, and no-store on personal-data pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Response
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from . import request_state
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
    if request_state.current().bearer_client:
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
    if request_state.current().personal_data or (
        response.mimetype == "text/html" and request.endpoint not in (None, "static")
    ):
        # Pages may show children's data; keep them out of shared caches and the back/forward cache.
        response.headers["Cache-Control"] = "no-store"
    return response


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (directly or through a
    trusted proxy), or always if SESSION_COOKIE_SECURE is set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and request.is_secure


def proxy_hops(value: object) -> int:
    text = str(value or "0").strip().lower()
    if text in ("true", "yes", "on"):
        return 1
    if text in ("false", "no", "off", ""):
        return 0
    return max(0, int(text))


def init_app(app: Flask) -> None:
    hops = proxy_hops(app.config.get("TRUST_PROXY"))
    if hops:
        # Behind nginx/Caddy: the client's address (login throttling), https (Secure cookies,
        # HSTS, external URLs) and host come from the proxy's X-Forwarded-* headers.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )
    app.session_interface = SessionInterface()
    app.after_request(headers)
    # CSRF runs after the access check (registered later in the chain by create_app order).
    app.before_request(csrf_check)
