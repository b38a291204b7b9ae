from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from library_app.access import roles
from library_app.db import get_session
from library_app.domain.errors import RuleBroken
from library_app.models import User
from library_app.services import points as points_service
from library_app.services import users as users_service
from library_app.web import utcnow

from .forms import UserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@roles("admin")
def users():
    rows = get_session().scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("admin/users.html", users=rows)


def _form(user: User | None) -> UserForm:
    form = UserForm(obj=user)
    form.points.choices = [
        SelectChoice(p.code, f"{p.code} {p.name}") for p in points_service.list_points(get_session())
    ]
    return form


@bp.route("/users/new", methods=["GET", "POST"])
@roles("admin")
def new_user():
    form = _form(None)
    status = 200
    if form.validate_on_submit():
        try:
            users_service.create_user(
                get_session(), current_user, utcnow(), username=form.username.data or "",
                password=form.password.data or "", role=form.role.data or "",
                display_name=form.display_name.data or "", point_codes=form.points.data or [],
            )
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            flash("已创建用户。", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles("admin")
def edit_user(user_id: int):
    db = get_session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    form = _form(user)
    if not form.is_submitted():
        form.points.data = user.point_codes()
    form.username.data = user.username
    status = 200
    if form.validate_on_submit():
        try:
            users_service.update_user(
                db, current_user, utcnow(), user, display_name=form.display_name.data or "",
                role=form.role.data or "", active=bool(form.active.data),
                point_codes=form.points.data or [], password=form.password.data or "",
            )
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            if user.id == current_user.id and form.password.data:
                from library_app.auth.views import sign_in

                sign_in(db, user)  # her own sessions ended with the change; this one goes on
            flash("已保存。", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user), status
