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
from library_app.db import commit_now, get_session
from library_app.domain.accounts import wait_message
from library_app.domain.errors import RuleBroken
from library_app.domain.settings import LibrarySettings, is_loopback_url, validated
from library_app.models import User
from library_app.services import audit, sessions, users
from library_app.services.errors import Invalid
from library_app.services.settings import update_settings
from library_app.web import utcnow

from . import throttle
from .forms import ChangePasswordForm, LoginForm, SetupForm

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


def sign_in(db, user) -> None:
    """A new session for this browser: a fresh cookie and a new server-side session row."""
    from flask import current_app

    from . import session_rule

    session.clear()
    raw = sessions.start(db, user.id, utcnow(), session_rule(current_app.config))
    login_user(user)
    session["_sid"] = raw


def too_many(wait: int, render):
    flash(wait_message(wait), "error")
    return render(), 429, {"Retry-After": str(wait)}


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    db = get_session()
    if users.count_users(db) == 0:
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        name = form.username.data or ""
        wait = throttle.attempt(name)
        if wait:
            return too_many(wait, lambda: render_template("auth/login.html", form=form))
        user = users.authenticate(db, name, form.password.data or "")
        if user is not None:
            throttle.passed(name)
            sign_in(db, user)
            audit.record(db, user, utcnow(), "auth.login", "user", user.id, ip=request.remote_addr or "")
            return redirect(safe_next(request.args.get("next")) or url_for("main.home"))
        flash(gettext("用户名或密码不正确。"), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@roles(*ALL_ROLES)
def logout():
    db, now = get_session(), utcnow()
    users.end_sessions(db, current_user.id, now)  # a copied cookie or token dies with it
    audit.record(db, current_user, now, "auth.logout", "user", current_user.id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles(*ALL_ROLES)
def change_password():
    """Every signed-in user changes her own password; the current one is asked first."""
    db = get_session()
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        wait = throttle.attempt(current_user.username)  # a wrong current password is a guess
        if wait:
            return too_many(wait, lambda: render_template("auth/change_password.html", form=form))
        user = db.get(User, current_user.id)
        assert user is not None  # she is signed in: her row exists
        try:
            users.change_own_password(db, user, utcnow(), current=form.current.data or "",
                                      new=form.password.data or "")
        except Invalid as exc:
            wrong_current = exc.details.get("field") == "current"
            if not wrong_current:  # she knew her password; only the new one is refused
                throttle.passed(current_user.username)
                commit_now("she knew her current password: the throttle's count starts again")
            field = form.current if wrong_current else form.password
            field.errors = [*field.errors, exc.message]
            status = 422
        else:
            throttle.passed(current_user.username)
            sign_in(db, user)
            flash("密码已修改。其他设备上的登录已退出。", "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form), status


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():
    """First-run page: exists only while there are no users at all."""
    db = get_session()
    if users.count_users(db) > 0:
        abort(404)
    form = SetupForm()
    if request.method == "GET":
        # propose the address she used; not ticked when it is this computer's own address
        form.public_base_url.data = request.host_url.rstrip("/")
        form.use_public_url.data = not is_loopback_url(form.public_base_url.data)
    status = 200
    if form.validate_on_submit():
        base_url = _setup_public_url(form)
        if base_url is not None:
            now = utcnow()
            try:
                user = users.create_user(
                    db, None, now, username=form.username.data or "",
                    password=form.password.data or "", role="admin",
                    display_name=form.display_name.data or "",
                )
            except Invalid as exc:
                form.password.errors = [*form.password.errors, exc.message]
                status = 422
            else:
                if base_url:
                    update_settings(db, user, now, {"public_base_url": base_url}, current_app.config)
                sign_in(db, user)
                flash("管理员账号已创建。", "success")
                return redirect(url_for("main.home"))
    return render_template("auth/setup.html", form=form,
                           loopback=is_loopback_url(form.public_base_url.data or "")), status


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
