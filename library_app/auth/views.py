from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user

from library_app.access import ALL_ROLES, public, roles
from library_app.db import commit, get_session
from library_app.domain.errors import RuleBroken
from library_app.domain.settings import LibrarySettings, is_loopback_url, validated
from library_app.extensions import limiter
from library_app.services import audit, users
from library_app.services.settings import update_settings
from library_app.web import utcnow

from .forms import LoginForm, SetupForm

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None  # CR/LF would break the Location header (a 500), tabs are dropped by browsers
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _login_username() -> str:
    return (request.form.get("username") or "").strip().lower() or "-"


def _failed(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code in (200, 401)


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: _limits(), key_func=_login_username, methods=["POST"],
               deduct_when=_failed, per_method=True, scope="login-user")
@limiter.limit(lambda: _limits(), methods=["POST"], deduct_when=_failed, per_method=True,
               scope="login-ip")
def login():  # type: ignore[no-untyped-def]
    db = get_session()
    if users.count_users(db) == 0:
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(db, form.username.data or "", form.password.data or "")
        if user is not None:
            session.clear()  # a new session on login
            login_user(user)
            audit.record(db, user, utcnow(), "auth.login", "user", user.id, ip=request.remote_addr or "")
            commit()
            return redirect(safe_next(request.args.get("next")) or url_for("main.home"))
        flash(gettext("用户名或密码不正确。"), "error")
    return render_template("auth/login.html", form=form)


def _limits() -> str:
    from flask import current_app

    return current_app.config["LOGIN_LIMITS"]


@bp.post("/logout")
@roles(*ALL_ROLES)
def logout():  # type: ignore[no-untyped-def]
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():  # type: ignore[no-untyped-def]
    """First-run page: exists only while there are no users at all."""
    db = get_session()
    if users.count_users(db) > 0:
        abort(404)
    form = SetupForm()
    if request.method == "GET":
        # propose the address she used; not ticked when it is this computer's own address
        form.public_base_url.data = request.host_url.rstrip("/")
        form.use_public_url.data = not is_loopback_url(form.public_base_url.data)
    if form.validate_on_submit():
        base_url = _setup_public_url(form)
        if base_url is not None:
            now = utcnow()
            user = users.create_user(
                db, None, now, username=form.username.data or "", password=form.password.data or "",
                role="admin", display_name=form.display_name.data or "",
            )
            if base_url:
                update_settings(db, user, now, {"public_base_url": base_url}, current_app.config)
            commit()
            session.clear()
            login_user(user)
            flash("管理员账号已创建。", "success")
            return redirect(url_for("main.home"))
    return render_template("auth/setup.html", form=form, loopback=is_loopback_url(form.public_base_url.data or ""))


def _setup_public_url(form: SetupForm) -> str | None:
    """The public URL she confirmed ("" if she did not), or None with the field's error set."""
    if not form.use_public_url.data:
        return ""
    url = (form.public_base_url.data or "").strip().rstrip("/")
    try:
        return validated(LibrarySettings(), {"public_base_url": url}).public_base_url
    except RuleBroken as exc:
        form.public_base_url.errors = [*form.public_base_url.errors, exc.message]
        return None
