from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from library_app.access import ALL_ROLES, public, roles
from library_app.db import can_write, get_session, ping
from library_app.domain.codes import parse_code
from library_app.domain.errors import InvalidCode
from library_app.services import users
from library_app.web import utcnow

from .home import home_context

bp = Blueprint("main", __name__)


@bp.get("/")
@public
def index():
    if not current_user.is_authenticated:
        if users.count_users(get_session()) == 0:
            return redirect(url_for("auth.setup"))
        return redirect(url_for("auth.login"))
    return redirect(url_for("main.home"))


@bp.get("/home")
@roles(*ALL_ROLES)
def home():
    return render_template("main/home.html", **home_context(current_user))


@bp.get("/healthz")
@public
def healthz():
    if not ping():
        return jsonify(status="error", database="error", write="error"), 503
    if not can_write(utcnow()):
        # Reads work but writes fail (a full disk): loans would be lost, so not "ok".
        return jsonify(status="error", database="ok", write="error"), 503
    return jsonify(status="ok", database="ok", write="ok")


@bp.get("/s/<path:code>")
@roles(*ALL_ROLES)
def scanned(code: str):
    """Where a label's or card's QR URL lands: the copy's or the card's page."""
    try:
        parsed = parse_code(code)
    except InvalidCode as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    endpoint = "catalog.copy_page" if parsed.kind == "copy" else "borrowers.card_page"
    from flask import current_app

    if endpoint not in current_app.view_functions:
        abort(404)
    return redirect(url_for(endpoint, code=parsed.code))


@bp.post("/lang/<lang>")
@public
def set_language(lang: str):
    from library_app.auth.views import safe_next

    if lang not in ("zh_CN", "en"):
        abort(404)
    response = redirect(safe_next(request.form.get("next")) or url_for("main.index"))
    # Flagged like the session cookie: Secure over HTTPS (or when SESSION_COOKIE_SECURE is set).
    from flask import current_app

    response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=current_app.session_interface.get_cookie_secure(current_app))
    return response
